"""Read and write the chunk collection: which ids it holds, batch import with our vectors, deletes.

Every call that fails while Weaviate is not answering becomes WeaviateUnavailableError naming the URL.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import NamedTuple

import numpy as np
import weaviate
from weaviate.classes.query import Filter
from weaviate.collections import Collection
from weaviate.collections.classes.filters import _Filters

from phi3ray.errors import WeaviateUnavailableError

logger = logging.getLogger(__name__)

DELETE_PAGE = 1000  # ids per delete_many request (Weaviate caps results per query at 10,000 by default)
HASH_PAGE = 100  # content hashes per vector lookup
HASH_PAGE_LIMIT = 10_000  # objects per lookup (Weaviate's default cap); a hash cut off by it is embedded again


class StoredChunk(NamedTuple):
    doc_id: str
    source: str


@dataclass
class WriteResult:
    sent: int = 0  # objects handed to the batch
    failures: list[str] = field(default_factory=list)  # "<source> chunk <i> (<uuid>): <why>"

    @property
    def written(self) -> int:
        return self.sent - len(self.failures)


class ChunkStore:
    """One collection of chunks, reached through one client; `where` is its URL for error messages."""

    def __init__(self, client: weaviate.WeaviateClient, collection: Collection, where: str):
        self.client, self.collection, self.where = client, collection, where

    def live(self) -> bool:
        try:
            return self.client.is_live()
        except Exception:  # connection refused, timeouts: all mean "not live"
            return False

    def require_live(self) -> None:
        """Raise WeaviateUnavailableError unless Weaviate answers; the client would retry for a minute first."""
        if not self.live():
            raise WeaviateUnavailableError(self.where, "it does not answer /v1/.well-known/live")

    @contextlib.contextmanager
    def unavailable_as_error(self) -> Iterator[None]:
        """Turn any failure into WeaviateUnavailableError when Weaviate no longer answers."""
        try:
            yield
        except WeaviateUnavailableError:
            raise
        except Exception as err:
            if not self.live():
                raise WeaviateUnavailableError(self.where, _first_line(err)) from err
            raise

    def existing(self) -> dict[str, StoredChunk]:
        """object id -> (doc_id, source) of every object in the collection."""
        self.require_live()
        with self.unavailable_as_error():
            objects = self.collection.iterator(return_properties=["doc_id", "source"])
            return {str(o.uuid): StoredChunk(o.properties["doc_id"], o.properties["source"]) for o in objects}

    def count(self) -> int:
        self.require_live()
        with self.unavailable_as_error():
            return self.collection.aggregate.over_all(total_count=True).total_count

    def holding(self, forms: list[list[str]]) -> int:
        """How many chunks hold all the words of one of forms in their text, title or section (holding_filter)."""
        with self.unavailable_as_error():
            return self.collection.aggregate.over_all(total_count=True, filters=holding_filter(forms)).total_count

    def write(self, batches: Iterable[dict[str, np.ndarray]], batch_size: int, max_retries: float) -> WriteResult:
        """Batch-import rows (chunk columns plus `vector`) under their own ids; collect every failed object.

        Weaviate's client retries a batch with exponential backoff (1, 2, 4 ... s) while the server is
        unavailable; after max_retries it gives up, and we raise WeaviateUnavailableError if the server
        is still gone. We also stop feeding the batch as soon as the server stops answering.
        """
        result, stopped = WriteResult(), False
        now = datetime.now(timezone.utc)
        batches = iter(batches)
        with self.unavailable_as_error(), _batch_max_retries(max_retries), _closed_after(batches):
            with self.collection.batch.fixed_size(batch_size=batch_size, concurrent_requests=2) as batch:
                for rows in batches:
                    if not self.live():
                        stopped = True
                        break
                    for i, object_id in enumerate(rows["object_id"]):
                        batch.add_object(properties=_properties(rows, i, now), uuid=object_id, vector=rows["vector"][i])
                        result.sent += 1
            failed = self.collection.batch.failed_objects
        result.failures = [
            f"{f.object_.properties['source']} chunk {f.object_.properties['chunk_index']} ({f.object_.uuid}): "
            f"{_first_line(f.message)}"
            for f in failed
        ]
        if stopped or (result.failures and not self.live()):
            raise WeaviateUnavailableError(
                self.where,
                f"it stopped answering during the import ({result.written} chunks written, {len(result.failures)} "
                "failed, the rest not sent); start it and run the same command again: ids are deterministic, so "
                "nothing is written twice",
            )
        return result

    def delete(self, object_ids: list[str]) -> int:
        """Delete objects by id; return how many were deleted."""
        deleted = 0
        self.require_live()
        with self.unavailable_as_error():
            for start in range(0, len(object_ids), DELETE_PAGE):
                page = object_ids[start : start + DELETE_PAGE]
                deleted += self.collection.data.delete_many(where=Filter.by_id().contains_any(page)).successful
        return deleted


    def vectors_for(self, content_hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """content hash -> the vector of a stored chunk with exactly that embedded text (title, section, text).

        Lets a run reuse the vectors of chunks that only moved: a paragraph added near the top of a
        document shifts the chunk indices, and so the ids, of every chunk after it, not their text.
        A hash not found here is simply embedded again.
        """
        hashes, found = sorted(set(content_hashes)), {}
        self.require_live()
        with self.unavailable_as_error():
            for start in range(0, len(hashes), HASH_PAGE):
                page = hashes[start : start + HASH_PAGE]
                result = self.collection.query.fetch_objects(
                    filters=Filter.by_property("content_hash").contains_any(page),
                    limit=HASH_PAGE_LIMIT,
                    include_vector=True,
                    return_properties=["content_hash"],
                )
                for obj in result.objects:
                    found[obj.properties["content_hash"]] = np.asarray(obj.vector["default"], dtype=np.float32)
        return found

    def set_sources(self, sources: dict[str, str]) -> int:
        """Point stored objects (id -> new source) at where their document now lives; return how many changed.

        Used when a document moved without changing: its chunk ids, made from its content, stay the same.
        """
        self.require_live()
        with self.unavailable_as_error():
            for object_id, source in sources.items():
                self.collection.data.update(uuid=object_id, properties={"source": source})
        return len(sources)


def _properties(rows: dict[str, np.ndarray], i: int, now: datetime) -> dict:
    return {
        "text": str(rows["text"][i]),
        "title": str(rows["title"][i]),
        "section": str(rows["section"][i]),
        "source": str(rows["source"][i]),
        "doc_id": str(rows["doc_id"][i]),
        "chunk_index": int(rows["chunk_index"][i]),
        "content_hash": str(rows["content_hash"][i]),
        "ingested_at": now,
    }


@contextlib.contextmanager
def _batch_max_retries(max_retries: float) -> Iterator[None]:
    """Bound how long the batch retries an unavailable server (the client's WEAVIATE_BATCH_MAX_RETRIES).

    weaviate-client reads this module-level setting on every batch request; its default (9.3) retries
    for about half an hour, which would leave a job hanging when its server has gone.
    """
    from weaviate.collections.batch import base

    old, base.MAX_RETRIES = base.MAX_RETRIES, max_retries
    try:
        yield
    finally:
        base.MAX_RETRIES = old


@contextlib.contextmanager
def _closed_after(iterator: Iterator) -> Iterator[None]:
    """Close a generator we stopped reading early (Ray Data then stops embedding)."""
    try:
        yield
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def _first_line(err: object) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0][:300]


def holding_filter(forms: list[list[str]]) -> _Filters:
    """Chunks whose text, title or section holds all the words (tokens of Weaviate's word tokenizer) of one of
    forms: [["vx", "300"], ["vx300"]] matches "VX-300" and "VX300" (and "VX 300" or "vx ... 300", which a caller
    tells apart with support.holds)."""
    return Filter.any_of(
        [Filter.by_property(prop).contains_all(words) for words in forms for prop in ("text", "title", "section")]
    )
