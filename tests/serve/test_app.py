"""The whole app on loopback, spoken to with the stock openai client: models, chat, adapters, streams, config."""

import re

import httpx
import pytest

from phi3ray.serve.app import AppArgs, deployment_options, load_serve_config
from tests.serve.conftest import ADAPTERS

QUESTION = [{"role": "user", "content": "How do I replace the mechanical seal of the VX-220?"}]


def ask(app, model: str, **kwargs):
    return app.openai().chat.completions.create(model=model, messages=QUESTION, max_tokens=24, temperature=0, **kwargs)


def test_model_list_has_the_base_and_every_adapter(serve_app):
    models = serve_app.openai().models.list()
    assert [m.id for m in models.data] == ["phi3", *ADAPTERS]
    assert all(m.model_extra["parent"] == "phi3" for m in models.data[1:])
    assert serve_app.openai().models.retrieve("pumps").id == "pumps"


def test_chat_with_the_openai_client(serve_app):
    answer = ask(serve_app, "phi3")
    assert answer.object == "chat.completion" and answer.model == "phi3"
    choice = answer.choices[0]
    assert choice.message.role == "assistant" and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    assert "<|end|>" not in choice.message.content
    assert answer.usage.prompt_tokens > 5 and 0 < answer.usage.completion_tokens <= 24
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens
    # the tiny model's own name picks the base too, and greedy answers repeat
    assert ask(serve_app, "tiny-phi3").choices[0].message.content == choice.message.content


def test_each_adapter_answers_with_its_own_weights(serve_app):
    texts = {m: ask(serve_app, m).choices[0].message.content for m in ("phi3", *ADAPTERS)}
    assert len(set(texts.values())) == 3, texts


def test_stream_uses_the_requested_adapter(serve_app):
    client = serve_app.openai()
    for model in ADAPTERS:
        chunks = list(
            client.chat.completions.create(
                model=model,
                messages=QUESTION,
                max_tokens=24,
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 1  # really streamed
        assert chunks[0].choices[0].delta.role == "assistant"
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")
        assert chunks[-1].usage.completion_tokens > 0 and not chunks[-1].choices
        assert streamed == ask(serve_app, model).choices[0].message.content  # same adapter, same greedy answer
        assert streamed != ask(serve_app, "phi3").choices[0].message.content  # ... and not the base's


def test_stream_is_server_sent_events_ending_in_done(serve_app):
    body = {"model": "safety", "messages": QUESTION, "max_tokens": 8, "stream": True}
    with httpx.stream("POST", f"{serve_app.url}/v1/chat/completions", json=body, headers=serve_app.headers) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        assert len(r.headers["x-phi3ray-replica"]) >= 8  # the Generator replica that answered
        events = [line for line in r.iter_lines() if line]
    assert all(line.startswith("data: ") for line in events)
    assert events[-1] == "data: [DONE]" and len(events) >= 4


def test_health_needs_no_key_and_reports_weaviate(serve_app):
    health = httpx.get(f"{serve_app.url}/health", timeout=30).json()
    assert health == {"status": "ok", "models": ["phi3", *ADAPTERS], "retriever": "ok"}


def test_build_app_args_compose_conf_serve_with_overrides(monkeypatch):
    monkeypatch.setenv("PHI3RAY_SERVE_OVERRIDES", "max_batch_size=16")
    args = AppArgs.model_validate({"overrides": "model=tiny +adapters.pumps=/x deployments.generator.autoscaling=true"})
    cfg = load_serve_config(args.overrides)
    assert cfg.model.name == "tiny-phi3" and cfg.adapters == {"pumps": "/x"} and cfg.max_batch_size == 16
    assert deployment_options(cfg.deployments.generator) == {
        "ray_actor_options": {"num_cpus": 1.0, "num_gpus": 0.0},
        "max_ongoing_requests": 64,
        "autoscaling_config": {"min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 8.0},
    }
    assert deployment_options(cfg.deployments.retriever)["num_replicas"] == 1


def test_replicas_can_be_pinned_by_custom_resources_and_spread_one_per_node():
    cfg = load_serve_config(["model=tiny", "deployments.generator.num_replicas=2",
                             "deployments.generator.max_replicas_per_node=1", "+deployments.generator.resources={gpu_node: 1}"])
    options = deployment_options(cfg.deployments.generator)
    assert options["ray_actor_options"]["resources"] == {"gpu_node": 1.0}
    assert options["max_replicas_per_node"] == 1 and options["num_replicas"] == 2
    assert "resources" not in deployment_options(cfg.deployments.ingress)["ray_actor_options"]


@pytest.mark.parametrize(
    "override, key",
    [
        ("+adapters.phi3=/x", "adapters.phi3"),
        ("max_running_requests=128", "deployments.generator.max_ongoing_requests"),
        ("engine=static,max_batch_size=128", "deployments.generator.max_ongoing_requests"),
        ("engine=dynamic", "engine"),
        ("quantize=8bit", "quantize"),
        ("+deployments.generator.resources={GPU: 1}", "deployments.*.resources.GPU"),
        ("deployments.generator.max_replicas_per_node=-1", "deployments.*.max_replicas_per_node"),
    ],
)
def test_bad_serve_settings_fail_at_build_time_naming_the_key(override, key):
    from phi3ray.errors import ConfigValueError

    with pytest.raises(ConfigValueError, match=re.escape(key)):
        load_serve_config(["model=tiny", *override.split(",")])


def test_the_generators_metrics_reach_rays_prometheus_endpoint(serve_app):
    """What a Prometheus server scrapes: the node's metrics export port, with the phi3ray_* series and tags."""
    import time

    import httpx
    import ray

    assert ask(serve_app, "pumps").choices[0].message.content is not None
    port = ray._private.worker.global_worker.node.metrics_export_port
    deadline, text = time.time() + 60, ""
    while time.time() < deadline:  # Ray flushes its metrics every few seconds
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        if 'phi3ray_generated_tokens' in text and 'adapter="pumps"' in text:
            break
        time.sleep(2)
    series = [line for line in text.splitlines() if line.startswith("ray_phi3ray_") or line.startswith("phi3ray_")]
    names = {line.split("{")[0].split(" ")[0] for line in series}
    assert any(n.endswith("phi3ray_generated_tokens_total") or n.endswith("phi3ray_generated_tokens") for n in names), \
        sorted(names)[:20]
    assert any("phi3ray_time_to_first_token_s" in n for n in names) and any("phi3ray_running_rows" in n for n in names)
