"""Guard rails over raw HTTP: each bad request gets its status in OpenAI's error shape, no stack trace, and the
server answers the next good request."""

import time

import httpx
import pytest

from phi3ray.errors import RequestError

GOOD = {
    "model": "pumps",
    "messages": [{"role": "user", "content": "Which oil for the VX-220 bearings?"}],
    "max_tokens": 4,
}
LONG = "impeller casing seal " * 400  # ~1600 tokens: over the tiny model's 1024-token window


def assert_openai_error(response: httpx.Response, status: int, code: str | None = None, param: str | None = None):
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"] and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert body["error"]["message"] and "Traceback" not in response.text and 'File "' not in response.text
    if code is not None:
        assert body["error"]["code"] == code, body
    if param is not None:
        assert body["error"]["param"] == param, body
    return body["error"]


def assert_still_serving(app) -> None:
    good = app.post(GOOD)
    assert good.status_code == 200, good.text
    assert good.json()["choices"][0]["finish_reason"] in ("stop", "length")


CASES = {
    "no key": (dict(body=GOOD, headers={}), 401, "invalid_api_key", None),
    "wrong key": (dict(body=GOOD, headers={"Authorization": "Bearer nope"}), 401, "invalid_api_key", None),
    "bad JSON": (dict(body=b'{"model": "pumps", "messages": [}'), 400, None, None),
    "JSON array": (dict(body=b"[1, 2]"), 400, None, None),
    "no model": (dict(body={"messages": GOOD["messages"]}), 400, None, "model"),
    "empty messages": (dict(body={**GOOD, "messages": []}), 400, None, "messages"),
    "bad role": (dict(body={**GOOD, "messages": [{"role": "wizard", "content": "hi"}]}), 400, None, "messages.0.role"),
    "max_tokens over cap": (dict(body={**GOOD, "max_tokens": 5000}), 400, "invalid_value", "max_tokens"),
    "prompt over context": (
        dict(body={**GOOD, "messages": [{"role": "user", "content": LONG}]}),
        400,
        "context_length_exceeded",
        "messages",
    ),
    "completion over context": (
        dict(body={**GOOD, "messages": [{"role": "user", "content": "impeller " * 100}], "max_tokens": 1000}),
        400,
        "context_length_exceeded",
        "messages",
    ),
    "two choices": (dict(body={**GOOD, "n": 2}), 400, None, "n"),
    "temperature out of range": (dict(body={**GOOD, "temperature": 3}), 400, None, "temperature"),
    "unknown model": (dict(body={**GOOD, "model": "gpt-4o"}), 404, "model_not_found", "model"),
    "filter on an unknown property": (dict(body={**GOOD, "rag": {"filters": {"colour": "red"}}}), 400, None, "rag"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_request_gets_its_status_and_the_server_keeps_serving(serve_app, case):
    kwargs, status, code, param = CASES[case]
    response = serve_app.post(kwargs["body"], **({"headers": kwargs["headers"]} if "headers" in kwargs else {}))
    error = assert_openai_error(response, status, code, param)
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    if case == "prompt over context":
        assert "maximum context length is 1024 tokens" in error["message"]
    assert_still_serving(serve_app)


def test_openai_client_raises_its_own_error_types(serve_app):
    import openai

    client = serve_app.openai()
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="nope", messages=GOOD["messages"])
    assert err.value.code == "model_not_found"
    with pytest.raises(openai.AuthenticationError):
        serve_app.openai().with_options(api_key="wrong").models.list()
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="pumps", messages=GOOD["messages"], max_tokens=5000)


def test_unknown_routes_answer_in_the_error_shape(serve_app):
    assert_openai_error(httpx.get(f"{serve_app.url}/v1/nothing", headers=serve_app.headers), 404)
    assert_openai_error(httpx.get(f"{serve_app.url}/v1/chat/completions", headers=serve_app.headers), 405)


def test_a_request_past_its_timeout_gets_504_and_frees_the_generator(edge_app):
    ban_end = {"6": -100, "3": -100}  # <|end|> and <|endoftext|> of the tiny tokenizer: the answer never ends
    slow = {**GOOD, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 7000, "logit_bias": ban_end}
    start = time.monotonic()
    response = edge_app.post(slow)
    waited = time.monotonic() - start
    error = assert_openai_error(response, 504, "timeout")
    assert error["type"] == "timeout_error" and "2 s" in error["message"]
    assert 1.9 < waited < 15, waited
    start = time.monotonic()
    assert_still_serving(edge_app)
    assert time.monotonic() - start < 5  # the slow row was stopped at its deadline, not left running


def test_a_client_leaving_a_stream_stops_its_generation(serve_app):
    generator = serve_app.generator()
    before = generator.stats.remote().result()["finish_reasons"].get("cancelled", 0)
    body = {
        **GOOD,
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 900,
        "stream": True,
        "logit_bias": {"6": -100, "3": -100},
    }  # would run 900 tokens
    with httpx.stream("POST", f"{serve_app.url}/v1/chat/completions", json=body, headers=serve_app.headers) as r:
        lines = r.iter_lines()
        assert [next(lines) for _ in range(6)]  # a few chunks, then hang up
    deadline = time.monotonic() + 20
    while generator.stats.remote().result()["finish_reasons"].get("cancelled", 0) == before:
        assert time.monotonic() < deadline, "the abandoned stream kept generating"
        time.sleep(0.2)
    assert_still_serving(serve_app)


def test_a_busy_replica_s_429_tells_the_client_when_to_retry():
    from phi3ray.serve.ingress import _error_response

    response = _error_response(RequestError(429, "busy", "rate_limit_error", code="server_busy", retry_after=3))
    assert response.status_code == 429 and response.headers["retry-after"] == "3"
    assert "retry-after" not in _error_response(RequestError(400, "bad")).headers
