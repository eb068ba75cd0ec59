"""Ingestion end to end on real Ray and a real Weaviate: idempotent re-runs, sync, unreadable files, outages."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from phi3ray.config import validate
from phi3ray.errors import IngestWriteError, WeaviateUnavailableError
from phi3ray.rag.chunking import Chunk, chunk_document
from phi3ray.rag.connection import connect
from phi3ray.rag.documents import read_documents
from phi3ray.rag.embedder import Embedder, load_embedder_tokenizer
from phi3ray.rag.ingest import EmbedPool, Ingestion, embed_pool, ingest
from phi3ray.rag.retriever import Retriever
from phi3ray.rag.schema import create_collection
from tests.conftest import compose_config
from tests.rag.conftest import ROOT, ingest_config
from tests.support.weaviate_process import WeaviateProcess


def stored(cfg) -> dict[str, tuple[str, str]]:
    """object id -> (doc_id, content_hash) of everything in cfg's collection."""
    client = connect(cfg.retriever.weaviate)
    try:
        collection = client.collections.get(cfg.retriever.collection)
        return {
            str(o.uuid): (o.properties["doc_id"], o.properties["content_hash"])
            for o in collection.iterator(return_properties=["doc_id", "content_hash"])
        }
    finally:
        client.close()


def expected_chunks(cfg, path: Path) -> list[Chunk]:
    """The chunks one file should produce under cfg's chunk settings."""
    tokenizer = load_embedder_tokenizer(cfg.retriever.embedder.model)
    (doc,), _ = read_documents(str(path))
    return chunk_document(doc, tokenizer, cfg.chunk.max_tokens, cfg.chunk.overlap_tokens)


def expected_ids(cfg, path: Path) -> set[str]:
    return {c.object_id for c in expected_chunks(cfg, path)}


def stored_objects(cfg) -> list:
    """Every object of cfg's collection with its properties and vector."""
    client = connect(cfg.retriever.weaviate)
    try:
        return list(client.collections.get(cfg.retriever.collection).iterator(include_vector=True))
    finally:
        client.close()


def test_sample_corpus_ingests_and_a_second_run_writes_nothing(pumps_ingested):
    cfg, first = pumps_ingested
    docs = sorted((ROOT / "data/pumps/docs").glob("*.md"))
    assert (first.documents, first.unreadable, first.failed) == (len(docs), [], 0)
    assert first.chunks > 2 * len(docs)
    assert first.written == first.chunks and first.skipped == 0
    objects = stored(cfg)
    assert set(objects) == set().union(*(expected_ids(cfg, p) for p in docs))

    second = ingest(cfg)
    assert (second.written, second.skipped, second.deleted, second.chunks) == (0, first.chunks, 0, first.chunks)
    assert stored(cfg) == objects


def test_unreadable_files_are_reported_and_sync_replaces_exactly_the_changed_chunks(
    ray_session, weaviate_server, tmp_path
):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ["vx-220-seal-replacement.md", "glossary.md"]:
        shutil.copy(ROOT / "data/pumps/docs" / name, docs / name)
    shutil.copy(ROOT / "data/pumps/extra/parts-catalog.jsonl", docs / "parts-catalog.jsonl")  # 10 documents
    (docs / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj broken beyond repair")
    (docs / "empty.md").write_text("")
    cfg = ingest_config(weaviate_server, "TestSync", [str(docs)], "sync=true")

    first = ingest(cfg)
    assert sorted(u.split(":")[0] for u in first.unreadable) == [str(docs / "corrupt.pdf"), str(docs / "empty.md")]
    assert first.documents == 2 + 10 and first.failed == 0 and first.written == first.chunks
    before = stored(cfg)
    assert len(before) == first.chunks

    # change one paragraph of the seal manual, remove the glossary; the broken files are still there
    seal = docs / "vx-220-seal-replacement.md"
    old_ids = expected_ids(cfg, seal)
    old_text = "tighten the drive-collar set screws to 6 N·m"
    seal.write_text(seal.read_text().replace(old_text, old_text.replace("6 N·m", "7 N·m")))
    new_ids = expected_ids(cfg, seal)
    assert 0 < len(new_ids - old_ids) < len(new_ids)  # only some chunks of the document change
    glossary_ids = expected_ids(cfg, docs / "glossary.md")
    (docs / "glossary.md").unlink()

    second = ingest(cfg)
    after = stored(cfg)
    assert second.written == len(new_ids - old_ids)
    assert second.deleted == len(old_ids - new_ids)
    assert set(after) == (set(before) - old_ids) | new_ids  # the glossary is kept while inputs are unreadable
    assert glossary_ids <= set(after)

    (docs / "corrupt.pdf").unlink()
    (docs / "empty.md").unlink()
    third = ingest(cfg)
    assert (third.written, third.deleted, third.unreadable) == (0, len(glossary_ids), [])
    assert set(stored(cfg)) == set(after) - glossary_ids


def test_a_moved_document_keeps_its_vectors_and_cites_its_new_path(ray_session, weaviate_server, tmp_path):
    docs = tmp_path / "docs"
    (docs / "archive").mkdir(parents=True)
    for name in ["vx-220-seal-replacement.md", "glossary.md"]:
        shutil.copy(ROOT / "data/pumps/docs" / name, docs / name)
    cfg = ingest_config(weaviate_server, "TestMoved", [str(docs)], "sync=true")
    first = ingest(cfg)
    before = set(stored(cfg))
    seal_ids = expected_ids(cfg, docs / "vx-220-seal-replacement.md")

    (docs / "vx-220-seal-replacement.md").rename(docs / "archive" / "vx-220-seal-replacement.md")
    second = ingest(cfg)
    assert (second.written, second.deleted, second.relocated) == (0, 0, len(seal_ids))
    assert second.chunks == first.chunks and set(stored(cfg)) == before and seal_ids <= before
    client = connect(cfg.retriever.weaviate)
    try:
        objects = client.collections.get(cfg.retriever.collection).iterator(return_properties=["source", "doc_id"])
        sources = {o.properties["doc_id"]: o.properties["source"] for o in objects}
    finally:
        client.close()
    assert sources == {
        "vx-220-seal-replacement": str(docs / "archive" / "vx-220-seal-replacement.md"),
        "glossary": str(docs / "glossary.md"),
    }
    assert ingest(cfg).relocated == 0  # nothing moved since


def test_an_edit_that_shifts_the_chunks_embeds_only_the_new_text(ray_session, weaviate_server, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    seal = docs / "vx-220-seal-replacement.md"
    shutil.copy(ROOT / "data/pumps/docs" / seal.name, seal)
    cfg = ingest_config(weaviate_server, "TestReuse", [str(docs)], "sync=true")
    ingest(cfg)
    old = {c.object_id: c.content_hash for c in expected_chunks(cfg, seal)}

    # a new section near the top: every later chunk moves up one index, so gets a new id, with the same text
    new_section = "## Before you start\n\nRead the whole procedure and have the seal kit at hand before you begin.\n\n"
    seal.write_text(seal.read_text().replace("## Parts and tools", new_section + "## Parts and tools"))
    chunks = expected_chunks(cfg, seal)
    new = {c.object_id: c.content_hash for c in chunks}
    new_ids, new_hashes = set(new) - set(old), set(new.values()) - set(old.values())
    shifted = {i for i in new_ids if new[i] in old.values()}
    assert shifted and new_hashes  # both kinds are present

    summary = ingest(cfg)
    assert (summary.written, summary.reused) == (len(new_ids), len(shifted))
    assert summary.deleted == len(set(old) - set(new)) and summary.skipped == len(set(new) & set(old))
    objects = stored_objects(cfg)
    assert {str(o.uuid) for o in objects} == set(new)
    # every stored vector, reused or new, is the one the embedder makes for its chunk's text
    vectors = {str(o.uuid): np.asarray(o.vector["default"]) for o in objects}
    expected = Embedder(cfg.retriever.embedder).embed([c.embed_text for c in chunks])
    cosines = [vectors[c.object_id] @ e for c, e in zip(chunks, expected)]
    assert min(cosines) > 0.99


def test_a_second_file_with_a_used_doc_id_is_reported_and_not_written(ray_session, weaviate_server, tmp_path):
    for folder in ("a", "b"):  # the same manual twice: same doc_id, same chunk ids
        (tmp_path / folder).mkdir()
        shutil.copy(ROOT / "data/pumps/docs/glossary.md", tmp_path / folder / "glossary.md")
    cfg = ingest_config(weaviate_server, "TestDuplicate", [str(tmp_path / "a"), str(tmp_path / "b")])
    summary = ingest(cfg)
    first, second = str(tmp_path / "a" / "glossary.md"), str(tmp_path / "b" / "glossary.md")
    assert summary.unreadable == [f"{second}: doc_id 'glossary' is already used by {first}"]
    assert summary.written == summary.chunks == len(expected_ids(cfg, tmp_path / "a" / "glossary.md"))
    assert {o.properties["source"] for o in stored_objects(cfg)} == {first}


def test_weaviate_stopped_mid_job_names_the_url_and_a_rerun_completes(ray_session, tmp_path):
    server = WeaviateProcess(data_dir=tmp_path / "weaviate").start()
    try:
        docs = [str(ROOT / "data/pumps/docs" / n) for n in ("vxm-4-maintenance.md", "vxs-80-service.md")]
        cfg = ingest_config(server, "TestOutage", docs)
        done_before = ingest(ingest_config(server, "TestOutage", docs[:1])).written  # the first manual is stored
        run = Ingestion(cfg)
        run.setup()
        run.chunk()
        retriever = Retriever(cfg.retriever)
        server.stop()  # a real stop, after reading and chunking, before embedding and writing
        with pytest.raises(WeaviateUnavailableError, match=f"127.0.0.1:{server.http_port}"):
            run.write()
        run.close()
        with pytest.raises(WeaviateUnavailableError, match=f"127.0.0.1:{server.http_port}"):
            retriever.search("oil chamber")
        retriever.close()
        with pytest.raises(WeaviateUnavailableError, match=f"127.0.0.1:{server.http_port}"):
            ingest(cfg)  # the same command while it is down fails on connect

        server.start()  # same ports, same data folder
        summary = ingest(cfg)
        assert (summary.skipped, summary.written + summary.skipped, summary.failed) == (done_before, summary.chunks, 0)
        assert set(stored(cfg)) == expected_ids(cfg, Path(docs[0])) | expected_ids(cfg, Path(docs[1]))
    finally:
        server.stop()


def test_objects_weaviate_refuses_are_each_reported_with_their_source_and_fail_the_run(ray_session, weaviate_server):
    doc = ROOT / "data/pumps/docs/warranty-terms.md"
    cfg = ingest_config(weaviate_server, "TestRefused", [str(doc)])
    client = connect(cfg.retriever.weaviate)
    try:  # a collection whose vector index already holds 5-dimensional vectors: Weaviate refuses ours
        create_collection(client, "TestRefused", cfg.retriever.embedder.model, 384).data.insert(
            {"doc_id": "other", "source": "elsewhere", "text": "x"}, vector=[0.2] * 5
        )
    finally:
        client.close()
    with pytest.raises(IngestWriteError) as err:
        ingest(cfg)
    chunks = expected_ids(cfg, doc)
    assert (len(err.value.failures), err.value.written) == (len(chunks), 0)
    assert all(f.startswith(f"{doc} chunk ") and "length 384" in f for f in err.value.failures)
    assert f"{len(chunks)} chunk(s) failed to write (0 written)" in str(err.value)


def test_the_embedding_pool_follows_the_config_and_the_cluster_unless_sized():
    cfg = validate(compose_config("ingest"))  # batch_size 64
    gpu = validate(compose_config("ingest", ["use_gpu=true"]))
    assert embed_pool(cfg, {"CPU": 16.0}, 5000) == EmbedPool(16, 0, 1)
    assert embed_pool(cfg, {"CPU": 64.0, "GPU": 8.0}, 5000) == EmbedPool(64, 0, 1)  # GPUs up, but not asked for
    assert embed_pool(gpu, {"CPU": 64.0, "GPU": 8.0}, 5000) == EmbedPool(8, 1, 1)
    assert embed_pool(gpu, {"CPU": 2.0}, 5000) == EmbedPool(1, 1, 1)  # no GPU node up yet: asks the autoscaler for one
    assert embed_pool(cfg, {"CPU": 16.0}, 130) == EmbedPool(3, 0, 1)  # no more actors than batches
    assert embed_pool(cfg, {"CPU": 16.0}, 1) == EmbedPool(1, 0, 1)
    four_threads = validate(compose_config("ingest", ["embed_actor_cpus=4"]))
    assert embed_pool(four_threads, {"CPU": 18.0}, 5000) == EmbedPool(4, 0, 4)
    assert embed_pool(four_threads, {"CPU": 2.0}, 5000) == EmbedPool(1, 0, 4)  # Ray waits for a node with 4 CPUs
    pinned = validate(compose_config("ingest", ["+embed_actor_resources.worker=1"]))
    assert embed_pool(pinned, {"CPU": 5.0, "worker": 2.0}, 5000) == EmbedPool(2, 0, 1)  # room on 2 nodes, not 5 CPUs
    assert embed_pool(pinned, {"CPU": 5.0}, 5000) == EmbedPool(5, 0, 1)  # none up yet: the autoscaler may add some
    fixed = validate(compose_config("ingest", ["num_embed_actors=3"]))
    assert embed_pool(fixed, {"CPU": 2.0}, 5000) == EmbedPool(3, 0, 1)
    fixed_gpu = validate(compose_config("ingest", ["num_embed_actors=3", "use_gpu=true"]))
    assert embed_pool(fixed_gpu, {"GPU": 8.0}, 5000) == EmbedPool(3, 1, 1)
    assert str(embed_pool(gpu, {"CPU": 2.0, "GPU": 1.0}, 5000)) == "1 embedding actor(s) of 1 GPU"
