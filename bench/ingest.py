"""Ingestion throughput (chunks/s) of our Ray Data pipeline against a naive one-object-at-a-time loop.

    python bench/ingest.py                          # ~5.2k chunks: the sample manuals copied 18 times
    python bench/ingest.py --copies 40 --actors 4 retriever.embedder.device=cuda   # on a GPU machine

Both sides start from the same files on disk and end with the chunks in Weaviate (a private
weaviate-server started here, on free ports, data in a temporary folder). The corpus is the sample
manuals copied --copies times under different names, so each copy has its own doc ids and chunk ids.

- ours: jobs/ingest.py's pipeline (phi3ray.rag.ingest.ingest): Ray tasks read and chunk, an actor
  pool embeds in batches, the driver batch-imports. Timed from start to the summary, Ray already up.
- naive: in this process, for each chunk: embed it alone, then collection.data.insert it. Its rate is
  measured on --naive-chunks chunks, half before and half after our run, so both see the same load.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from phi3ray.config import IngestConfig, validate  # noqa: E402


def compose_ingest(overrides: list[str]) -> IngestConfig:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return validate(compose("ingest", overrides=overrides))


def replicate_corpus(folder: Path, copies: int) -> list[Path]:
    """copies x data/pumps/docs/*.md as c00-<name>.md, c01-<name>.md ... (doc_id = file stem, so all differ)."""
    folder.mkdir(parents=True)
    for k in range(copies):
        for doc in sorted((ROOT / "data/pumps/docs").glob("*.md")):
            shutil.copy(doc, folder / f"c{k:02d}-{doc.name}")
    return sorted(folder.glob("*.md"))


def naive_ingest(cfg: IngestConfig, client, paths: list[Path], limit: int, start: int = 0) -> tuple[int, float]:
    """Read, chunk, embed one chunk, insert one object, repeat: (chunks, seconds) for chunks [start, start + limit)."""
    from datetime import datetime, timezone

    from phi3ray.rag.chunking import chunk_document
    from phi3ray.rag.documents import read_documents
    from phi3ray.rag.embedder import load_embedder_tokenizer, shared_embedder

    embedder = shared_embedder(cfg.retriever.embedder)
    tokenizer = load_embedder_tokenizer(cfg.retriever.embedder.model)
    collection = client.collections.get("BenchNaive")
    done, seen = 0, 0
    started = time.monotonic()
    for path in paths:
        docs, _ = read_documents(str(path))
        for chunk in chunk_document(docs[0], tokenizer, cfg.chunk.max_tokens, cfg.chunk.overlap_tokens):
            seen += 1
            if seen <= start:
                continue
            vector = embedder.embed([chunk.embed_text])[0]
            properties = {k: v for k, v in chunk.to_row().items() if k != "object_id"}
            collection.data.insert(
                properties | {"ingested_at": datetime.now(timezone.utc)}, uuid=chunk.object_id, vector=vector.tolist()
            )
            done += 1
            if done == limit:
                return done, time.monotonic() - started
    return done, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=18, help="copies of the 44 sample manuals (18: ~5.2k chunks)")
    parser.add_argument("--actors", type=int, default=2, help="num_embed_actors of our pipeline")
    parser.add_argument("--naive-chunks", type=int, default=300, help="chunks the naive loop is timed on")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of conf/ingest.yaml")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("phi3ray").setLevel(logging.INFO)

    import ray

    from phi3ray.rag.connection import connect
    from phi3ray.rag.embedder import shared_embedder
    from phi3ray.rag.ingest import ingest
    from phi3ray.rag.schema import create_collection
    from tests.weaviate_process import WeaviateProcess

    with tempfile.TemporaryDirectory() as tmp:
        paths = replicate_corpus(Path(tmp) / "docs", args.copies)
        server = WeaviateProcess(data_dir=Path(tmp) / "weaviate").start()
        try:
            cfg = compose_ingest([
                "retriever=local", f"retriever.weaviate.http_port={server.http_port}",
                f"retriever.weaviate.grpc_port={server.grpc_port}", "retriever.collection=BenchIngest",
                f"data.documents=['{Path(tmp) / 'docs'}/*.md']", f"num_embed_actors={args.actors}", "queries=[]",
                *args.overrides,
            ])  # fmt: skip
            ray.init(include_dashboard=False, _node_ip_address="127.0.0.1")
            embedder = shared_embedder(cfg.retriever.embedder)  # loaded once, outside both timings
            client = connect(cfg.retriever.weaviate)
            create_collection(client, "BenchNaive", cfg.retriever.embedder.model, embedder.dimension)
            half = args.naive_chunks // 2
            naive_a = naive_ingest(cfg, client, paths, half)

            started = time.monotonic()
            summary = ingest(cfg)
            ours_s = time.monotonic() - started

            naive_b = naive_ingest(cfg, client, paths, args.naive_chunks - half, start=half)
            client.close()
        finally:
            server.stop()
            ray.shutdown()

    naive_n, naive_s = naive_a[0] + naive_b[0], naive_a[1] + naive_b[1]
    ours_rate, naive_rate = summary.written / ours_s, naive_n / naive_s
    cpus = os.cpu_count()
    print(f"corpus: {len(paths)} files, {summary.chunks} chunks; {cpus} CPUs; embedder {cfg.retriever.embedder.model}")
    print(f"ours : {summary.written} chunks written in {ours_s:.1f}s = {ours_rate:.1f} chunks/s "
          f"(Ray Data, {args.actors} embedding actor(s), batch {cfg.batch_size}, write batch {cfg.write_batch_size})")
    print(f"naive: {naive_n} chunks in {naive_s:.1f}s = {naive_rate:.1f} chunks/s (embed one, insert one)")
    print(f"throughput ratio ours/naive: {ours_rate / naive_rate:.2f}x")


if __name__ == "__main__":
    main()
