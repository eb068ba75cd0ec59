"""Embedder cost per chunk by dtype and encode batch size, on the sample manuals' chunks.

    python bench/embedder.py                        # one torch thread, as in one CPU embedding actor
    python bench/embedder.py --threads 2            # all cores of this box, as in the naive loop

Chunks are made with conf/ingest.yaml's chunk settings, shuffled (seed 0), and embedded --chunks at a
time; each setting is timed after a warm-up call. Ratios are against float32 one chunk at a time, in
the same run; "min cos" is the lowest cosine between a setting's vectors and float32's for the same
chunks. Where embedding is compute-bound (CPU), batching barely pays: see bench/ingest.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from phi3ray.config import load_config  # noqa: E402
from phi3ray.rag.chunking import chunk_document  # noqa: E402
from phi3ray.rag.documents import read_documents  # noqa: E402
from phi3ray.rag.embedder import Embedder, cpu_has_native_bf16, load_embedder_tokenizer  # noqa: E402


def sample_texts(cfg, count: int) -> list[str]:
    tokenizer = load_embedder_tokenizer(cfg.retriever.embedder.model)
    texts = []
    for path in sorted(glob.glob(str(ROOT / "data/pumps/docs/*.md"))):
        (doc,), _ = read_documents(path)
        texts += [c.embed_text for c in chunk_document(doc, tokenizer, cfg.chunk.max_tokens, cfg.chunk.overlap_tokens)]
    random.Random(0).shuffle(texts)
    return texts[:count]


def ms_per_chunk(embedder: Embedder, texts: list[str], batch_size: int) -> tuple[float, np.ndarray]:
    embedder.cfg.batch_size = batch_size
    embedder.embed(texts[:batch_size])  # warm-up
    started = time.perf_counter()
    vectors = np.concatenate([embedder.embed([t]) for t in texts]) if batch_size == 1 else embedder.embed(texts)
    return 1000 * (time.perf_counter() - started) / len(texts), vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--chunks", type=int, default=256, help="chunks timed per setting")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16, 64], help="encode batch sizes")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of conf/ingest.yaml")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config("ingest", args.overrides)
    texts = sample_texts(cfg, args.chunks)
    dtypes = ["float32"] + (["bfloat16"] if cpu_has_native_bf16() or torch.cuda.is_available() else [])
    print(f"{len(texts)} chunks, {args.threads} torch thread(s), embedder {cfg.retriever.embedder.model}")
    print("| dtype | batch | ms/chunk | speed vs float32 batch 1 | min cos vs float32 |\n|---|---:|---:|---:|---:|")
    reference: dict[int, np.ndarray] = {}
    baseline = None
    for dtype in dtypes:
        embedder = Embedder(dataclasses.replace(cfg.retriever.embedder, dtype=dtype))
        for batch in args.batches:
            ms, vectors = ms_per_chunk(embedder, texts, batch)
            reference.setdefault(batch, vectors)
            baseline = baseline or ms
            cos = float((vectors * reference[batch]).sum(axis=1).min())
            print(f"| {dtype} | {batch} | {ms:.1f} | {baseline / ms:.2f}x | {cos:.4f} |", flush=True)


if __name__ == "__main__":
    main()
