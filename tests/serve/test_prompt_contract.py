"""One prompt contract: for the same question, chunks and settings, evaluation and serving send the same
token ids, with and without RAG, and a RAG-aware training row is those ids followed by its answer
(phi3ray.rag.prompt builds all three)."""

from __future__ import annotations

import math
from dataclasses import asdict

from phi3ray.config import load_config, system_prompt_of
from phi3ray.data.masking import tokenize_example
from phi3ray.data.rag_rows import make_rag_rows
from phi3ray.data.readers import Example
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

    train = load_config("train", [*settings, "data.rag_context=true"])
    retriever = Retriever(serve.retriever)
    try:  # what the Retriever deployment hands the Generator for this conversation
        chunks = [asdict(c) for c in retriever.search(retrieval_query([{"role": "user", "content": QUESTION}]))]
        # the training row of the same question, its gold document the one retrieval ranks first
        example = Example([{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "Like this."}],
                          "contract:1", [chunks[0]["doc_id"]])
        [row] = make_rag_rows(
            [example], retriever, tokenizer, model=train.model, generation=train.generation,
            system_prompt=train.data.system_prompt, gold_share=1.0, without_gold="abstain", seed=0,
        ).examples
    finally:
        retriever.close()
    trained = tokenize_example(tokenizer, row)
    prompt_ids = encode_chat(tokenizer, question.rag)
    assert trained.input_ids[: len(prompt_ids)] == prompt_ids  # the prompt, token for token
    answer = tokenizer.decode([t for t in trained.labels if t != -100])
    assert answer.startswith("Like this. [1]")  # then the answer, citing the gold source; only it is learned
    generator = Generator.func_or_class(serve)  # the replica's class, in this process
    for rag, expected, sources in ((False, question.plain, []), (True, question.rag, question.sources)):
        request = ChatRequest(model="phi3", messages=[{"role": "user", "content": QUESTION}], rag={"enabled": rag})
        row, result = generator._prepare(request, BASE_ADAPTER, chunks if rag else None, deadline=math.inf)
        assert row.prompt == encode_chat(tokenizer, expected)
        assert [s.object_id for s in result.retrieved] == [s["object_id"] for s in sources]
    assert question.plain[0] == {"role": "system", "content": evaluate.data.system_prompt}
    assert "Sources:\n[1] " in question.rag[-1]["content"] and question.rag[0] == question.plain[0]
