"""Under load and faults, over real HTTP on loopback: many concurrent requests with malformed ones mixed in, and a
Generator replica killed in the middle of a stream."""

from __future__ import annotations

import asyncio
import json
import random
import time

import httpx
import pytest

from tests.serve.test_ingress import assert_still_serving

MODELS = ("phi3", "pumps", "safety", "phi3")  # base and both adapters, the base twice: 4 ways to ask
QUESTIONS = ["How do I replace the seal of the VX-220?", "What torque do the casing bolts need?",
             "Which oil for the bearings?", "What must be done before opening the casing?"]


def _bad(rng: random.Random) -> tuple[dict | str, int]:
    """A malformed request and the status it must get."""
    return rng.choice([
        ({"model": "pumps", "messages": []}, 400),
        ({"model": "pumps", "messages": [{"role": "wizard", "content": "hi"}]}, 400),
        ({"model": "pumps", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**6}, 400),
        ({"model": "pumps", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]}, 400),
        ({"model": "no-such-adapter", "messages": [{"role": "user", "content": "hi"}]}, 404),
        ('{"model": "pumps", "messages": [', 400),
    ])


def test_200_requests_at_32_concurrency_with_10_percent_malformed_get_no_5xx(serve_app):
    rng = random.Random(3)
    cases = []
    for i in range(200):
        if rng.random() < 0.1:
            cases.append(_bad(rng))
        else:
            body = {"model": MODELS[i % 4], "messages": [{"role": "user", "content": QUESTIONS[i % 4]}],
                    "max_tokens": rng.randint(2, 12), "stream": i % 5 == 0}
            cases.append((body, 200))

    async def send(client: httpx.AsyncClient, gate: asyncio.Semaphore, body) -> tuple[int, str]:
        async with gate:
            kwargs = {"content": body} if isinstance(body, str) else {"json": body}
            response = await client.post(f"{serve_app.url}/v1/chat/completions", headers=serve_app.headers,
                                         timeout=120, **kwargs)
            return response.status_code, response.text

    async def main():
        gate = asyncio.Semaphore(32)
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=40)) as client:
            return await asyncio.gather(*(send(client, gate, body) for body, _ in cases))

    start = time.monotonic()
    results = asyncio.run(main())
    seconds = time.monotonic() - start
    wrong = [(expected, got, text[:200]) for (_, expected), (got, text) in zip(cases, results) if got != expected]
    assert not wrong, wrong[:5]
    bad = sum(expected != 200 for _, expected in cases)
    assert 10 <= bad <= 30, bad
    for (body, expected), (_, text) in zip(cases, results):
        if expected == 200 and body.get("stream"):
            assert text.rstrip().endswith("data: [DONE]") and '"error"' not in text
        elif expected == 200:
            assert json.loads(text)["choices"][0]["message"]["content"] is not None
    print(f"200 requests at 32 concurrency: {seconds:.1f} s, {bad} malformed")


@pytest.mark.timeout(300)
def test_a_replica_killed_mid_stream_ends_the_stream_with_an_error_and_its_replacement_answers(serve_app):
    import ray

    body = {"model": "pumps", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 900, "stream": True,
            "logit_bias": {"6": -100, "3": -100}}  # <|end|> and <|endoftext|> banned: a long stream
    replica = next(a for a in ray.util.list_named_actors(all_namespaces=True)
                   if a["name"].startswith("SERVE_REPLICA::main#Generator"))
    lines = []
    with httpx.stream("POST", f"{serve_app.url}/v1/chat/completions", json=body, headers=serve_app.headers,
                      timeout=60) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            lines.append(line)
            if len(lines) == 6:
                ray.kill(ray.get_actor(replica["name"], namespace=replica["namespace"]), no_restart=True)
    events = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    error = json.loads(events[-2])["error"]
    assert error["type"] == "server_error" and "retry" in error["message"], error
    deadline = time.monotonic() + 120
    while True:  # Serve starts a replacement; until it is up, requests wait or fail with a 5xx, never hang
        try:
            assert_still_serving(serve_app)
            break
        except (AssertionError, httpx.HTTPError):
            assert time.monotonic() < deadline, "no replacement replica answered within 120 s"
            time.sleep(2)
    names = {a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
             if a["name"].startswith("SERVE_REPLICA::main#Generator")}
    assert replica["name"] not in names and names
