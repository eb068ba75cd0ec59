"""Ingest documents into Weaviate with Ray Data: read and chunk (tasks), embed (actor pool), write (driver).

The driver holds the only Weaviate client, so embedded mode starts exactly one server: Ray workers
never connect. Object ids are deterministic, so a re-run skips what is already stored, and sync=true
deletes what this run's documents no longer contain.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import ray
import weaviate

from phi3ray.config import EmbedderConfig, IngestConfig
from phi3ray.console import quiet_ray_data, quiet_third_party
from phi3ray.errors import DocumentReadError, IngestWriteError, UnreadableDocumentsError
from phi3ray.placement import resource_options, room_for
from phi3ray.rag.chunking import chunk_document, embed_text
from phi3ray.rag.connection import connect, describe
from phi3ray.rag.documents import find_documents, read_documents
from phi3ray.rag.embedder import Embedder, load_embedder_tokenizer, shared_embedder
from phi3ray.rag.schema import ensure_collection
from phi3ray.rag.store import ChunkStore

logger = logging.getLogger(__name__)

CHUNK_COLUMNS = ("object_id", "doc_id", "title", "section", "source", "text", "chunk_index", "content_hash")


@dataclass
class IngestSummary:
    documents: int = 0  # documents read (a JSONL file holds several)
    chunks: int = 0  # chunks they make
    written: int = 0  # new objects written
    reused: int = 0  # of which vectors were taken from stored chunks with the same text (not embedded again)
    skipped: int = 0  # chunks already stored under the same id
    deleted: int = 0  # objects removed by sync=true
    relocated: int = 0  # stored chunks whose unchanged document moved: their source now names the new place
    failed: int = 0  # objects Weaviate refused
    seconds: float = 0.0
    unreadable: list[str] = field(default_factory=list)  # "<path>: <why>" of documents that could not be parsed
    failures: list[str] = field(default_factory=list)  # "<source> chunk <i> (<uuid>): <why>"

    def line(self) -> str:
        return (
            f"documents={self.documents} chunks={self.chunks} written={self.written} reused={self.reused} "
            f"skipped={self.skipped} deleted={self.deleted} relocated={self.relocated} failed={self.failed} "
            f"unreadable={len(self.unreadable)} "
            f"time={self.seconds:.1f}s ({self.written / max(self.seconds, 1e-9):.1f} chunks/s written)"
        )

    def check_readable(self, on_error: str) -> None:
        """data.on_error=raise: UnreadableDocumentsError when any input could not be read; skip: nothing."""
        if self.unreadable and on_error == "raise":
            raise UnreadableDocumentsError(self.unreadable, self.written)


def chunk_file(row: dict, model: str, max_tokens: int, overlap_tokens: int) -> list[dict]:
    """Ray task body: one file -> its chunk rows, plus one row per error (empty fields, `error` set)."""
    tokenizer = load_embedder_tokenizer(model)
    docs, errors = read_documents(row["path"])
    rows = []
    for doc in docs:
        try:
            rows += [{**c.to_row(), "error": ""} for c in chunk_document(doc, tokenizer, max_tokens, overlap_tokens)]
        except DocumentReadError as err:
            errors.append(err)
    empty = dict.fromkeys(CHUNK_COLUMNS, "") | {"chunk_index": -1}
    return rows + [{**empty, "source": err.path, "error": err.why} for err in errors]


def select_rows(batch: pa.Table, object_ids: frozenset[str], dropped: frozenset[tuple[str, str]]) -> pa.Table:
    """Ray Data batch body: the rows whose id is wanted and whose (doc_id, source) was not dropped."""
    ids, doc_ids, sources = (batch[c].to_pylist() for c in ("object_id", "doc_id", "source"))
    keep = [i in object_ids and (d, s) not in dropped for i, d, s in zip(ids, doc_ids, sources)]
    return batch.filter(pa.array(keep, type=pa.bool_()))


class EmbedPool(NamedTuple):
    actors: int
    gpus: int  # per actor
    cpus: int  # per actor

    def __str__(self) -> str:
        each = f"{self.gpus} GPU" if self.gpus else f"{self.cpus} CPU(s)"
        return f"{self.actors} embedding actor(s) of {each}"


def embed_pool(cfg: IngestConfig, resources: dict[str, float], rows: int) -> EmbedPool:
    """The actor pool that embeds `rows` chunks on a cluster with these resources.

    use_gpu: one actor per GPU up now (at least one: the autoscaler adds GPU nodes for it), else one per
    embed_actor_cpus CPUs, and no more than the nodes with embed_actor_resources hold; num_embed_actors > 0 fixes the
    count. Never more actors than batches to embed.
    """
    per_cpus = cfg.embed_actor_cpus
    auto = max(1, int(resources.get("GPU", 0))) if cfg.use_gpu else max(1, int(resources.get("CPU", 1)) // per_cpus)
    room = room_for(cfg.embed_actor_resources, resources)  # a fixed pool waits for every actor: only those that fit
    auto = auto if not room else min(auto, room)
    actors = max(1, min(cfg.num_embed_actors or auto, -(-rows // cfg.batch_size)))
    return EmbedPool(actors, 1, 1) if cfg.use_gpu else EmbedPool(actors, 0, per_cpus)


class EmbedChunks:
    """Ray Data actor: adds a `vector` column (B, D) to a batch of chunk rows."""

    def __init__(self, cfg: EmbedderConfig):
        quiet_third_party()  # this actor's process is an entry point too
        self.embedder = Embedder(cfg)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [embed_text(t, s, x) for t, s, x in zip(batch["title"], batch["section"], batch["text"])]
        batch["vector"] = self.embedder.embed(texts)  # (B, D)
        return batch


class Ingestion:
    """One ingestion run: setup, chunk, write (embedding streams into it), sync, in that order."""

    def __init__(self, cfg: IngestConfig, client: weaviate.WeaviateClient | None = None):
        self.cfg = cfg
        self.client, self._own_client = client, client is None
        self.summary = IngestSummary()
        self.embed_actors = 0  # the pool size write() chose
        self._started = time.monotonic()

    def setup(self) -> None:
        """Find the documents, connect, load the embedder, create or check the collection."""
        self.paths = find_documents(self.cfg.data.documents)
        if not ray.is_initialized():
            ray.init()  # joins the cluster under `ray job submit`, else starts Ray in this process
        quiet_ray_data()
        self.embedder = shared_embedder(self.cfg.retriever.embedder)
        weaviate_cfg = self.cfg.retriever.weaviate
        if self.client is None:
            self.client = connect(weaviate_cfg)
        collection = ensure_collection(
            self.client, self.cfg.retriever.collection, self.cfg.retriever.embedder.model, self.embedder.dimension
        )
        self.store = ChunkStore(self.client, collection, describe(weaviate_cfg))
        logger.info(
            "ingesting %d file(s) into %s at %s", len(self.paths), self.cfg.retriever.collection, self.store.where
        )

    def chunk(self) -> None:
        """Read and chunk every file in Ray tasks; decide what to write (new ids) and what is already stored."""
        chunk_cfg = self.cfg.chunk
        cpus = int(ray.cluster_resources().get("CPU", 1))
        blocks = min(len(self.paths), 2 * cpus)
        files = ray.data.from_items([{"path": p} for p in self.paths], override_num_blocks=blocks)
        self.chunks = files.flat_map(
            chunk_file,
            fn_kwargs={
                "model": self.cfg.retriever.embedder.model,
                "max_tokens": chunk_cfg.max_tokens,
                "overlap_tokens": chunk_cfg.overlap_tokens,
            },
        ).materialize()
        columns = ["object_id", "doc_id", "source", "content_hash", "error"]  # metadata only: texts stay in Ray
        rows = [row for batch in self.chunks.iter_batches(batch_size=None, batch_format="pyarrow")
                for row in batch.select(columns).to_pylist()]  # fmt: skip
        for row in rows:
            if row["error"]:
                self.summary.unreadable.append(f"{row['source']}: {row['error']}")
                logger.warning("cannot read %s: %s", row["source"], row["error"])
        kept = self._drop_duplicate_doc_ids([r for r in rows if not r["error"]])
        self.run_chunks = {r["object_id"]: r["content_hash"] for r in kept}  # id -> content hash, this run's chunks
        self.run_doc_ids = {r["doc_id"] for r in kept}
        self.existing = self.store.existing()
        self.to_write = self.run_chunks.keys() - self.existing.keys()
        self.moved = {
            r["object_id"]: r["source"]
            for r in kept
            if r["object_id"] in self.existing and self.existing[r["object_id"]].source != r["source"]
        }
        self.summary.documents, self.summary.chunks = len(self.run_doc_ids), len(self.run_chunks)
        self.summary.skipped = len(self.run_chunks) - len(self.to_write)
        logger.info(
            "%d document(s), %d chunk(s): %d new, %d already stored",
            self.summary.documents, self.summary.chunks, len(self.to_write), self.summary.skipped,
        )

    def write(self) -> None:
        """Embed the new chunks in an actor pool and batch-import them from the driver as they arrive.

        Stored chunks of documents that moved keep their vectors; only their source is updated.
        """
        if self.moved:
            self.summary.relocated = self.store.set_sources(self.moved)
            logger.info("%d stored chunk(s) of moved documents now cite their new source", self.summary.relocated)
        if not self.to_write:
            return
        self.store.require_live()  # fail now, not after embedding everything
        reusable = self.store.vectors_for(self.run_chunks[oid] for oid in self.to_write) if self.existing else {}
        reused = {oid for oid in self.to_write if self.run_chunks[oid] in reusable}
        self.summary.reused = len(reused)
        result = self.store.write(
            self._rows_with_vectors(reused, reusable),
            batch_size=self.cfg.write_batch_size,
            max_retries=self.cfg.write_retries,
        )
        self.summary.written, self.summary.failures = result.written, result.failures
        self.summary.failed = len(result.failures)
        for failure in result.failures:
            logger.error("not written: %s", failure)

    def _rows_with_vectors(self, reused: set[str], vectors: dict[str, np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
        """Batches of the new rows with a `vector` column: the reused ones first, then the actor pool's output."""
        if reused:
            logger.info("%d new chunk(s) have the text of a stored chunk: its vector is reused", len(reused))
            for batch in self._new_rows(reused).iter_batches(batch_size=self.cfg.batch_size, batch_format="numpy"):
                batch["vector"] = np.stack([vectors[h] for h in batch["content_hash"]])
                yield batch
        to_embed = self.to_write - reused
        if not to_embed:
            return
        pool = embed_pool(self.cfg, ray.cluster_resources(), len(to_embed))
        self.embed_actors = pool.actors
        logger.info("embedding %d chunk(s) with %s", len(to_embed), pool)
        # One block per embedding batch, so that vectors stream to the writer (and the progress bar moves) batch
        # by batch; materialized first, so that the actors may take every CPU without starving these tasks.
        new_chunks = self._new_rows(to_embed).repartition(target_num_rows_per_block=self.cfg.batch_size).materialize()
        embedded = new_chunks.map_batches(
            EmbedChunks,
            fn_constructor_kwargs={"cfg": self.cfg.retriever.embedder},
            compute=ray.data.ActorPoolStrategy(size=pool.actors),
            num_gpus=pool.gpus,
            num_cpus=pool.cpus,  # Ray sets OMP_NUM_THREADS, so torch's threads, to it
            **resource_options(self.cfg.embed_actor_resources),
            batch_size=self.cfg.batch_size,
        )
        yield from embedded.iter_batches(batch_size=self.cfg.batch_size, batch_format="numpy")

    def _new_rows(self, object_ids: set[str]) -> ray.data.Dataset:
        """This run's chunk rows with these ids, less those of a source dropped for reusing a doc_id."""
        return self.chunks.map_batches(
            select_rows,
            fn_kwargs={"object_ids": frozenset(object_ids), "dropped": frozenset(self.dropped)},
            batch_format="pyarrow",
            batch_size=None,
        )

    def sync(self) -> None:
        """sync=true: delete stored chunks of this run's documents that it no longer makes, and of vanished documents.

        Vanished documents are only deleted when every input was read: a file that failed to parse
        this time keeps its chunks from the last good run.
        """
        if not self.cfg.sync:
            return
        stored = {oid: chunk.doc_id for oid, chunk in self.existing.items()}
        stale = [oid for oid, doc_id in stored.items() if oid not in self.run_chunks and doc_id in self.run_doc_ids]
        vanished = [oid for oid, doc_id in stored.items() if doc_id not in self.run_doc_ids]
        if vanished and self.summary.unreadable:
            logger.warning(
                "sync: keeping %d chunk(s) of documents not in this run, because %d input(s) could not be read",
                len(vanished), len(self.summary.unreadable),
            )
            vanished = []
        self.summary.deleted = self.store.delete(stale + vanished)

    def finish(self) -> IngestSummary:
        """Log the summary; raise IngestWriteError if any object failed (the others are written)."""
        self.summary.seconds = time.monotonic() - self._started
        logger.info("ingestion summary: %s", self.summary.line())
        if self.summary.failures:
            raise IngestWriteError(self.summary.failures, self.summary.written)
        return self.summary

    def close(self) -> None:
        if self._own_client and self.client is not None:
            self.client.close()  # embedded mode: stops the server this run started
            self.client = None

    def _drop_duplicate_doc_ids(self, rows: list[dict]) -> list[dict]:
        """Two sources with one doc_id would overwrite each other's chunks: keep the first, report the rest."""
        sources: dict[str, list[str]] = defaultdict(list)
        for row in rows:
            if row["source"] not in sources[row["doc_id"]]:
                sources[row["doc_id"]].append(row["source"])
        dropped = {(doc_id, s) for doc_id, srcs in sources.items() for s in srcs[1:]}
        self.dropped = dropped
        for doc_id, source in sorted(dropped):
            self.summary.unreadable.append(f"{source}: doc_id {doc_id!r} is already used by {sources[doc_id][0]}")
        return [r for r in rows if (r["doc_id"], r["source"]) not in dropped]


def ingest(cfg: IngestConfig, client: weaviate.WeaviateClient | None = None) -> IngestSummary:
    """Run a whole ingestion and return its summary (IngestWriteError if objects failed)."""
    run = Ingestion(cfg, client)
    try:
        run.setup()
        run.chunk()
        run.write()
        run.sync()
        return run.finish()
    finally:
        run.close()
