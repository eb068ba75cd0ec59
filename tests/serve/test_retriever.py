"""RAG through the app: answers carry the sources they cite and every retrieved one, real Weaviate objects;
nothing relevant -> no sources; Weaviate down -> 503 or degraded."""

import httpx
import pytest
import weaviate

from phi3ray.rag.prompt import ABSTAIN, Source
from phi3ray.serve.openai_schema import cited_sources
from tests.serve.conftest import COLLECTION

QUESTION = [{"role": "user", "content": "How do I replace the mechanical seal of the VX-220?"}]


@pytest.fixture(scope="module")
def chunks(weaviate_server, ingested):
    client = weaviate.connect_to_local(
        host=weaviate_server.host, port=weaviate_server.http_port, grpc_port=weaviate_server.grpc_port
    )
    yield client.collections.get(COLLECTION)
    client.close()


def assert_real_sources(sources: list[dict], chunks) -> None:
    assert sources and [s["number"] for s in sources] == list(range(1, len(sources) + 1))
    for source in sources:
        stored = chunks.query.fetch_object_by_id(source["object_id"])
        assert stored is not None, source
        assert stored.properties["title"] == source["title"] and stored.properties["doc_id"] == source["doc_id"]
        assert stored.properties["source"] == source["source"] and 0 < source["score"] <= 1


def assert_sources_are_the_cited_ones(answer: str, extra: dict) -> None:
    """sources: exactly the retrieved sources the answer cites, in citation order (not every retrieved one)."""
    retrieved = [Source(**s) for s in extra["retrieved"]]
    assert [Source(**s) for s in extra["sources"]] == cited_sources(answer, retrieved)
    assert all(s in extra["retrieved"] for s in extra["sources"])


def test_rag_answer_cites_real_weaviate_objects(serve_app, chunks):
    answer = serve_app.openai().chat.completions.create(
        model="pumps", messages=QUESTION, max_tokens=24, extra_body={"rag": {"enabled": True, "top_k": 3}}
    )
    extra = answer.model_extra
    assert extra["rag"] == "used" and len(extra["retrieved"]) <= 3
    assert_real_sources(extra["retrieved"], chunks)
    assert extra["retrieved"][0]["doc_id"] == "vx-220-seal-replacement"
    assert_sources_are_the_cited_ones(answer.choices[0].message.content, extra)
    plain = serve_app.openai().chat.completions.create(model="pumps", messages=QUESTION, max_tokens=24)
    assert answer.usage.prompt_tokens > plain.usage.prompt_tokens + 50  # the sources went into the prompt
    assert not {"sources", "retrieved", "rag"} & set(plain.model_extra)


def test_streamed_rag_answer_ends_with_its_sources(serve_app, chunks):
    stream = serve_app.openai().chat.completions.create(
        model="safety", messages=QUESTION, max_tokens=16, stream=True, extra_body={"rag": {"top_k": 2}}
    )
    events = list(stream)
    last = [e for e in events if e.choices][-1]
    assert last.choices[0].finish_reason in ("stop", "length") and last.model_extra["rag"] == "used"
    assert_real_sources(last.model_extra["retrieved"], chunks)
    text = "".join(e.choices[0].delta.content or "" for e in events if e.choices)
    assert_sources_are_the_cited_ones(text, last.model_extra)
    assert all("retrieved" not in e.model_extra for e in events if e is not last)  # on the last chunk only


def test_filters_and_alpha_reach_weaviate(serve_app, chunks):
    body = {
        "model": "phi3",
        "messages": QUESTION,
        "max_tokens": 4,
        "rag": {"top_k": 4, "alpha": 0.0, "filters": {"doc_id": ["safety-lockout-tagout", "vx-220-specifications"]}},
    }
    sources = serve_app.post(body).json()["retrieved"]
    assert_real_sources(sources, chunks)
    assert {s["doc_id"] for s in sources} <= {"safety-lockout-tagout", "vx-220-specifications"}


@pytest.mark.parametrize("question", [
    "What is the capital of France?",  # off topic: retriever.min_similarity cuts every chunk
    "What RAL colour code is the casing of a VX-220 painted in?",  # on topic, unanswered: retriever.min_coverage
])  # fmt: skip
def test_a_question_the_sources_do_not_cover_is_declined_without_running_the_model(serve_app, question):
    """RAG was used and left no source: the answer is prompt.ABSTAIN, with empty source lists, streamed or not,
    held to max_tokens and stop as a generated answer is."""
    body = {"model": "phi3", "messages": [{"role": "user", "content": question}], "rag": {"enabled": True}}
    answer = serve_app.post(body).json()
    assert answer["rag"] == "used" and answer["sources"] == [] and answer["retrieved"] == []
    assert answer["choices"][0]["message"]["content"] == ABSTAIN and answer["choices"][0]["finish_reason"] == "stop"
    plain = serve_app.post({"model": "phi3", "messages": body["messages"], "max_tokens": 4}).json()
    assert answer["usage"]["prompt_tokens"] > plain["usage"]["prompt_tokens"]  # NO_SOURCES went into the prompt
    cut = serve_app.post({**body, "max_tokens": 4}).json()
    assert cut["usage"]["completion_tokens"] == 4 and cut["choices"][0]["finish_reason"] == "length"
    assert ABSTAIN.startswith(cut["choices"][0]["message"]["content"].strip())
    stopped = serve_app.post({**body, "stop": [":"]}).json()["choices"][0]
    assert (stopped["message"]["content"], stopped["finish_reason"]) == ("I do not know", "stop")
    events = list(serve_app.openai().chat.completions.create(
        model="phi3", messages=body["messages"], stream=True, extra_body={"rag": {"enabled": True}}
    ))
    assert "".join(e.choices[0].delta.content or "" for e in events if e.choices) == ABSTAIN
    assert events[-1].model_extra["sources"] == [] and events[-1].model_extra["retrieved"] == []


def test_weaviate_unreachable_gives_503_naming_it_and_the_server_keeps_serving(edge_app):
    body = {"model": "phi3", "messages": QUESTION, "max_tokens": 4}
    response = edge_app.post({**body, "rag": {"on_unavailable": "error"}})
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "rag_unavailable" and error["type"] == "service_unavailable"
    assert f"127.0.0.1:{edge_app.dead_port}" in error["message"] and "Traceback" not in response.text
    assert edge_app.post(body).status_code == 200  # without RAG it answers
    health = httpx.get(f"{edge_app.url}/health", timeout=30).json()
    assert health["status"] == "ok" and health["retriever"] == "unavailable"


def test_weaviate_unreachable_with_rag_unavailable_degraded_answers_flagged(edge_app):
    answer = edge_app.openai().chat.completions.create(
        model="pumps", messages=QUESTION, max_tokens=8, extra_body={"rag": {"enabled": True}}
    )
    assert answer.choices[0].message.content and answer.model_extra["rag"] == "degraded"
    assert answer.model_extra["sources"] == [] and answer.model_extra["retrieved"] == []


def test_sources_shrink_so_that_a_long_answer_still_fits_the_context(serve_app, chunks):
    body = {"model": "phi3", "messages": QUESTION, "rag": {"top_k": 5}}
    short = serve_app.post({**body, "max_tokens": 8}).json()
    long = serve_app.post({**body, "max_tokens": 800}).json()  # the tiny model's context is 1024 tokens
    assert long["usage"]["prompt_tokens"] + 800 <= 1024 < short["usage"]["prompt_tokens"] + 800
    assert len(long["retrieved"]) < len(short["retrieved"])
    assert_real_sources(short["retrieved"], chunks)
