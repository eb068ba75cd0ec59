"""`ray job submit` onto a Ray cluster of three nodes started with `ray start` runs the training job as a user would,
and survives losing a node; the files that take the job to a real cluster (runtime_env.yaml, cluster.yaml) are
what Ray accepts."""

import json
import re
import threading
import time
import uuid
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from tests.train.conftest import SHORT_RUN

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_job_over_two_nodes_loses_one_and_finishes_as_if_uninterrupted(ray_nodes, lora_zero2, tmp_path):
    """`ray job submit` a 2-worker job spread over node_a and node_b; once checkpoint 3 exists, node_b dies (every
    process of it, raylet first); with run.max_failures=1 the job restarts both workers on node_a from checkpoint 3
    and ends with the adapter of the same run never interrupted (lora_zero2, in the session's one-node Ray)."""
    ray_nodes.revive()
    wait_for = ray_nodes.wait_for
    _, reference = lora_zero2
    job_id = f"phi3ray-test-{uuid.uuid4().hex[:8]}"
    cluster = ray_nodes
    submitted = cluster.ray(
        "job", "submit", "--address", cluster.dashboard_url, "--submission-id", job_id, "--no-wait",
        "--working-dir", ".", "--runtime-env", "runtime_env.yaml", "--",
        "python", "jobs/train.py", *SHORT_RUN, "deepspeed=zero2",
        "+scaling.resources_per_worker.worker=0.5",  # worker nodes only (1 each); both workers fit on one
        "scaling.placement_strategy=SPREAD", "run.max_failures=1",
        f"run.storage_path={tmp_path}", "run.shared_storage=true",  # one filesystem for every node of this box
        "run.name=submitted",
        timeout=300,
    )
    run_dir = tmp_path / "submitted"

    def logs() -> str:
        return cluster.ray("job", "logs", "--address", cluster.dashboard_url, job_id, check=False).stdout

    def status() -> str:
        """The job's state: pending, running, succeeded, failed or stopped."""
        out = cluster.ray("job", "status", "--address", cluster.dashboard_url, job_id, check=False)
        said = re.search(rf"job '{job_id}'(?: was|:)? (\w+)", out.stdout + out.stderr, re.IGNORECASE)
        return said.group(1).lower() if said else "unknown"

    def registered() -> list[str]:
        """The checkpoints Ray Train registered (every worker reported them): a restart resumes from the last."""
        try:
            snapshot = json.loads((run_dir / "checkpoint_manager_snapshot.json").read_text())
        except (OSError, ValueError):  # not yet, or being written
            return []
        return [c["checkpoint_dir_name"] for c in snapshot["checkpoint_results"]]

    def done() -> bool:
        return status() in ("succeeded", "failed", "stopped")

    try:
        names = cluster.node_names()
        node_b = next(n for n in cluster.workers if n.name == "node_b")
        ended = threading.Event()  # the CLI takes seconds on a busy box: asked aside, while the file is read often

        def watch() -> None:
            while not ended.is_set() and not done():
                time.sleep(3)
            ended.set()

        threading.Thread(target=watch, daemon=True).start()
        wait_for(lambda: "checkpoint-3" in registered() or ended.is_set(), "checkpoint 3 of the job", 600, poll_s=0.1)
        killed_at = node_b.kill()  # steps take ~2 s: checkpoint 6 is 3 steps away
        at_kill = registered()
        assert at_kill == ["checkpoint-3"], f"{at_kill} at the kill ({status()}):\n{logs()[-4000:]}"
        wait_for(lambda: "resuming from" in logs() or done(), "the job to resume", 300)
        resumed_at = time.time()
        wait_for(done, "the job to finish", 600)
        ended_at = time.time()
        text, final = logs(), status()
        (tmp_path / "job.log").write_text(text)
        # every RayTrainWorker of the job, alive or dead: the first group one per worker node (SPREAD), the second
        # both on node_a (what was left)
        groups = sorted(names.get(a["node_id"], "new node") for a in cluster.actors("RayTrainWorker"))
    finally:
        if not done():
            cluster.ray("job", "stop", "--address", cluster.dashboard_url, job_id, check=False)
    assert final == "succeeded", f"{final}\n{submitted.stdout[-2000:]}\n{text[-4000:]}"
    assert groups == ["node_a", "node_a", "node_a", "node_b"], groups
    print(f"\nnode_b killed after checkpoint 3; the job resumed {resumed_at - killed_at:.1f} s later (in the log) and "
          f"succeeded {ended_at - killed_at:.1f} s after the kill")

    adapter = run_dir / "adapter"
    assert f"adapter saved to {adapter}" in text
    assert "Running Dataset" not in text  # Ray Data's progress blocks stay out of the job's log (quiet_ray_data)
    card = json.loads((adapter / "adapter_card.json").read_text())
    assert card["training"]["steps"] == 6 and card["training"]["workers"] == 2
    assert card["training"]["resumed_from_step"] == 3
    assert card["data"]["files"][0]["path"] == "data/pumps/train.jsonl"  # as given, relative to the working dir
    ours = load_file(adapter / "adapter_model.safetensors")
    uninterrupted = load_file(Path(reference.adapter_path) / "adapter_model.safetensors")
    assert ours.keys() == uninterrupted.keys()
    for name in ours:
        assert torch.allclose(ours[name], uninterrupted[name], atol=1e-5), name


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
