"""A worker process killed mid-run is replaced and the run goes on from its last checkpoint, to the same adapter."""

import os
from pathlib import Path

import torch
from safetensors.torch import load_file

from phi3ray.train.driver import fit
from tests.train.conftest import short_run


def test_killed_worker_is_replaced_and_the_run_finishes_as_if_uninterrupted(lora_zero2, tmp_path):
    reference_cfg, reference = lora_zero2
    cfg = short_run(tmp_path, "killed", "deepspeed=zero2", "run.max_failures=1", "run.kill_worker_at_step=4")
    result = fit(cfg)

    flag = Path(result.run_dir) / "fault-drill-killed"
    killed_pid = int(flag.read_text())
    try:
        os.kill(killed_pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive  # the worker process really died (SIGKILL at step 4)
    assert result.summary.resumed_from_step == 3  # the replacement started from checkpoint-3
    assert result.summary.global_step == 6
    assert result.summary.steps_timed == 3  # steps 4, 5, 6 ran again after the restart

    # same data order, optimizer state, schedule and dropout RNG after the restart: the same adapter
    ours = load_file(Path(result.adapter_path) / "adapter_model.safetensors")
    uninterrupted = load_file(Path(reference.adapter_path) / "adapter_model.safetensors")
    assert ours.keys() == uninterrupted.keys()
    for name in ours:
        assert torch.allclose(ours[name], uninterrupted[name], atol=1e-5), name
    assert result.summary.eval_loss == reference.summary.eval_loss or abs(
        result.summary.eval_loss - reference.summary.eval_loss) < 1e-4
