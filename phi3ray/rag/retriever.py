"""Hybrid retrieval (BM25 + our query vector) over the chunk collection, with optional metadata filters."""

from __future__ import annotations

import logging

import numpy as np
import weaviate
from weaviate.classes.query import Filter, HybridFusion, MetadataQuery
from weaviate.collections.classes.filters import _Filters

from phi3ray.config import RetrieverConfig
from phi3ray.errors import ConfigValueError
from phi3ray.rag.chunking import embed_text, heading_line
from phi3ray.rag.connection import connect, describe
from phi3ray.rag.embedder import shared_embedder
from phi3ray.rag.prompt import RetrievedChunk
from phi3ray.rag.schema import check_collection
from phi3ray.rag.store import ChunkStore, holding_filter
from phi3ray.rag.support import WordVectors, bm25_idf, coverage, holds, identifiers, terms, weaviate_forms

logger = logging.getLogger(__name__)

FUSIONS = {"relative_score": HybridFusion.RELATIVE_SCORE, "ranked": HybridFusion.RANKED}
FILTERABLE = ("source", "doc_id")  # metadata a search may be restricted to
RETURNED = ["doc_id", "title", "section", "source", "text", "chunk_index"]
IDF_CACHE = 100_000  # terms whose idf a Retriever keeps
PIN_DEPTH = 4  # the search for a chunk about an identifier looks this many times top_k deep


class Retriever:
    """Queries one collection; connects if no client is given and loads the embedder once."""

    def __init__(self, cfg: RetrieverConfig, client: weaviate.WeaviateClient | None = None):
        self.cfg = cfg
        self._own_client = client is None
        self._idf: dict[str, float] = {}
        self._chunks: int | None = None  # objects in the collection, for idf
        self.client = client if client is not None else connect(cfg.weaviate)
        try:
            self.embedder = shared_embedder(cfg.embedder)
            self.word_vectors = WordVectors(self.embedder.embed)
            where = describe(cfg.weaviate)
            self.store = ChunkStore(self.client, self.client.collections.get(cfg.collection), where)
            with self.store.unavailable_as_error():
                self.collection = check_collection(self.client, cfg.collection, self.embedder.dimension, where)
        except BaseException:
            self.close()
            raise

    def search(
        self,
        query: str,
        top_k: int | None = None,
        alpha: float | None = None,
        filters: dict[str, str | list[str]] | None = None,
        question: str | None = None,
        gate: bool = True,
    ) -> list[RetrievedChunk]:
        """The best chunks for query, best first; chunks below cfg.min_score or cfg.min_similarity are dropped,
        and all of them when together they cover less than cfg.min_coverage of the question (rag.support).
        A chunk about an identifier the question names comes first when the others are about none
        (_pin_identifiers); its score is from its own search, among the chunks that hold the identifier.

        Args:
            alpha: 0 = BM25 only, 1 = vector only; None = cfg.alpha.
            filters: {"source" | "doc_id": a value or a list of values (any of them)}.
            question: what the sources must answer (a conversation's last user turn); None = query.
            gate: False keeps the chunks whatever their coverage (RAG training rows fetching a gold chunk).
        """
        alpha = self.cfg.alpha if alpha is None else alpha
        if not 0.0 <= alpha <= 1.0:
            raise ConfigValueError("alpha", alpha, "must be between 0 and 1")
        vector = self.embedder.embed_query(query)
        self.store.require_live()  # a query to a stopped server would be retried for about a minute
        question = query if question is None else question
        limit, where = top_k or self.cfg.top_k, build_filter(filters)
        chunks = self._hybrid(query, vector, alpha, limit, where)
        names = list(dict.fromkeys(identifiers(question) + identifiers(query)))  # the question's first
        chunks = self._pin_identifiers(query, vector, alpha, limit, where, chunks, names)
        cut = self.cfg.min_coverage
        if cut is None or not gate:
            return chunks
        for chunk in chunks:
            chunk.coverage = self.coverage(question, [chunk])
        return chunks if self.coverage(question, chunks) >= cut else []

    def _hybrid(
        self, query: str, vector: list[float], alpha: float, limit: int, where: _Filters | None
    ) -> list[RetrievedChunk]:
        """The hybrid search's best chunks, those below cfg.min_score or cfg.min_similarity left out."""
        with self.store.unavailable_as_error():
            result = self.collection.query.hybrid(
                query,
                vector=vector,
                alpha=alpha,
                fusion_type=FUSIONS[self.cfg.fusion],
                limit=limit,
                filters=where,
                return_metadata=MetadataQuery(score=True),
                return_properties=RETURNED,
                include_vector=True,  # 384 floats per chunk: the similarity below, without a second query
            )
        chunks = [
            RetrievedChunk(
                object_id=str(obj.uuid),
                doc_id=obj.properties["doc_id"],
                title=obj.properties["title"],
                section=obj.properties["section"] or "",
                source=obj.properties["source"],
                text=obj.properties["text"],
                chunk_index=int(obj.properties["chunk_index"]),
                score=float(obj.metadata.score or 0.0),
                similarity=cosine(vector, next(iter(obj.vector.values()))),
            )
            for obj in result.objects
        ]
        floor = self.cfg.min_similarity
        return [c for c in chunks if c.score >= self.cfg.min_score and (floor is None or c.similarity >= floor)]

    def _pin_identifiers(
        self, query: str, vector: list[float], alpha: float, limit: int, where: _Filters | None,
        chunks: list[RetrievedChunk], names: list[str],
    ) -> list[RetrievedChunk]:
        """chunks with, first, a chunk about each of names that no chunk's heading names: one more search per
        such identifier among the chunks that hold it, and of those the best whose heading names it ("E21 Keypad
        disconnected"), or the best of them if none of chunks holds it at all. To stay within limit, the lowest
        ranked chunks that hold none of names make way first; with more names than limit, the last ones lose.

        Hybrid search ranks a code by its parts: for "Explain fault E21 on the AD-7" the fault-code overview
        and the E16 and E25 sections outrank "E21 Keypad disconnected", the one chunk that answers."""
        pins: list[RetrievedChunk] = []
        for name in names:
            if any(holds(name, _heading(c)) for c in [*pins, *chunks]):
                continue
            holding = holding_filter(weaviate_forms(name))
            among = holding if where is None else Filter.all_of([where, holding])
            # a wider search: a filter on words also matches "E" and "21" apart; those are not E21
            found = [c for c in self._hybrid(query, vector, alpha, limit * PIN_DEPTH, among) if holds(name, _text(c))]
            about = [c for c in found if holds(name, _heading(c))]
            pick = about or ([] if any(holds(name, _text(c)) for c in [*pins, *chunks]) else found)
            if pick:
                pins.append(pick[0])
        if not pins:
            return chunks
        pinned = {c.object_id for c in pins}
        rest = [c for c in chunks if c.object_id not in pinned]
        named = [any(holds(name, _text(c)) for name in names) for c in rest]
        while rest and len(pins) + len(rest) > limit:
            i = max((i for i, n in enumerate(named) if not n), default=len(rest) - 1)
            del rest[i], named[i]
        return (pins + rest)[:limit]

    def coverage(self, question: str, chunks: list[RetrievedChunk]) -> float:
        """The idf-weighted share of question's terms that chunks hold together; 0.0 for no chunk."""
        if not chunks:
            return 0.0
        with self.store.unavailable_as_error():
            return coverage(terms(question), [_text(c) for c in chunks], self.idf, self.word_vectors)

    def idf(self, word: str) -> float:
        """BM25 idf of word in the collection, counted once per Retriever (a re-ingestion shifts it little)."""
        if word not in self._idf:
            if self._chunks is None:
                self._chunks = self.store.count()
            if len(self._idf) >= IDF_CACHE:  # question terms come from users: keep the cache bounded
                self._idf.clear()
            holding = min(self.store.holding(weaviate_forms(word)), self._chunks)  # the count may have grown since
            self._idf[word] = bm25_idf(holding, self._chunks)
        return self._idf[word]

    def close(self) -> None:
        if self._own_client and self.client is not None:
            self.client.close()
        self.client = None


def _text(chunk: RetrievedChunk) -> str:
    """What a chunk holds: its heading line and text, as the embedder saw them."""
    return embed_text(chunk.title, chunk.section, chunk.text)


def _heading(chunk: RetrievedChunk) -> str:
    """What a chunk is about: its document's title and its section's heading."""
    return heading_line(chunk.title, chunk.section)


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity of two vectors (ours are unit length already; a collection made elsewhere may not be)."""
    u, v = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(u @ v / max(np.linalg.norm(u) * np.linalg.norm(v), 1e-12))


def build_filter(filters: dict[str, str | list[str]] | None) -> _Filters | None:
    """{"doc_id": "a"} or {"source": ["x", "y"]} -> a Weaviate filter (all keys must match); None if empty."""
    if not filters:
        return None
    parts = []
    for key, value in filters.items():
        if key not in FILTERABLE:
            raise ConfigValueError(f"filters.{key}", value, f"can filter on {', '.join(FILTERABLE)}")
        values = [value] if isinstance(value, str) else list(value)
        if not values or not all(isinstance(v, str) for v in values):
            raise ConfigValueError(f"filters.{key}", value, "must be a string or a non-empty list of strings")
        prop = Filter.by_property(key)
        parts.append(prop.equal(values[0]) if len(values) == 1 else prop.contains_any(values))
    return parts[0] if len(parts) == 1 else Filter.all_of(parts)
