"""`ray job submit` against a separately started local Ray cluster runs the training job exactly as a user would;
the files that take the job to a real cluster (runtime_env.yaml, cluster.yaml) are what Ray accepts."""

import json
import os
import uuid
import zipfile
from pathlib import Path

import pytest
import yaml

from phi3ray.train.deepspeed_config import cpu_accelerator_env
from tests.support.ray_cluster import LocalRayCluster
from tests.train.conftest import SHORT_RUN

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_ray_job_submit_trains_the_tiny_model_and_writes_the_adapter(tmp_path):
    cluster = LocalRayCluster(num_cpus=2, env={**cpu_accelerator_env(), "HF_HUB_OFFLINE": "1"}).start()
    try:
        job_id = f"phi3ray-test-{uuid.uuid4().hex[:8]}"
        overrides = [o for o in SHORT_RUN if not o.startswith("training.max_steps")]
        submitted = cluster.ray(
            "job", "submit", "--address", cluster.dashboard_url, "--submission-id", job_id,
            "--working-dir", ".", "--runtime-env", "runtime_env.yaml", "--",
            "python", "jobs/train.py", *overrides, "training.max_steps=4",
            f"run.storage_path={tmp_path}", "run.name=submitted",
            timeout=900, check=False,
        )
        status = cluster.ray("job", "status", "--address", cluster.dashboard_url, job_id)
        status = status.stdout + status.stderr
        logs = cluster.ray("job", "logs", "--address", cluster.dashboard_url, job_id).stdout
        (tmp_path / "job.log").write_text(logs)
    finally:
        cluster.stop()
    assert "succeeded" in status.lower(), f"{status}\n{submitted.stderr[-3000:]}\n{logs[-3000:]}"

    adapter = tmp_path / "submitted" / "adapter"
    assert f"adapter saved to {adapter}" in logs
    assert {"adapter_config.json", "adapter_model.safetensors", "adapter_card.json"} <= set(os.listdir(adapter))
    card = json.loads((adapter / "adapter_card.json").read_text())
    assert card["training"]["steps"] == 4 and card["training"]["workers"] == 2
    assert card["data"]["files"][0]["path"] == "data/pumps/train.jsonl"  # as given, relative to the working dir
    assert not cluster.processes()  # the test cluster is gone; the session's Ray was never touched


def test_runtime_env_uploads_the_code_and_data_and_stays_far_under_the_limit(tmp_path):
    from ray._private.runtime_env.packaging import create_package

    runtime_env = yaml.safe_load((ROOT / "runtime_env.yaml").read_text())
    package = tmp_path / "working_dir.zip"
    create_package(str(ROOT), package, include_gitignore=True, excludes=runtime_env["excludes"])
    names = set(zipfile.ZipFile(package).namelist())
    assert {"jobs/train.py", "conf/train.yaml", "phi3ray/train/driver.py", "data/pumps/train.jsonl",
            "phi3ray/assets/tiny-phi3/tokenizer.json", "pyproject.toml"} <= names
    assert not any(n.startswith((".git/", "outputs/", "tests/")) or n.endswith(".whl") for n in names)
    assert package.stat().st_size < 20 * 2**20  # Ray refuses 100 MiB


def test_cluster_yaml_is_a_valid_launcher_config_with_gpu_workers():
    from ray.autoscaler._private.util import fillout_defaults, validate_config

    config = fillout_defaults(yaml.safe_load((ROOT / "cluster.yaml").read_text()))
    validate_config(config)  # Ray's own schema for `ray up`
    types = config["available_node_types"]
    gpu = {name: t["node_config"]["InstanceType"] for name, t in types.items() if name != config["head_node_type"]}
    assert gpu == {"gpu_a10g_x4": "g5.12xlarge", "gpu_a100_x8": "p4d.24xlarge"}
    setup = " ".join(config["setup_commands"])
    assert setup.index("torch==") < setup.index("pip install -e ~/phi3ray")  # torch first, then this package
