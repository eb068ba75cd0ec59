"""Retrieval quality on the held-out questions: recall@1/3/5 and MRR for BM25, vector and hybrid search.

    python bench/retrieval.py                       # private Weaviate, sample manuals ingested first
    python bench/retrieval.py --existing retriever=local retriever.collection=Phi3rayDocs   # an ingested one

Each question is searched once per setting (top 10 chunks); a chunk counts as its document, so recall@k
asks whether a gold document is among the first k chunks the generator would see. MRR is over the 10.
Settings: alpha=0 (BM25 only), alpha=1 (vector only) and hybrid alpha 0.25/0.5/0.75, with the
configured fusion (relative_score unless overridden).
"""

from __future__ import annotations

import argparse
import logging
import os
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
from phi3ray.rag.quality import evaluate_retrieval, format_table, load_heldout  # noqa: E402

SETTINGS = [("BM25 only (alpha=0)", 0.0), ("hybrid alpha=0.25", 0.25), ("hybrid alpha=0.5", 0.5),
            ("hybrid alpha=0.75", 0.75), ("vector only (alpha=1)", 1.0)]  # fmt: skip
FETCH = 10  # chunks per search


def quality_table(cfg: IngestConfig) -> str:
    from phi3ray.rag.retriever import Retriever

    questions = load_heldout(str(ROOT / cfg.data.heldout_file))
    retriever = Retriever(cfg.retriever)
    try:
        reports = []
        for name, alpha in SETTINGS:
            ranked = lambda q, a=alpha: [c.doc_id for c in retriever.search(q, top_k=FETCH, alpha=a)]  # noqa: E731
            reports.append(evaluate_retrieval(name, questions, ranked))
    finally:
        retriever.close()
    header = f"{len(questions)} held-out questions, fusion={cfg.retriever.fusion}, {FETCH} chunks per search"
    return header + "\n" + format_table(reports)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--existing", action="store_true", help="query the configured Weaviate as it is (no ingestion)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of conf/ingest.yaml")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.chdir(ROOT)  # data paths in conf/ are relative to the repository
    if args.existing:
        print(quality_table(load_config("ingest", args.overrides)))
        return

    import ray

    from phi3ray.rag.ingest import ingest
    from tests.support.weaviate_process import WeaviateProcess

    with tempfile.TemporaryDirectory() as tmp:
        server = WeaviateProcess(data_dir=Path(tmp) / "data").start()
        try:
            cfg = load_config("ingest", [
                *server.overrides("BenchRetrieval"),
                *args.overrides,
            ])  # fmt: skip
            started = time.monotonic()
            summary = ingest(cfg)
            seconds = time.monotonic() - started
            print(f"ingested {summary.chunks} chunks of {summary.documents} documents in {seconds:.0f}s")
            print(quality_table(cfg))
        finally:
            server.stop()
            ray.shutdown()


if __name__ == "__main__":
    main()
