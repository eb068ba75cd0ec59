"""Shared fixtures: one local Ray, one real Weaviate server, the tiny Phi-3, composed configs."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # keep Ray on 127.0.0.1
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# the runs folder (and so the default MLflow store, phi3ray/tracking.py) of every test: never the user's ~/phi3ray_runs
os.environ["PHI3RAY_RUNS"] = tempfile.mkdtemp(prefix="phi3ray-test-runs-")

from pathlib import Path

import pytest
import torch

from phi3ray.config import compose_config  # noqa: F401  (the tests compose configs as the jobs do)
from phi3ray.train.deepspeed_config import cpu_accelerator_env

for _name, _value in cpu_accelerator_env().items():  # only without CUDA: gpu tests run DeepSpeed on the GPU
    os.environ.setdefault(_name, _value)
from tests.support.weaviate_process import WeaviateProcess

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config, items):
    # the tests on the three-node cluster (ray_nodes) last, together: its idle nodes do not slow the others
    items.sort(key=lambda item: "ray_nodes" in getattr(item, "fixturenames", ()))
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (multi-GPU NCCL or a real-size Phi-3); this machine has no GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole run (2 cores), on loopback."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=True)
    yield ray
    ray.shutdown()


SAMPLE_COLLECTION = "TestServe"
SAMPLE_DOCS = ["data/pumps/docs/vx-220-*.md", "data/pumps/docs/safety-lockout-tagout.md"]  # 6 manuals: a short ingest


@pytest.fixture(scope="session")
def ingested(ray_session, weaviate_server) -> str:
    """SAMPLE_DOCS in the session's Weaviate, collection SAMPLE_COLLECTION, ingested on the session's one-node Ray
    with the default settings; returns the collection name."""
    from phi3ray.config import validate
    from phi3ray.rag.ingest import ingest

    overrides = weaviate_server.overrides(SAMPLE_COLLECTION)
    docs = [str(ROOT / d) for d in SAMPLE_DOCS]
    cfg = validate(compose_config("ingest", overrides + [f"data.documents=[{','.join(docs)}]", "queries=[]"]))
    summary = ingest(cfg)
    assert summary.chunks > 0 and summary.failed == 0, summary.line()
    return SAMPLE_COLLECTION


@pytest.fixture(scope="session")
def ray_nodes():
    """A Ray cluster of three nodes on this box, started as a user starts one: `ray start --head` (1 CPU and the
    resource {"head": 1}), then `ray start --address ...` twice: node_a and node_b, 2 CPUs each, the resources
    {"node_a": 1} / {"node_b": 1} and {"worker": 1}, each on its own loopback address, temp dir and ports.
    Shared by the tests that submit work to a cluster; a test that kills a node calls ray_nodes.revive() first."""
    from tests.support.ray_cluster import LocalRayCluster

    cluster = LocalRayCluster(num_cpus=1, ip="127.0.0.2", resources={"head": 1}, env={
        **cpu_accelerator_env(), "HF_HUB_OFFLINE": "1",
        # a dead node is declared after 3 missed 1 s health checks (Ray's defaults: 5 x 3 s), and Ray Train waits
        # 5 s (default 30) for the survivors' process group to shut down: the same recovery, sooner
        "RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3",
        "TORCH_PROCESS_GROUP_SHUTDOWN_TIMEOUT_S": "5",
    }).start()
    try:
        cluster.add_worker("node_a", num_cpus=2, resources={"worker": 1})
        cluster.add_worker("node_b", num_cpus=2, resources={"worker": 1})
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def weaviate_server(tmp_path_factory) -> WeaviateProcess:
    """A real weaviate-server on free loopback ports; a test that needs it fails if it cannot start."""
    server = WeaviateProcess(data_dir=tmp_path_factory.mktemp("weaviate") / "data")
    try:
        server.start()
    except RuntimeError as err:
        pytest.fail(f"real Weaviate is required and could not start: {err}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tiny_model_cfg():
    """The composed model=tiny config (its folder is built on first use)."""
    from phi3ray.config import validate

    return validate(compose_config("serve", ["model=tiny"])).model
