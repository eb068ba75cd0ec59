"""Split documents into chunks the embedder can take whole: headings first, then paragraphs, lines, words.

Sizes and overlaps are counted with the embedder's own tokenizer. Each chunk keeps its document's title
and its section heading; they are embedded with the text ("<title> — <section>" on the first line) and
stored next to it, so a chunk makes sense on its own and can be cited.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import asdict, dataclass

from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from phi3ray.errors import DocumentReadError
from phi3ray.rag.documents import Document

ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/phi3ray/chunks")
PARAGRAPH, LINE, WORD, NONE = 3, 2, 1, 0  # how good a place between two tokens is for a cut


@dataclass
class Chunk:
    object_id: str  # uuid5(doc_id, chunk_index, content_hash): the same chunk always gets the same id
    doc_id: str
    title: str
    section: str
    source: str
    text: str
    chunk_index: int  # position in the document, from 0
    content_hash: str  # sha256 of embed_text

    @property
    def embed_text(self) -> str:
        return embed_text(self.title, self.section, self.text)

    def to_row(self) -> dict:
        return asdict(self)


def heading_line(title: str, section: str) -> str:
    return f"{title} — {section}" if section else title


def embed_text(title: str, section: str, text: str) -> str:
    """What the embedder sees: the heading line, then the chunk's text."""
    return heading_line(title, section) + "\n" + text


def chunk_id(doc_id: str, chunk_index: int, content_hash: str) -> str:
    """The deterministic Weaviate object id of a chunk."""
    return str(uuid.uuid5(ID_NAMESPACE, f"{doc_id}\x1f{chunk_index}\x1f{content_hash}"))


def make_chunk(doc: Document, section: str, text: str, index: int) -> Chunk:
    digest = hashlib.sha256(embed_text(doc.title, section, text).encode()).hexdigest()
    return Chunk(chunk_id(doc.doc_id, index, digest), doc.doc_id, doc.title, section, doc.source, text, index, digest)


def chunk_document(
    doc: Document, tokenizer: PreTrainedTokenizerBase, max_tokens: int, overlap_tokens: int
) -> list[Chunk]:
    """Chunks of at most max_tokens tokens (heading line included); neighbours in a section share overlap_tokens."""
    chunks: list[Chunk] = []
    for section in doc.sections:
        header = len(tokenizer(heading_line(doc.title, section.heading) + "\n", add_special_tokens=False).input_ids)
        budget = max_tokens - header
        if budget <= overlap_tokens:
            raise DocumentReadError(
                doc.source,
                f"title and heading {heading_line(doc.title, section.heading)!r} take {header} of "
                f"chunk.max_tokens={max_tokens} tokens; raise chunk.max_tokens or lower chunk.overlap_tokens",
            )
        for text in split_text(section.text, tokenizer, budget, overlap_tokens):
            chunks.append(make_chunk(doc, section.heading, text, len(chunks)))
    return chunks


def split_text(text: str, tokenizer: PreTrainedTokenizerBase, budget: int, overlap: int) -> list[str]:
    """Cut text into pieces of at most budget tokens, at the best place (paragraph > line/sentence > word).

    Pieces are slices of the original text cut between tokens, never inside one; a piece is at least a
    third of the budget unless it is the last. Consecutive pieces repeat about `overlap` tokens.
    """
    text = text.strip()
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)["offset_mapping"]
    n = len(offsets)
    if n <= budget:
        return [text] if text else []
    levels = [NONE] + [_cut_level(text, offsets[i - 1], offsets[i]) for i in range(1, n)]  # levels[i]: before token i
    pieces, start = [], 0
    while True:
        limit = min(n, start + budget)
        if limit == n:
            end = n
        else:
            lowest = start + max(1, budget // 3)
            end = max(range(lowest, limit + 1), key=lambda i: (levels[i], i))  # best level, then longest
        pieces.append(text[offsets[start][0] : offsets[end - 1][1]])
        if end == n:
            return pieces
        start = _overlap_start(levels, start, end, overlap)


def _overlap_start(levels: list[int], start: int, end: int, overlap: int) -> int:
    """Where the next piece begins: about `overlap` tokens before end, at the best cut in the first half."""
    if overlap == 0:
        return end
    first = max(end - overlap, start + 1)
    candidates = range(first, max(first, end - overlap // 2) + 1)
    return max(candidates, key=lambda i: (levels[i], -i))


def _cut_level(text: str, before: tuple[int, int], after: tuple[int, int]) -> int:
    gap = text[before[1] : after[0]]
    if "\n" in gap:
        return PARAGRAPH if gap.count("\n") > 1 else LINE
    if gap and text[before[1] - 1] in ".!?;:":
        return LINE  # a sentence end counts like a line break
    return WORD if gap else NONE
