"""The Ray Train worker: run the recipe, report metrics and checkpoints to Ray, resume from Ray's latest checkpoint.

Every worker calls ``ray.train.report`` at the same points (each log and each save), as Ray Train requires,
and after a save waits until Ray has committed the checkpoint.
At a save, each worker hands Ray its own checkpoint folder (rank 0: the adapter, trainer state, scheduler;
every rank: its DeepSpeed optimizer shard and RNG state) and Ray merges them into one
``<run>/checkpoint-<step>/`` folder, which is what ``ray.train.get_checkpoint()`` gives back after a failure.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile
import time

import ray.train
from ray.experimental.tqdm_ray import tqdm
from ray.train import CheckpointConsistencyMode
from ray.train.huggingface.transformers import prepare_trainer
from transformers import TrainerCallback

from phi3ray.config import TrainConfig
from phi3ray.console import quiet_third_party
from phi3ray.models.lora import merge_adapter
from phi3ray.storage import join, upload_dir
from phi3ray.train.checkpoints import restore_checkpoint
from phi3ray.train.recipe import LoraTraining
from phi3ray.train.sequences import Sequences, read_shard
from phi3ray.train.summary import TrainSummary

logger = logging.getLogger(__name__)


class RayReport(TrainerCallback):
    """Metrics to ray.train.report at every log; each save reported with this worker's checkpoint folder."""

    def __init__(self):
        self.latest: dict[str, float] = {}

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.latest.update({k: v for k, v in (logs or {}).items() if isinstance(v, (int, float))})
        ray.train.report({**self.latest, "step": state.global_step})

    def on_save(self, args, state, control, **kwargs):
        name = f"checkpoint-{state.global_step}"
        folder = os.path.join(args.output_dir, name)
        checkpoint = ray.train.Checkpoint.from_directory(folder) if os.path.isdir(folder) else None
        ray.train.report(
            {**self.latest, "step": state.global_step},
            checkpoint=checkpoint,
            checkpoint_dir_name=name,
            delete_local_checkpoint_after_upload=True,
        )
        # Ray registers a report when it next polls the workers (every ~2 s); a worker that died before
        # then would take this checkpoint with it. Wait until it is committed, so a crash resumes from here.
        ray.train.get_all_reported_checkpoints(consistency_mode=CheckpointConsistencyMode.COMMITTED)


class ProgressBar(TrainerCallback):
    """One bar on the driver (Ray's distributed tqdm), advanced by rank 0 per optimizer step."""

    def __init__(self):
        self.bar: tqdm | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.bar = tqdm(total=state.max_steps, desc="train", unit="step")
        self.bar.update(state.global_step)  # > 0 when resuming

    def on_step_end(self, args, state, control, **kwargs):
        self.bar.update(1)

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" in logs and self.bar is not None:
            self.bar.set_description(f"train loss {logs['loss']:.3f} lr {logs.get('learning_rate', 0):.2e}")
        if "loss" in logs or "eval_loss" in logs:
            shown = {k: round(v, 4) for k, v in logs.items() if isinstance(v, float)}
            logger.info("step %d/%d %s", state.global_step, state.max_steps, shown)

    def on_train_end(self, args, state, control, **kwargs):
        self.close()

    def close(self) -> None:
        """Also called when training fails, so that a dead attempt leaves no bar on the driver's console."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            sys.stdout.flush()  # the closing state is a stdout line; the actor may exit before its buffer drains


class FaultDrill(TrainerCallback):
    """run.kill_worker_at_step: this worker SIGKILLs its own process once, at the end of that step (a real process
    death); at the last step, once training ended (its last checkpoint reported, the adapter not yet saved)."""

    def __init__(self, step: int, flag: str):
        self.step, self.flag = step, flag

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step < state.max_steps:
            self._maybe_kill(state)

    def on_train_end(self, args, state, control, **kwargs):
        self._maybe_kill(state)

    def _maybe_kill(self, state) -> None:
        if state.global_step == self.step and not os.path.exists(self.flag):
            os.makedirs(os.path.dirname(self.flag), exist_ok=True)
            with open(self.flag, "w") as f:
                f.write(str(os.getpid()))
            logger.warning("fault drill: killing worker pid %d at step %d", os.getpid(), state.global_step)
            os.kill(os.getpid(), signal.SIGKILL)


def _log_to_stderr() -> None:
    """Ray forwards worker stderr to the driver; show phi3ray's INFO lines there."""
    package = logging.getLogger("phi3ray")
    package.setLevel(logging.INFO)
    if not logging.getLogger().handlers and not package.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
        package.addHandler(handler)


def _quiet_report_lines() -> None:
    """Ray Train 2.60 logs every report of every worker at INFO, with all metrics, under a logger named
    after its source file (so RunConfig's LoggingConfig misses it); keep the console for our progress."""
    from ray.train.v2._internal.execution import context as train_context

    logging.getLogger(train_context.__file__).setLevel(logging.WARNING)


def train_loop_per_worker(config: dict) -> TrainSummary:
    """Ray Train's per-worker function: config = {"cfg": TrainConfig, "data_stats": DataStats of the sequences
    the driver made (this worker reads its shard of them: phi3ray.train.sequences), "run_dir": uri, "drill_flag": path}."""
    quiet_third_party()  # each worker's process is an entry point too
    cfg: TrainConfig = config["cfg"]
    context = ray.train.get_context()
    rank, world_size = context.get_world_rank(), context.get_world_size()
    if rank == 0:
        _log_to_stderr()
    _quiet_report_lines()
    progress = ProgressBar() if rank == 0 else None
    callbacks: list[TrainerCallback] = [RayReport(), *([progress] if progress else [])]
    if cfg.run.kill_worker_at_step > 0 and rank == world_size - 1:
        callbacks.append(FaultDrill(cfg.run.kill_worker_at_step, config["drill_flag"]))

    started = time.perf_counter()
    shard = Sequences(read_shard("train"), read_shard("eval"), config["data_stats"])  # made once, by the driver
    recipe = LoraTraining(cfg, rank, world_size, callbacks, shard=shard)
    recipe.setup()
    prepare_trainer(recipe.trainer)
    resume_dir, resumed_from = None, None
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        resume_dir, resumed_from = restore_checkpoint(checkpoint)
    set_up = time.perf_counter()
    adapter_local = None
    try:
        if resume_dir is not None and recipe.is_last_step(resume_dir):
            if rank == 0:
                logger.info("checkpoint %d is the run's last step: its adapter is the result", resumed_from)
            adapter_local = recipe.adopt(resume_dir, tempfile.mkdtemp(prefix="phi3ray-adapter-"))
        else:
            recipe.train(resume_from=resume_dir)
    finally:
        if progress is not None:
            progress.close()
    trained = time.perf_counter()

    adapter_local = adapter_local or recipe.save_adapter(tempfile.mkdtemp(prefix="phi3ray-adapter-"))
    summary = recipe.summary()
    summary.resumed_from_step = resumed_from
    merged = None
    if rank == 0:
        summary.adapter_path = upload_dir(adapter_local, join(config["run_dir"], "adapter"))
        if cfg.training.merge:
            merged = merge_adapter(cfg.model, adapter_local, tempfile.mkdtemp(prefix="phi3ray-merged-"))
            summary.merged_path = upload_dir(merged, join(config["run_dir"], "merged"))
        logger.info("adapter saved to %s", summary.adapter_path)
    recipe.cleanup()
    for scratch in (adapter_local, resume_dir, merged):
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    summary.worker_seconds = {
        "setup": round(set_up - started, 2), "train": round(trained - set_up, 2), "save": round(time.perf_counter() - trained, 2),
    }
    logger.info("worker time: %s", summary.worker_seconds)
    return summary
