"""Adapters loaded and unloaded at run time through the admin endpoints (vLLM's /v1/load_lora_adapter shape),
on the package's real Serve app: served, listed with their card, refused with a 400 naming why when they do not
fit, reloaded with new weights when retrained to the same URI, and no other stream disturbed meanwhile."""

import json
import shutil
import threading

import httpx
import pytest

from tests.serve.conftest import ADMIN_KEY, API_KEY

QUESTION = [{"role": "user", "content": "How do I replace the seal of the VX-220?"}]
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def load(app, name: str, path: str, headers=ADMIN) -> httpx.Response:
    return httpx.post(f"{app.url}/v1/load_lora_adapter", json={"lora_name": name, "lora_path": path},
                      headers=headers, timeout=60)


def unload(app, name: str, headers=ADMIN) -> httpx.Response:
    return httpx.post(f"{app.url}/v1/unload_lora_adapter", json={"lora_name": name}, headers=headers, timeout=60)


def greedy(app, model: str, tokens: int = 24) -> httpx.Response:
    return app.post({"model": model, "messages": QUESTION, "max_tokens": tokens, "temperature": 0})


def answer(app, model: str, tokens: int = 24) -> str:
    response = greedy(app, model, tokens)
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["message"]["content"]


def write_card(folder, base_name: str) -> None:
    card = {"base_model": {"name": base_name, "name_or_path": "x", "revision": None},
            "data": {"files": [{"path": "train.jsonl", "sha256": "ab" * 32}]}}
    (folder / "adapter_card.json").write_text(json.dumps(card))


def test_the_admin_endpoints_need_the_admin_key_and_are_off_without_one(serve_app, edge_app, adapter_dirs):
    client_key = {"Authorization": f"Bearer {API_KEY}"}
    for headers in ({}, client_key):  # a client's key is not the admin's
        assert load(serve_app, "x", adapter_dirs["pumps"], headers).status_code == 401
        assert unload(serve_app, "x", headers).status_code == 401
    off = load(edge_app, "x", adapter_dirs["pumps"])
    assert off.status_code == 403 and "admin_key" in off.json()["error"]["message"]


def test_an_adapter_loaded_at_run_time_is_served_listed_reloaded_when_retrained_and_unloaded(
        serve_app, adapter_dirs, tmp_path, tiny_model_cfg):
    expected = {name: answer(serve_app, name) for name in ("pumps", "safety")}
    folder = tmp_path / "bucket" / "expert"
    shutil.copytree(adapter_dirs["pumps"], folder)
    write_card(folder, tiny_model_cfg.name)
    uri = f"file://{folder}"  # an object-store URI: fetched into the content-keyed cache

    loaded = load(serve_app, "expert", uri)
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["loaded"] is True and loaded.json()["base_model"] == tiny_model_cfg.name
    assert answer(serve_app, "expert") == expected["pumps"]
    card = httpx.get(f"{serve_app.url}/v1/models/expert", headers=serve_app.headers).json()
    assert card["root"] == uri and card["loaded_at_runtime"] is True and card["parent"] == "phi3"
    assert card["base_model"] == tiny_model_cfg.name and len(card["data_sha256"]) == 64
    listed = httpx.get(f"{serve_app.url}/v1/models", headers=serve_app.headers).json()["data"]
    assert "expert" in [m["id"] for m in listed]

    shutil.rmtree(folder)  # retrained: other weights written over the same URI
    shutil.copytree(adapter_dirs["safety"], folder)
    assert load(serve_app, "expert", uri).status_code == 200
    assert answer(serve_app, "expert") == expected["safety"]

    assert unload(serve_app, "expert").status_code == 200
    gone = greedy(serve_app, "expert")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "model_not_found"
    assert "expert" not in httpx.get(f"{serve_app.url}/health").json()["models"]
    assert unload(serve_app, "expert").status_code == 404
    assert answer(serve_app, "pumps") == expected["pumps"]  # the configured adapters are untouched


def test_adapters_that_cannot_be_served_are_refused_with_a_400_naming_why(serve_app, adapter_dirs, tmp_path):
    other = tmp_path / "other-base"
    shutil.copytree(adapter_dirs["pumps"], other)
    write_card(other, "phi3-mini-128k")
    refused = load(serve_app, "other", str(other))
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "lora_path"
    assert "trained on phi3-mini-128k" in refused.json()["error"]["message"]

    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no adapter_config.json" in load(serve_app, "empty", str(empty)).json()["error"]["message"]
    assert load(serve_app, "nowhere", "nosuchscheme://bucket/adapter").status_code == 400
    assert "configured in serve.yaml" in load(serve_app, "pumps", adapter_dirs["safety"]).json()["error"]["message"]
    assert load(serve_app, "phi3", adapter_dirs["safety"]).status_code == 400  # the base's name
    assert load(serve_app, "bad name", adapter_dirs["safety"]).status_code == 400
    for name in ("other", "empty", "nowhere"):
        assert greedy(serve_app, name).status_code == 404  # nothing half-loaded is served


def test_loading_and_unloading_while_other_adapters_stream_disturbs_none_of_them(serve_app, adapter_dirs, tmp_path):
    quiet = {name: answer(serve_app, name, tokens=32) for name in ("pumps", "safety", "phi3")}
    folder = tmp_path / "extra"
    shutil.copytree(adapter_dirs["safety"], folder)
    texts: dict[int, str] = {}
    started = threading.Barrier(7)

    def stream(i: int, model: str) -> None:
        body = {"model": model, "messages": QUESTION, "max_tokens": 32, "temperature": 0, "stream": True}
        pieces = []
        with httpx.stream("POST", f"{serve_app.url}/v1/chat/completions", json=body, headers=serve_app.headers,
                          timeout=120) as response:
            started.wait(timeout=60)
            for line in response.iter_lines():
                if line.startswith("data: {"):
                    delta = json.loads(line[6:])["choices"]
                    pieces.append(delta[0]["delta"].get("content") or "" if delta else "")
        texts[i] = "".join(pieces)

    models = ["pumps", "safety", "phi3", "pumps", "safety", "phi3"]
    threads = [threading.Thread(target=stream, args=(i, m)) for i, m in enumerate(models)]
    for t in threads:
        t.start()
    started.wait(timeout=60)  # every stream has its first bytes: they are running
    assert load(serve_app, "extra", str(folder)).status_code == 200
    assert answer(serve_app, "extra", tokens=8)
    assert unload(serve_app, "extra").status_code == 200
    for t in threads:
        t.join(timeout=120)
    assert {i: texts.get(i) for i in range(6)} == {i: quiet[m] for i, m in enumerate(models)}


@pytest.mark.fast
def test_the_load_request_is_checked_before_anything_is_fetched():
    from pydantic import ValidationError

    from phi3ray.serve.openai_schema import LoadLoraAdapter

    with pytest.raises(ValidationError):
        LoadLoraAdapter(lora_name="x", lora_path="/a", extra=1)
    with pytest.raises(ValidationError):
        LoadLoraAdapter(lora_name="", lora_path="/a")


def test_a_replica_that_did_not_take_the_load_learns_the_adapter_from_the_catalog(serve_app, adapter_dirs, tmp_path):
    """What every other Generator replica does: an adapter it never saw, written to the catalog by another
    replica's load, is fetched and prepared off its decode loop on its first request; its unload reaches it too."""
    import time

    from ray import serve

    from phi3ray.serve.catalog import RuntimeAdapter
    from phi3ray.storage import content_key

    expected = answer(serve_app, "safety")
    folder = tmp_path / "elsewhere"
    shutil.copytree(adapter_dirs["safety"], folder)
    catalog = serve.get_deployment_handle("AdapterCatalog", app_name=serve_app.name)
    catalog.put.remote("learned", RuntimeAdapter(str(folder), content_key(str(folder)), {})).result()
    assert answer(serve_app, "learned") == expected
    stats = serve_app.generator().stats.remote().result()
    assert "learned" in stats["loaded_adapters"]
    catalog.remove.remote("learned").result()
    deadline = time.time() + 10  # replicas read the catalog at most once a second
    while greedy(serve_app, "learned").status_code == 200 and time.time() < deadline:
        time.sleep(0.5)
    assert greedy(serve_app, "learned").status_code == 404
