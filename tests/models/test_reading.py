"""The tiny Phi-3's generic reading lessons: the serving prompt, right answers and citations, abstentions,
determinism — and not one fact of the sample domain (data/pumps), so RAG's gain on the sample is reading."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from phi3ray.models import reading
from phi3ray.models.tiny import ASSETS
from phi3ray.rag.prompt import ABSTAIN, INSTRUCTION, NO_SOURCES

pytestmark = pytest.mark.fast  # a tokenizer and text, no model

ROOT = Path(__file__).resolve().parents[2]
PUMPS = ROOT / "data" / "pumps"
# the sample's named things: maker, product lines, drive, part numbers, fault codes
PUMP_NAMES = re.compile(r"\b(Aquilon|Vortex|AquiDrive|VX[SM]?-\d+|AD-7|AQ-[A-Z0-9-]+|E[0-2]\d)\b")
NGRAM = 7  # words: a shared run this long would be a copied statement


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(ASSETS)


@pytest.fixture(scope="module")
def rows(tokenizer):
    return reading.lessons(400, tokenizer, seed=7)


def _pump_texts() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in sorted((PUMPS / "docs").glob("*.md"))]
    texts += [p.read_text(encoding="utf-8", errors="replace") for p in sorted((PUMPS / "extra").iterdir())
              if p.suffix != ".pdf"]
    for line in (PUMPS / "train.jsonl").read_text(encoding="utf-8").splitlines():
        texts += [m["content"] for m in json.loads(line)["messages"]]
    for line in (PUMPS / "heldout.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        texts += [row["question"], row["answer"]]
    return texts


def _words(text: str) -> list[str]:
    return re.findall(r"[\w·³°%.-]+", text.lower())


def _ngrams(text: str) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i : i + NGRAM]) for i in range(len(words) - NGRAM + 1)}


def _lesson_text(row: dict) -> str:
    """Everything a lesson teaches, less the prompt contract's fixed sentences (shared with every prompt by design)."""
    text = "\n".join(m["content"] for m in row["messages"])
    for fixed in (INSTRUCTION, NO_SOURCES, ABSTAIN):
        text = text.replace(fixed, " ")
    return text


def test_lessons_share_no_fact_and_no_name_with_the_sample_domain(rows):
    pumps = _pump_texts()
    lessons = [_lesson_text(r) for r in rows]
    named = sorted({m.group(0) for text in lessons for m in PUMP_NAMES.finditer(text)})
    assert not named, f"pump names in the pre-training lessons: {named}"
    world = set(reading.BRANDS) | {w for parts in reading.PRODUCTS.values() for w in parts} | set(reading.PRODUCTS)
    pump_words = set(_words("\n".join(pumps)))
    assert not {b.lower() for b in reading.BRANDS} & pump_words, "a lesson brand occurs in the sample"
    assert world - set(reading.PRODUCTS) - set(reading.BRANDS), "the product parts list is empty"
    pump_grams = set().union(*(_ngrams(t) for t in pumps))
    shared = set().union(*(_ngrams(t) for t in lessons)) & pump_grams
    assert not shared, f"{len(shared)} {NGRAM}-word runs shared with data/pumps, e.g. {sorted(shared)[:3]}"


def test_the_pump_checks_would_catch_a_copied_fact():
    """The fact test must be able to fail: one sentence of a manual in a lesson trips it."""
    sentence = "At its best efficiency point the VX-100 delivers 25 m³/h against a total head of 32 m."
    assert PUMP_NAMES.search(sentence)
    assert _ngrams(sentence.replace("VX-100", "LK-40")) & set().union(*(_ngrams(t) for t in _pump_texts()))


def test_answerable_lessons_copy_the_gold_sentence_and_cite_its_source(rows):
    read = [r for r in rows if r["kind"] == "read"]
    assert len(read) > 150
    for row in read:
        prompt, answer = row["messages"][-2]["content"], row["messages"][-1]["content"]
        assert prompt.startswith(INSTRUCTION) and "\n\nQuestion: " in prompt
        sentence, number = re.fullmatch(r"(.+) \[(\d+)\]", answer).groups()
        block = prompt.split(f"\n[{number}] ", 1)[1].split("\n\n[", 1)[0].split("\n\nQuestion: ", 1)[0]
        table = re.fullmatch(r"The (.+) of the .+ is (.+)\.", sentence)  # a table row, said as a sentence
        in_table = table is not None and f"| {table[1].capitalize()} | {table[2]} |" in block
        assert sentence in block or in_table, f"the cited source [{number}] does not hold {sentence!r}"


def test_unanswerable_lessons_abstain_and_their_sources_lack_the_asked_model_or_fact(rows):
    for row in rows:
        if row["kind"] in ("absent", "missing", "none"):
            assert row["messages"][-1]["content"] == ABSTAIN
    kinds = {r["kind"] for r in rows}
    assert {"read", "absent", "missing", "none", "plain"} <= kinds
    missing = [r for r in rows if r["kind"] == "missing"]
    for row in missing:  # the model asked about (its code, e.g. LK-40) appears in no source
        prompt = row["messages"][-2]["content"]
        question = prompt.rsplit("Question: ", 1)[1]
        code = re.search(r"\b[A-Z]{2,3}-\d+\b", question)
        if code:  # (a question about a brand-wide term names no model)
            assert not re.search(rf"\b{code[0]}\b", prompt.split("Question: ")[0])
    assert sum(bool(re.search(r"\b[A-Z]{2,3}-\d+\b", r["messages"][-2]["content"])) for r in missing) > 10


def test_lessons_are_deterministic(tokenizer, rows):
    assert reading.lessons(400, tokenizer, seed=7) == rows
    assert reading.lessons(20, tokenizer, seed=8) != rows[:20]


_DIGEST = """
import hashlib, json, sys
from transformers import AutoTokenizer
from phi3ray.models import reading
from phi3ray.models.tiny import ASSETS
rows = reading.lessons(200, AutoTokenizer.from_pretrained(ASSETS), seed=7)
print(hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest())
"""


def test_lessons_do_not_depend_on_the_interpreters_hash_seed():
    """Python salts str hashes per process, so iterating a set of strings reorders between runs: the lessons
    (and the weights pre-trained on them) must come out the same in every process."""
    digests = set()
    for hash_seed in ("1", "2"):  # 1 made a lesson that 2 did not (a 7-word run of data/pumps), before the fix
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-c", _DIGEST], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip().splitlines()[-1])
    assert len(digests) == 1, digests


@pytest.fixture(scope="module")
def open_rows(tokenizer):
    return reading.open_lessons(300, tokenizer, seed=7)


def test_open_lessons_are_made_of_vocabulary_words_and_share_no_fact_or_name_with_the_sample(tokenizer, open_rows):
    words = reading.vocabulary_words(tokenizer)
    assert len(words) > 1000 and all(re.fullmatch(r"[a-z]{3,}", w) for w in words)
    lessons = [_lesson_text(r) for r in open_rows]
    named = sorted({m.group(0) for text in lessons for m in PUMP_NAMES.finditer(text)})
    assert not named, f"pump names in the open lessons: {named}"
    shared = set().union(*(_ngrams(t) for t in lessons)) & set().union(*(_ngrams(t) for t in _pump_texts()))
    assert not shared, f"{len(shared)} {NGRAM}-word runs shared with data/pumps, e.g. {sorted(shared)[:3]}"


def test_open_lessons_copy_the_one_statement_about_the_whole_name_or_abstain(open_rows):
    kinds = [r["kind"] for r in open_rows]
    assert 0.1 < kinds.count("absent") / len(kinds) < 0.3 and set(kinds) == {"read", "absent"}
    near_misses = 0
    for row in open_rows:
        prompt, answer = row["messages"][-2]["content"], row["messages"][-1]["content"]
        assert prompt.startswith(INSTRUCTION)
        sources = prompt.split("\n\nQuestion: ")[0]
        if row["kind"] == "absent":
            assert answer == ABSTAIN
            continue
        statement, number = re.fullmatch(r"(.+) \[(\d+)\]", answer).groups()
        block = sources.split(f"\n[{number}] ", 1)[1].split("\n\n[", 1)[0]
        assert statement in block and sources.count(statement) == 1
        entity = " ".join(block.split()[:2])  # a source's title is its entity's name and a word
        assert entity in statement and entity in prompt.rsplit("Question: ", 1)[1]
        titles = re.findall(r"^\[\d+\] (\w+ \w+) ", sources, re.M)
        near_misses += any(t != entity and t.split()[0] == entity.split()[0] for t in titles)
    assert near_misses > 0.8 * kinds.count("read")  # a sibling's name shares the first word: only the whole name finds it


def test_open_lessons_are_deterministic(tokenizer, open_rows):
    assert reading.open_lessons(300, tokenizer, seed=7) == open_rows
    assert reading.open_lessons(20, tokenizer, seed=8) != open_rows[:20]
