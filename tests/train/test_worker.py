"""A worker process killed after the run's last checkpoint is replaced and the run ends from that checkpoint, to the
same adapter and not one step further. (Killed mid-run, on a node that dies, and resumed from an earlier checkpoint:
tests/train/test_job_submit.py.)"""

import os
from pathlib import Path

import torch
from safetensors.torch import load_file

from phi3ray.train.driver import fit
from tests.train.conftest import short_run


def test_a_worker_killed_after_the_last_checkpoint_ends_the_run_from_it_as_if_uninterrupted(lora_zero2, tmp_path):
    reference_cfg, reference = lora_zero2
    cfg = short_run(tmp_path, "killed", "deepspeed=zero2", "run.max_failures=1", "run.kill_worker_at_step=6")
    result = fit(cfg)

    flag = Path(result.run_dir) / "fault-drill-killed"
    killed_pid = int(flag.read_text())
    try:
        os.kill(killed_pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive  # the worker process really died (SIGKILL once step 6 was checkpointed)
    assert result.summary.resumed_from_step == 6  # the replacement started from checkpoint-6 ...
    assert result.summary.global_step == 6  # ... and trained no step 7 (HF's Trainer would have)
    assert result.summary.steps_timed == 0

    # the adapter of checkpoint-6 is the run's: the same as the uninterrupted run's
    ours = load_file(Path(result.adapter_path) / "adapter_model.safetensors")
    uninterrupted = load_file(Path(reference.adapter_path) / "adapter_model.safetensors")
    assert ours.keys() == uninterrupted.keys()
    for name in ours:
        assert torch.allclose(ours[name], uninterrupted[name], atol=1e-5), name
    assert result.summary.eval_loss == reference.summary.eval_loss or abs(
        result.summary.eval_loss - reference.summary.eval_loss) < 1e-4
