"""Ingestion throughput (chunks/s) of our Ray Data pipeline against a naive one-object-at-a-time loop.

    python bench/ingest.py                          # ~5.5k chunks: the sample manuals copied 18 times
    python bench/ingest.py retriever.embedder.dtype=float32               # without bf16
    python bench/ingest.py --copies 40 retriever.embedder.batch_size=256  # on a GPU machine (one actor per GPU)

Both sides start from the same files on disk and end with the chunks in Weaviate (a private
weaviate-server started here, on free ports, data in a temporary folder). The corpus is the sample
manuals copied --copies times under different names, so each copy has its own doc ids and chunk ids.

- ours: jobs/ingest.py's pipeline (phi3ray.rag.ingest.ingest): Ray tasks read and chunk, an actor
  pool embeds in batches, the driver batch-imports. Timed from start to the summary, Ray already up.
- naive: in this process, for each chunk: embed it alone, then collection.data.insert it. Its rate is
  measured on --naive-chunks chunks, half before and half after our run, so both see the same load.
- embedding alone: the naive loop's chunks embedded in one batched call in this process, no Weaviate.
  Where embedding is compute-bound (a CPU) this is roughly the best any pipeline can do, so the ratio
  is printed next to it; on a GPU, batching pays and the naive loop's inserts dominate.
Both sides use the same embedder config (model, dtype, device), so the ratio measures the pipeline.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from phi3ray.config import IngestConfig, load_config  # noqa: E402


def replicate_corpus(folder: Path, copies: int) -> list[Path]:
    """copies x data/pumps/docs/*.md as c00-<name>.md, c01-<name>.md ... (doc_id = file stem, so all differ)."""
    folder.mkdir(parents=True)
    for k in range(copies):
        for doc in sorted((ROOT / "data/pumps/docs").glob("*.md")):
            shutil.copy(doc, folder / f"c{k:02d}-{doc.name}")
    return sorted(folder.glob("*.md"))


def corpus_chunks(cfg: IngestConfig, paths: list[Path], start: int, limit: int) -> list:
    """Chunks [start, start + limit) of the corpus in file order, as the naive loop meets them."""
    from phi3ray.rag.chunking import chunk_document
    from phi3ray.rag.documents import read_documents
    from phi3ray.rag.embedder import load_embedder_tokenizer

    tokenizer = load_embedder_tokenizer(cfg.retriever.embedder.model)
    chunks = []
    for path in paths:
        docs, _ = read_documents(str(path))
        chunks += chunk_document(docs[0], tokenizer, cfg.chunk.max_tokens, cfg.chunk.overlap_tokens)
        if len(chunks) >= start + limit:
            break
    return chunks[start : start + limit]


def naive_ingest(cfg: IngestConfig, client, paths: list[Path], limit: int, start: int = 0) -> dict[str, float]:
    """Read, chunk, embed one chunk, insert one object, repeat, for chunks [start, start + limit).

    Returns the chunks done and the seconds in all, in embedding and in inserting.
    """
    from datetime import datetime, timezone

    from phi3ray.rag.embedder import shared_embedder

    embedder = shared_embedder(cfg.retriever.embedder)
    collection = client.collections.get("BenchNaive")
    started = time.monotonic()
    embed_s = insert_s = 0.0
    chunks = corpus_chunks(cfg, paths, start, limit)
    for chunk in chunks:
        t0 = time.monotonic()
        vector = embedder.embed([chunk.embed_text])[0]
        t1 = time.monotonic()
        properties = {k: v for k, v in chunk.to_row().items() if k != "object_id"}
        collection.data.insert(
            properties | {"ingested_at": datetime.now(timezone.utc)}, uuid=chunk.object_id, vector=vector.tolist()
        )
        embed_s, insert_s = embed_s + t1 - t0, insert_s + time.monotonic() - t1
    return {"chunks": len(chunks), "seconds": time.monotonic() - started, "embed": embed_s, "insert": insert_s}


def embedding_alone(cfg: IngestConfig, paths: list[Path], limit: int) -> float:
    """Chunks/s of batched embedding alone in this process (torch on every core): the compute both sides share."""
    from phi3ray.rag.embedder import shared_embedder

    texts = [c.embed_text for c in corpus_chunks(cfg, paths, 0, limit)]
    started = time.monotonic()
    shared_embedder(cfg.retriever.embedder).embed(texts)
    return len(texts) / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=18, help="copies of the 44 sample manuals (18: ~5.2k chunks)")
    parser.add_argument("--actors", type=int, default=0, help="num_embed_actors of our pipeline (0: auto)")
    parser.add_argument("--naive-chunks", type=int, default=300, help="chunks the naive loop is timed on")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of conf/ingest.yaml")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("phi3ray").setLevel(logging.INFO)

    import ray

    from phi3ray.rag.connection import connect
    from phi3ray.rag.embedder import shared_embedder
    from phi3ray.rag.ingest import Ingestion
    from phi3ray.rag.schema import create_collection
    from tests.support.weaviate_process import WeaviateProcess

    with tempfile.TemporaryDirectory() as tmp:
        paths = replicate_corpus(Path(tmp) / "docs", args.copies)
        server = WeaviateProcess(data_dir=Path(tmp) / "weaviate").start()
        try:
            cfg = load_config("ingest", [
                *server.overrides("BenchIngest"),
                f"data.documents=['{Path(tmp) / 'docs'}/*.md']", f"num_embed_actors={args.actors}", "queries=[]",
                *args.overrides,
            ])  # fmt: skip
            ray.init(include_dashboard=False, _node_ip_address="127.0.0.1")
            embedder = shared_embedder(cfg.retriever.embedder)  # loaded once, outside both timings
            client = connect(cfg.retriever.weaviate)
            create_collection(client, "BenchNaive", cfg.retriever.embedder.model, embedder.dimension)
            half = args.naive_chunks // 2
            naive_a = naive_ingest(cfg, client, paths, half)

            run, phases = Ingestion(cfg), {}
            started = time.monotonic()
            for phase in ("setup", "chunk", "write"):
                getattr(run, phase)()
                phases[phase] = time.monotonic() - started - sum(phases.values())
            summary = run.finish()
            run.close()
            ours_s = time.monotonic() - started

            naive_b = naive_ingest(cfg, client, paths, args.naive_chunks - half, start=half)
            compute_rate = embedding_alone(cfg, paths, args.naive_chunks)
            client.close()
        finally:
            server.stop()
            ray.shutdown()

    naive = {k: naive_a[k] + naive_b[k] for k in naive_a}
    ours_rate, naive_rate = summary.written / ours_s, naive["chunks"] / naive["seconds"]
    write_rate = summary.written / phases["write"]
    ms = {k: 1000 * naive[k] / naive["chunks"] for k in ("embed", "insert")}
    embedder = cfg.retriever.embedder
    print(f"corpus: {len(paths)} files, {summary.chunks} chunks; {os.cpu_count()} CPUs; "
          f"embedder {embedder.model} on {embedder.device} ({run.embedder.dtype}, batch {embedder.batch_size})")
    print(f"ours : {summary.written} chunks written in {ours_s:.1f}s = {ours_rate:.1f} chunks/s "
          f"(Ray Data, {run.embed_actors} embedding actor(s), block {cfg.batch_size}, write batch {cfg.write_batch_size}); "
          + ", ".join(f"{k} {v:.1f}s" for k, v in phases.items()) + f" -> {write_rate:.1f} chunks/s while writing")
    print(f"naive: {naive['chunks']} chunks in {naive['seconds']:.1f}s = {naive_rate:.1f} chunks/s "
          f"(embed one {ms['embed']:.1f} ms + insert one {ms['insert']:.1f} ms per chunk)")
    print(f"throughput ratio ours/naive: {ours_rate / naive_rate:.2f}x (write phase alone {write_rate / naive_rate:.2f}x)")
    print(f"embedding alone, batched, in this process: {compute_rate:.1f} chunks/s = {compute_rate / naive_rate:.2f}x "
          "the naive loop (where embedding is compute-bound, as on a CPU, batching saves little and this is "
          "about as far as any pipeline gets)")


if __name__ == "__main__":
    main()
