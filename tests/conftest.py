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
