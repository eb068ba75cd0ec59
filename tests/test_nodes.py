"""Ingestion and evaluation submitted to the three-node cluster (ray_nodes), their actors pinned to the two worker
nodes by a custom resource, give what one node gives (the session's in-process Ray)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from phi3ray.config import validate
from phi3ray.eval.runner import evaluate
from phi3ray.rag.connection import connect
from phi3ray.rag.embedder import cpu_has_native_bf16
from tests.conftest import ROOT, SAMPLE_DOCS, compose_config

pytestmark = pytest.mark.slow

NODES = "TestNodes"


def submit(cluster, *args: str, timeout: float = 900) -> str:
    """`ray job submit -- python <args>` onto the cluster, blocking; its log, or a failure that shows it."""
    done = cluster.ray("job", "submit", "--address", cluster.dashboard_url, "--", "python", *args,
                       check=False, timeout=timeout)
    assert done.returncode == 0, f"{args[0]} failed on the cluster:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
    return done.stdout


def placed(cluster, class_part: str) -> list[str]:
    """The nodes (by name) where the actors whose class name holds class_part ran, alive or dead."""
    names = cluster.node_names()
    return sorted(names.get(a["node_id"], "?") for a in cluster.actors(class_part))


def stored(retriever_overrides: list[str], collection: str) -> dict[str, tuple[str, np.ndarray]]:
    """object id -> (content hash, vector) of every chunk in a collection."""
    cfg = validate(compose_config("ingest", retriever_overrides + [f"retriever.collection={collection}", "queries=[]"]))
    client = connect(cfg.retriever.weaviate)
    try:
        return {str(o.uuid): (o.properties["content_hash"], np.array(o.vector["default"], dtype=np.float32))
                for o in client.collections.get(collection).iterator(include_vector=True,
                                                                      return_properties=["content_hash"])}
    finally:
        client.close()


def test_ingest_and_evaluate_spread_over_two_nodes_give_what_one_node_gives(
        ray_nodes, ray_session, weaviate_server, ingested, tmp_path):
    """`ingested` is the one-node ingest of SAMPLE_DOCS (one actor, batches of 64); here the same documents in
    batches of 8 by two actors, one per worker node."""
    ray_nodes.revive()
    retriever = weaviate_server.overrides()
    docs = f"data.documents=[{','.join(str(ROOT / d) for d in SAMPLE_DOCS)}]"
    log = submit(ray_nodes, f"{ROOT}/jobs/ingest.py", *retriever, f"retriever.collection={NODES}", docs, "queries=[]",
                 "batch_size=8", "num_embed_actors=2", "+embed_actor_resources.worker=1",
                 f"hydra.run.dir={tmp_path / 'ingest'}")
    assert "written=" in log
    assert placed(ray_nodes, "EmbedChunks") == ["node_a", "node_b"]  # one embedding actor on each worker node
    one, spread = stored(retriever, ingested), stored(retriever, NODES)
    # float32 embeds a text the same in any batch; bf16 (the CPU default where it is native: AVX512-BF16, AMX)
    # rounds by the batch's padded length, up to ~1.2e-3 per element (cosine 0.99998) between batches of 64 and 8
    atol = 5e-3 if cpu_has_native_bf16() else 1e-5
    assert len(one) > 16 and one.keys() == spread.keys()
    for object_id, (content, vector) in one.items():
        assert spread[object_id][0] == content
        assert np.allclose(spread[object_id][1], vector, atol=atol), object_id

    common = [
        "model=tiny", *retriever, f"retriever.collection={NODES}", f"data.heldout_file={ROOT}/data/pumps/heldout.jsonl",
        f"data.train_files=[{ROOT}/data/pumps/train.jsonl]", "max_questions=4", "batch_size=2", "num_actors=2",
        "generation.max_new_tokens=12", "bootstrap_samples=100", f"output_dir={tmp_path}",
    ]
    local = evaluate(validate(compose_config("evaluate", common + ["run_name=one-node"])))
    submit(ray_nodes, f"{ROOT}/jobs/evaluate.py", *common, "run_name=nodes", "+actor_resources.worker=1",
           f"hydra.run.dir={tmp_path / 'evaluate'}")
    assert placed(ray_nodes, "EvalWorker") == ["node_a", "node_b"]  # one evaluation actor on each worker node

    def answers(run_dir: Path) -> dict[tuple[str, str], tuple[str, list]]:
        rows = [json.loads(line) for line in (run_dir / "answers.jsonl").read_text().splitlines()]
        return {(r["question_id"], r["variant"]): (r["answer"], [s["object_id"] for s in r["sources"]]) for r in rows}

    ours, theirs = answers(tmp_path / "nodes"), answers(local.run_dir)
    assert len(ours) == 8 and ours == theirs  # 4 questions x base, base+rag
