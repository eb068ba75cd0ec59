"""One prompt contract: for the same question, chunks and settings, evaluation and serving send the same
token ids, with and without RAG (phi3ray.rag.prompt builds both)."""

from __future__ import annotations

import math
from dataclasses import asdict

from phi3ray.config import load_config, system_prompt_of
from phi3ray.eval.heldout import HeldoutQuestion
from phi3ray.eval.variants import build_prompts
from phi3ray.models.base import load_tokenizer
from phi3ray.names import BASE_ADAPTER
from phi3ray.rag.prompt import encode_chat, retrieval_query
from phi3ray.rag.retriever import Retriever
from phi3ray.serve.generator import Generator
from phi3ray.serve.openai_schema import ChatRequest
from tests.serve.conftest import COLLECTION

QUESTION = "How do I replace the VX-220 mechanical seal?"


def test_evaluation_and_serving_send_the_same_token_ids(ingested, weaviate_server):
    settings = ["model=tiny", *weaviate_server.overrides(COLLECTION), "generation.max_new_tokens=48"]
    evaluate = load_config("evaluate", settings)
    serve = load_config("serve", settings)
    assert system_prompt_of(evaluate) == system_prompt_of(serve) == evaluate.data.system_prompt  # the rows' own

    tokenizer = load_tokenizer(evaluate.model)
    g = evaluate.generation
    [question] = build_prompts(
        [HeldoutQuestion("q1", QUESTION, "")], tokenizer, system_prompt_of(evaluate), evaluate.retriever,
        g.context_token_budget, context_length=evaluate.model.context_length, answer_tokens=g.max_new_tokens,
    )
    assert question.sources, "retrieval found nothing: the RAG half of the contract would not be tested"

    retriever = Retriever(serve.retriever)
    try:  # what the Retriever deployment hands the Generator for this conversation
        chunks = [asdict(c) for c in retriever.search(retrieval_query([{"role": "user", "content": QUESTION}]))]
    finally:
        retriever.close()
    generator = Generator.func_or_class(serve)  # the replica's class, in this process
    for rag, expected, sources in ((False, question.plain, []), (True, question.rag, question.sources)):
        request = ChatRequest(model="phi3", messages=[{"role": "user", "content": QUESTION}], rag={"enabled": rag})
        row, result = generator._prepare(request, BASE_ADAPTER, chunks if rag else None, deadline=math.inf)
        assert row.prompt == encode_chat(tokenizer, expected)
        assert [s.object_id for s in result.retrieved] == [s["object_id"] for s in sources]
    assert question.plain[0] == {"role": "system", "content": evaluate.data.system_prompt}
    assert "Sources:\n[1] " in question.rag[-1]["content"] and question.rag[0] == question.plain[0]
