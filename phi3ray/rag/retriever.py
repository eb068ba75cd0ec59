"""Hybrid retrieval (BM25 + our query vector) over the chunk collection, with optional metadata filters."""

from __future__ import annotations

import logging

import numpy as np
import weaviate
from weaviate.classes.query import Filter, HybridFusion, MetadataQuery

from phi3ray.config import RetrieverConfig
from phi3ray.errors import ConfigValueError
from phi3ray.rag.chunking import embed_text
from phi3ray.rag.connection import connect, describe
from phi3ray.rag.embedder import shared_embedder
from phi3ray.rag.prompt import RetrievedChunk
from phi3ray.rag.schema import check_collection
from phi3ray.rag.store import ChunkStore
from phi3ray.rag.support import WordVectors, bm25_idf, coverage, terms, weaviate_words

logger = logging.getLogger(__name__)

FUSIONS = {"relative_score": HybridFusion.RELATIVE_SCORE, "ranked": HybridFusion.RANKED}
FILTERABLE = ("source", "doc_id")  # metadata a search may be restricted to
RETURNED = ["doc_id", "title", "section", "source", "text", "chunk_index"]
IDF_CACHE = 100_000  # terms whose idf a Retriever keeps


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
        with self.store.unavailable_as_error():
            result = self.collection.query.hybrid(
                query,
                vector=vector,
                alpha=alpha,
                fusion_type=FUSIONS[self.cfg.fusion],
                limit=top_k or self.cfg.top_k,
                filters=build_filter(filters),
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
        chunks = [c for c in chunks if c.score >= self.cfg.min_score and (floor is None or c.similarity >= floor)]
        cut = self.cfg.min_coverage
        if cut is None or not gate:
            return chunks
        question = query if question is None else question
        for chunk in chunks:
            chunk.coverage = self.coverage(question, [chunk])
        return chunks if self.coverage(question, chunks) >= cut else []

    def coverage(self, question: str, chunks: list[RetrievedChunk]) -> float:
        """The idf-weighted share of question's terms that chunks hold together; 0.0 for no chunk."""
        if not chunks:
            return 0.0
        texts = [embed_text(c.title, c.section, c.text) for c in chunks]
        with self.store.unavailable_as_error():
            return coverage(terms(question), texts, self.idf, self.word_vectors)

    def idf(self, word: str) -> float:
        """BM25 idf of word in the collection, counted once per Retriever (a re-ingestion shifts it little)."""
        if word not in self._idf:
            if self._chunks is None:
                self._chunks = self.store.count()
            if len(self._idf) >= IDF_CACHE:  # question terms come from users: keep the cache bounded
                self._idf.clear()
            holding = min(self.store.holding(weaviate_words(word)), self._chunks)  # the count may have grown since
            self._idf[word] = bm25_idf(holding, self._chunks)
        return self._idf[word]

    def close(self) -> None:
        if self._own_client and self.client is not None:
            self.client.close()
        self.client = None


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity of two vectors (ours are unit length already; a collection made elsewhere may not be)."""
    u, v = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(u @ v / max(np.linalg.norm(u) * np.linalg.norm(v), 1e-12))


def build_filter(filters: dict[str, str | list[str]] | None):
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
