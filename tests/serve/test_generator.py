"""Generator deployment: concurrent requests for different adapters share decode steps (continuous engine) or one
generate (static), and each greedy answer equals the answer the request gets alone; adapters beyond the replica's
room load on demand."""

import time
from concurrent.futures import ThreadPoolExecutor

from phi3ray.models.decoding import Sampling
from phi3ray.names import BASE_ADAPTER
from phi3ray.serve.engine import Request
from phi3ray.serve.generator import plan_groups
from phi3ray.serve.openai_schema import ChatRequest

QUESTIONS = ["How do I replace the seal of the VX-220?", "What torque do the casing bolts need?"]
MODELS = {"phi3": BASE_ADAPTER, "pumps": "pumps", "safety": "safety"}


def request(model: str, question: str, **extra) -> ChatRequest:
    return ChatRequest(model=model, messages=[{"role": "user", "content": question}], max_tokens=20, **extra)


def test_mixed_adapter_batch_equals_each_request_alone(serve_app):
    generator = serve_app.generator()
    cases = [(m, q) for q in QUESTIONS for m in MODELS]  # 6 requests: base + 2 adapters, 2 questions
    deadline = time.time() + 120
    before = generator.stats.remote().result()
    assert before["engine"] == "continuous"
    responses = [generator.complete.remote(request(m, q), MODELS[m], None, deadline) for m, q in cases]
    together = [r.result().text for r in responses]
    after = generator.stats.remote().result()
    steps, rows = after["decode_steps"] - before["decode_steps"], after["decode_rows"] - before["decode_rows"]
    assert rows > 2 * steps, (rows, steps)  # rows of several requests (and adapters) shared the decode steps

    alone = [generator.complete.remote(request(m, q), MODELS[m], None, deadline).result().text for m, q in cases]
    assert together == alone
    assert len({text for (m, q), text in zip(cases, alone) if q == QUESTIONS[0]}) == 3  # adapters differ


def test_concurrent_http_requests_share_decode_steps(serve_app):
    generator = serve_app.generator()
    before = generator.stats.remote().result()
    bodies = [
        {"model": m, "messages": [{"role": "user", "content": q}], "max_tokens": 12} for q in QUESTIONS for m in MODELS
    ]
    with ThreadPoolExecutor(len(bodies)) as pool:
        responses = list(pool.map(serve_app.post, bodies))
    assert all(r.status_code == 200 for r in responses)
    after = generator.stats.remote().result()
    steps, rows = after["decode_steps"] - before["decode_steps"], after["decode_rows"] - before["decode_rows"]
    assert rows > 1.5 * steps, (rows, steps)
    assert after["most_running"] >= 2 and after["running"] == 0 and after["kv_reserved"] == 0, after


def test_the_static_engine_batches_concurrent_requests_into_one_generate(edge_app):
    """edge_app runs engine=static (serve.batch), kept to measure the continuous engine against."""
    generator = edge_app.generator()
    cases = [(m, q) for q in QUESTIONS for m in ("phi3", "pumps")]  # base + the one adapter that fits its room
    deadline = time.time() + 120
    assert generator.stats.remote().result()["engine"] == "static"
    before = len(generator.stats.remote().result()["generate_calls"])
    generator.reconfigure.remote({"batch_wait_timeout_s": 1.0}).result()  # the 4 calls land in one batch for sure
    try:
        together = [r.result().text for r in [generator.complete.remote(request(m, q), MODELS[m], None, deadline)
                                              for m, q in cases]]
    finally:
        generator.reconfigure.remote({"batch_wait_timeout_s": 0.01}).result()  # the edge app's own setting
    calls = generator.stats.remote().result()["generate_calls"][before:]
    assert (4, 2) in [tuple(c) for c in calls], calls  # one generate: 4 rows, base + 1 adapter
    alone = [generator.complete.remote(request(m, q), MODELS[m], None, deadline).result().text for m, q in cases]
    assert together == alone


def test_seeded_sampling_repeats_and_greedy_ignores_the_seed(serve_app):
    client = serve_app.openai()

    def sample(seed, temperature=1.0):
        return (
            client.chat.completions.create(
                model="pumps",
                messages=[{"role": "user", "content": QUESTIONS[0]}],
                max_tokens=16,
                temperature=temperature,
                seed=seed,
            )
            .choices[0]
            .message.content
        )

    assert sample(7) == sample(7) != sample(8)
    assert sample(7, temperature=0) == sample(8, temperature=0)


def test_adapters_beyond_the_replica_s_room_load_on_demand(edge_app, serve_app):
    """The edge app keeps one adapter resident: alternating adapters reload them, with the same answers."""
    expected = {
        m: serve_app.post(request(m, QUESTIONS[0]).model_dump(exclude_none=True)).json() for m in ("pumps", "safety")
    }
    loads = edge_app.generator().stats.remote().result()["adapter_loads"]
    for model in ("pumps", "safety", "pumps"):
        answer = edge_app.post(request(model, QUESTIONS[0]).model_dump(exclude_none=True)).json()
        assert answer["choices"][0]["message"]["content"] == expected[model]["choices"][0]["message"]["content"]
    stats = edge_app.generator().stats.remote().result()
    assert stats["adapter_loads"] - loads >= 2 and len(stats["loaded_adapters"]) == 1, stats


def test_plan_groups_caps_adapters_per_generate_and_isolates_seeded_samples():
    def row(adapter, temperature=0.0, seed=None):
        return Request([1], Sampling(temperature=temperature, seed=seed), adapter, deadline=0.0)

    rows = [row("a"), row(BASE_ADAPTER), row("b"), row("a", 1.0, seed=3), row("c"), row("a"), row("b", 1.0)]
    assert plan_groups(rows, max_adapters=2) == [[3], [0, 1, 2], [4, 5], [6]]
    assert plan_groups(rows, max_adapters=4) == [[3], [0, 1, 2, 4, 5, 6]]
