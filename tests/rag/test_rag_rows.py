"""RAG-aware training rows (RAFT) from the real index: gold among distractors or distractors only, the serving
prompt, citations, determinism, lineage, and a clear error for an empty index."""

from __future__ import annotations

import dataclasses

import pytest

from phi3ray.config import GenerationSettings, load_config
from phi3ray.data.rag_rows import check_fits, index_lineage, make_rag_rows, write_rag_rows
from phi3ray.data.readers import Example, read_examples
from phi3ray.errors import ConfigValueError, EmptyCollectionError
from phi3ray.models.base import load_tokenizer
from phi3ray.rag.prompt import ABSTAIN, NO_SOURCES, build_prompt, cited_numbers, retrieval_query
from phi3ray.rag.retriever import Retriever
from phi3ray.rag.schema import ensure_collection
from tests.rag.conftest import ROOT

ROWS = 24


@pytest.fixture(scope="module")
def setup(pumps_ingested, tiny_model_cfg):
    cfg, _ = pumps_ingested
    retriever = Retriever(cfg.retriever)
    examples = read_examples([str(ROOT / "data/pumps/train.jsonl")]).examples[:ROWS]
    yield retriever, examples, load_tokenizer(tiny_model_cfg), tiny_model_cfg
    retriever.close()


def _rows(setup, **kw):
    retriever, examples, tokenizer, model = setup
    settings = dict(model=model, generation=GenerationSettings(max_new_tokens=64), system_prompt=None,
                    gold_share=0.8, without_gold="memory", seed=3) | kw
    return make_rag_rows(examples, retriever, tokenizer, **settings)


def _sources_of(prompt: str) -> dict[int, str]:
    """[n] -> the heading line of source n in a RAG user turn."""
    block = prompt.split("Sources:\n", 1)[1].split("\n\nQuestion: ", 1)[0]
    return {int(e.split("]", 1)[0]): e.split("\n", 1)[0] for e in block.lstrip("[").split("\n\n[")}


def test_gold_rows_cite_a_chunk_of_their_gold_documents_and_keep_the_answer(setup):
    rows = _rows(setup, gold_share=1.0)
    _, examples, _, _ = setup
    assert rows.lineage.rows == ROWS and rows.lineage.rows_with_gold == ROWS
    for example, row, number in zip(examples, rows.examples, rows.cited):
        answer = row.messages[-1]["content"]
        assert answer == f"{example.messages[-1]['content']} [{number}]"
        assert cited_numbers(answer) == [number]
        prompt = row.messages[-2]["content"]
        assert prompt.endswith("Question: " + example.messages[-2]["content"])
        assert number in _sources_of(prompt)
        assert row.messages[:-2] == example.messages[:-2]  # system prompt and earlier turns untouched


def test_distractor_rows_show_no_gold_document_and_abstain_when_asked(setup):
    retriever, examples, _, _ = setup
    rows = _rows(setup, gold_share=0.0, without_gold="abstain")
    assert rows.lineage.rows_with_gold == 0 and set(rows.cited) == {None}
    for example, row in zip(examples, rows.examples):
        assert row.messages[-1]["content"] == ABSTAIN
        shown = {source for source in _sources_of(row.messages[-2]["content"]).values()}
        assert shown, "distractor-only rows still show sources"
        gold_titles = {_title(retriever, d) for d in example.doc_ids}
        assert not any(line.startswith(t) for line in shown for t in gold_titles), (example.source, shown)
    memory = _rows(setup, gold_share=0.0, without_gold="memory")
    assert [r.messages[-1] for r in memory.examples] == [e.messages[-1] for e in examples]


def test_a_question_the_index_does_not_cover_gets_the_serving_decline_or_its_gold_chunk(setup):
    retriever, _, tokenizer, model = setup
    question = "What RAL colour code is the casing of a VX-220 painted in?"  # below retriever.min_coverage
    assert retriever.search(question) == []
    example = Example([{"role": "user", "content": question}, {"role": "assistant", "content": "RAL 5015."}],
                      "made-up:1", ["vx-220-specifications"])
    settings = dict(model=model, generation=GenerationSettings(max_new_tokens=64), system_prompt=None, seed=3)
    without = make_rag_rows([example], retriever, tokenizer, gold_share=0.0, without_gold="memory", **settings)
    row = without.examples[0].messages
    assert row[-2]["content"].startswith(NO_SOURCES) and row[-1]["content"] == ABSTAIN  # what serving answers
    assert without.lineage.rows_declined == 1 and without.cited == [None]
    gold = make_rag_rows([example], retriever, tokenizer, gold_share=1.0, without_gold="memory", **settings)
    assert gold.cited == [1] and gold.examples[0].messages[-1]["content"] == "RAL 5015. [1]"  # fetched, not gated
    assert (gold.lineage.rows_with_gold, gold.lineage.gold_fetched, gold.lineage.rows_declined) == (1, 1, 0)


def _title(retriever, doc_id: str) -> str:
    """The heading a source of doc_id opens with: its manual's '# ' title."""
    return (ROOT / "data/pumps/docs" / f"{doc_id}.md").read_text().splitlines()[0].lstrip("# ") + " — "


def test_rows_are_the_serving_prompt_and_deterministic(setup):
    retriever, examples, tokenizer, model = setup
    rows = _rows(setup)
    again = _rows(setup)
    assert [r.messages for r in rows.examples] == [r.messages for r in again.examples]
    assert 0 < rows.lineage.rows_with_gold < ROWS  # gold_share 0.8 of 24 rows
    # a gold row whose gold was retrieved shows exactly what serving shows for the conversation
    checked = 0
    for example, row, number in zip(examples, rows.examples, rows.cited):
        chunks = retriever.search(retrieval_query(example.messages[:-1]))
        if number is None or not any(c.doc_id in example.doc_ids for c in chunks):
            continue
        expected, _ = build_prompt(example.messages[:-1], chunks, tokenizer, system_prompt=None, token_budget=1024,
                                   context_length=model.context_length, answer_tokens=64)
        assert row.messages[:-1] == expected, example.source
        checked += 1
    assert checked >= ROWS // 2


def test_lineage_names_the_index_and_is_written_beside_the_rows(setup, tmp_path):
    retriever = setup[0]
    rows = _rows(setup)
    index = rows.lineage.index
    assert index.objects == retriever.store.count() > 0 and len(index.chunk_ids_sha256) == 64
    assert index_lineage(retriever) == index  # stable while the index is unchanged
    path = str(tmp_path / "rag_rows.jsonl")
    write_rag_rows(path, rows)
    again = read_examples([path]).examples  # the written rows are ordinary chat training rows
    assert [e.messages for e in again] == [e.messages for e in rows.examples]
    assert '"chunk_ids_sha256"' in (tmp_path / "rag_rows.jsonl.lineage.json").read_text()


def test_rows_longer_than_max_seq_len_are_refused_with_a_length_that_fits(setup):
    rows = _rows(setup)
    with pytest.raises(ConfigValueError, match=r"would lose their answers; set data.max_seq_len=\d+"):
        check_fits(rows.examples, setup[2], 256)
    check_fits(rows.examples, setup[2], 1024)  # the tiny Phi-3's whole context: every row fits


def test_an_empty_index_is_a_clear_error(pumps_ingested, setup):
    cfg, _ = pumps_ingested
    retriever = setup[0]
    ensure_collection(retriever.client, "TestEmptyRag", cfg.retriever.embedder.model, retriever.embedder.dimension)
    empty = Retriever(dataclasses.replace(cfg.retriever, collection="TestEmptyRag"))
    try:
        with pytest.raises(EmptyCollectionError, match="holds no chunks; ingest documents first"):
            _rows((empty, *setup[1:]))
    finally:
        empty.close()


def test_train_config_turns_it_on_with_a_retriever():
    cfg = load_config("train", ["model=tiny", "data.rag_context=true", "data.rag_gold_share=0.6"])
    assert cfg.data.rag_context and cfg.data.rag_gold_share == 0.6 and cfg.retriever.top_k >= 1
    with pytest.raises(Exception, match="rag_without_gold"):
        load_config("train", ["data.rag_without_gold=sometimes"])
