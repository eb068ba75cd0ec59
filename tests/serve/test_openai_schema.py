"""Request validation and the OpenAI shapes, without a server."""

import pytest
from pydantic import ValidationError

from phi3ray.rag.prompt import Source
from phi3ray.serve.openai_schema import (
    ChatCompletion,
    ChatRequest,
    ChatResult,
    Choice,
    Usage,
    cited_sources,
    describe_validation,
    error_body,
)

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast


def problem(body: dict) -> tuple[str, str | None]:
    with pytest.raises(ValidationError) as err:
        ChatRequest.model_validate(body)
    return describe_validation(err.value)


def test_requests_take_the_openai_fields_and_the_rag_object():
    req = ChatRequest.model_validate(
        {
            "model": "pumps",
            "stop": "END",
            "max_completion_tokens": 9,
            "logit_bias": {"6": -100},
            "user": "u1",
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Seal "}, {"type": "text", "text": "torque?"}]},
            ],
            "rag": {"top_k": 3, "alpha": 0.25, "filters": {"doc_id": ["a", "b"]}},
            "frequency_penalty": 0,  # unsupported OpenAI fields pass with the values that ask for nothing
            "tools": [],
            "response_format": {"type": "text"},
            "logprobs": False,
            "metadata": {"team": "field service"},  # metadata that changes no answer is taken and ignored
            "store": False,
        }
    )
    assert req.conversation() == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Seal torque?"},
    ]
    assert req.stop == ["END"] and req.requested_max_tokens == 9 and req.logit_bias == {6: -100.0}
    assert req.query() == "Seal torque?" and req.rag.top_k == 3 and req.rag.enabled


@pytest.mark.parametrize(
    "body, message, param",
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "'model' is a required property", "model"),
        ({"model": "m", "messages": []}, "messages must contain at least one message", "messages"),
        (
            {"model": "m", "messages": [{"role": "tool", "content": "x"}]},
            "role 'tool' is not supported",
            "messages.0.role",
        ),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": ["a"] * 5}, "up to 4", "stop"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "top_p": 0}, "greater than 0", "top_p"),
        (
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "rag": {"top_k": 0}},
            "greater than or equal",
            "rag.top_k",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "rag": {"topk": 3}},
            "unrecognized request argument supplied: rag.topk",
            "rag.topk",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "best_of": 3},
            "unrecognized request argument supplied: best_of",
            "best_of",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "x"}],
             "tools": [{"type": "function", "function": {"name": "f"}}]},
            "tools: is not supported by this server; leave it out",
            "tools",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}},
            "response_format: is not supported",
            "response_format",
        ),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "logprobs": True}, "logprobs: is not", "logprobs"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "presence_penalty": 0.5}, "not supported",
         "presence_penalty"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}, "less than or equal to 1", "n"),
    ],
)
def test_invalid_requests_name_the_field(body, message, param):
    text, where = problem(body)
    assert message in text and where == param


def test_error_body_is_openai_s_shape():
    assert error_body("m", "invalid_request_error", "model", "model_not_found") == {
        "error": {"message": "m", "type": "invalid_request_error", "param": "model", "code": "model_not_found"}
    }


RETRIEVED = [Source(n, f"Manual {n}", f"docs/m{n}.md", f"id-{n}", 1 - n / 10, f"m{n}", f"Manual {n}\nText {n}.")
             for n in (1, 2, 3, 4)]


@pytest.mark.parametrize(
    "answer, cited",
    [
        ("Fit the seal dry [3], then torque to 25 Nm [1]. Check for leaks [3].", [3, 1]),  # first citation order
        ("Both say so [2, 4]; see also [1;2].", [2, 4, 1]),
        ("As [7] and [0] say, and [2].", [2]),  # numbers no source has are left out
        ("I do not know: the sources do not contain the answer.", []),
    ],
)
def test_sources_are_the_retrieved_ones_the_answer_cites(answer, cited):
    assert [s.number for s in cited_sources(answer, RETRIEVED)] == cited
    assert all(any(s is r for r in RETRIEVED) for s in cited_sources(answer, RETRIEVED))  # the same Source objects


def test_a_response_carries_cited_sources_and_every_retrieved_one_as_source_objects():
    result = ChatResult(text="Replace it [2].", finish_reason="stop", retrieved=RETRIEVED)
    result.sources = cited_sources(result.text, result.retrieved)
    body = ChatCompletion(
        model="pumps",
        choices=[Choice(message={"content": result.text}, finish_reason="stop")],
        usage=Usage(prompt_tokens=1, completion_tokens=1, total_tokens=2),
        sources=result.sources,
        retrieved=result.retrieved,
        rag="used",
    ).model_dump(exclude_none=True)
    assert [s["number"] for s in body["sources"]] == [2] and len(body["retrieved"]) == 4
    assert body["sources"][0] == {
        "number": 2, "title": "Manual 2", "source": "docs/m2.md", "object_id": "id-2", "score": 0.8, "doc_id": "m2",
        "text": "Manual 2\nText 2.",
    }  # fmt: skip


def test_ask_serves_where_serve_run_would(tmp_path):
    """One home for Serve's address: serve/config.yaml's http_options, read by `serve run` and by ask."""
    from phi3ray.serve.app import http_options

    assert http_options() == {"host": "127.0.0.1", "port": 8000}  # as serve/config.yaml ships
    other = tmp_path / "config.yaml"
    other.write_text("http_options:\n  host: 0.0.0.0\n  port: 9000\napplications: []\n")
    assert http_options(str(other)) == {"host": "0.0.0.0", "port": 9000}
