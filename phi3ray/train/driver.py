"""The driver: check the config and data, start Ray Train's TorchTrainer, write the adapter card, return where things are.

Runs the same way locally (Ray starts in-process) and under ``ray job submit`` (it attaches to the
cluster). Everything that can be wrong before step 1 is found here, before a worker starts: bad data
rows (file:line), impossible combinations, a resume without a checkpoint, a run folder already in use.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from dataclasses import dataclass

import ray
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from phi3ray.config import TrainConfig
from phi3ray.console import quiet_ray_data
from phi3ray.data.rag_rows import RAG_ROWS_FILE, rag_training_data
from phi3ray.data.readers import ReadReport, read_training_data
from phi3ray.errors import CheckpointError, ConfigValueError, Phi3RayError, TrainingRunError
from phi3ray.models.adapters import fetch_adapter
from phi3ray.models.base import model_path
from phi3ray.storage import expand_path, file_sha256, is_uri, join
from phi3ray.tracking import start_training
from phi3ray.train.adapter_card import build_card, write_card
from phi3ray.train.checkpoints import list_checkpoints, run_dir
from phi3ray.train.deepspeed_config import check_combination
from phi3ray.train.preflight import preflight
from phi3ray.train.sequences import dataset_config, prepare_sequences, ray_datasets
from phi3ray.train.summary import TrainSummary
from phi3ray.train.worker import train_loop_per_worker

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    run_dir: str  # <storage_path>/<run.name>
    adapter_path: str  # <run_dir>/adapter: peft layout + adapter_card.json + README.md
    checkpoint_path: str | None  # the latest checkpoint-<step> folder Ray kept
    summary: TrainSummary  # steps, losses, timing and data counts (rank 0)
    model_version: str | None = None  # <registered model>/<version> in MLflow (None with tracking.enabled=false)

    @property
    def merged_path(self) -> str | None:
        """<run_dir>/merged when training.merge=true."""
        return self.summary.merged_path


def scaling_config(cfg: TrainConfig) -> ScalingConfig:
    s = cfg.scaling
    return ScalingConfig(num_workers=s.num_workers, use_gpu=s.use_gpu, resources_per_worker=dict(s.resources_per_worker),
                         placement_strategy=s.placement_strategy)


def run_config(cfg: TrainConfig) -> RunConfig:
    r = cfg.run
    return RunConfig(
        name=r.name,
        storage_path=expand_path(r.storage_path),
        checkpoint_config=CheckpointConfig(num_to_keep=r.num_to_keep),
        failure_config=FailureConfig(max_failures=r.max_failures),
        # Train v2 tees workers' print() through its logger too; the duplicated progress-bar states
        # arrive after the bar closed and leave a stale bar on the driver's console.
        worker_runtime_env={"env_vars": {"RAY_TRAIN_ENABLE_PRINT_PATCH": "0"}},
    )


def with_absolute_paths(cfg: TrainConfig) -> TrainConfig:
    """The config with data paths made absolute against the driver's working directory (workers start elsewhere)."""
    data = dataclasses.replace(
        cfg.data,
        train_files=[expand_path(p) for p in cfg.data.train_files],
        eval_files=[expand_path(p) for p in cfg.data.eval_files],
    )
    return dataclasses.replace(cfg, data=data)


def read_data(cfg: TrainConfig) -> tuple[ReadReport, ReadReport | None]:
    """Read every data file once, here, raising DataErrors with every bad row; the workers get these rows."""
    if not cfg.data.train_files:
        raise ConfigValueError("data.train_files", cfg.data.train_files, "name at least one JSONL file")
    return read_training_data(cfg.data)


def check_run_folder(cfg: TrainConfig, run_uri: str) -> None:
    """resume=true needs a checkpoint; resume=false must not silently mix with an earlier run of the same name."""
    found = list_checkpoints(run_uri)
    if cfg.training.resume and not found:
        raise CheckpointError(run_uri, "training.resume=true but the run folder holds no checkpoint-<step>")
    if not cfg.training.resume and found:
        raise ConfigValueError(
            "training.resume", False,
            f"{run_uri} already holds checkpoints (latest step {found[-1][0]}); set training.resume=true "
            "to continue that run, or pick a new run.name",
        )


def check_storage_reach(cfg: TrainConfig, nodes: int) -> None:
    """On a cluster of several nodes (nodes: alive ones), a local run.storage_path must be a shared filesystem.

    Every worker writes its checkpoint shard there and a restarted worker reads it back, from whichever node it
    lands on; a folder that only the driver's node has fails at the first checkpoint, or resumes from nothing.
    """
    path = cfg.run.storage_path
    if nodes > 1 and not is_uri(path) and not cfg.run.shared_storage:
        raise ConfigValueError(
            "run.storage_path", path, f"is a folder of this node, but the Ray cluster has {nodes} nodes and workers "
            "on the others cannot reach it; use s3://... or gs://..., or run.shared_storage=true when it is one "
            "filesystem mounted at the same path on every node (NFS, EFS)",
        )


def _why(err: Exception) -> str:
    """The workers' own cause: the lowest failed rank's exception (a phi3ray error whole, others' first line)."""
    failures = getattr(err, "worker_failures", None) or {}  # ray.train.WorkerGroupError: rank -> the worker's exception
    cause = min(failures.items())[1] if failures else getattr(err, "controller_failure", None)
    if isinstance(cause, Phi3RayError):
        return str(cause)
    if cause is not None:
        first = (str(cause).strip().splitlines() or [""])[0]
        return f"{type(cause).__name__}: {first}" if first else type(cause).__name__
    lines = [line for line in str(err).splitlines() if line.strip() and not line.startswith((" ", "...", "["))]
    return lines[-1] if lines else type(err).__name__


def fit(cfg: TrainConfig) -> TrainResult:
    """Train LoRA/QLoRA on cfg.scaling.num_workers Ray Train workers; return where the adapter was saved."""
    check_combination(cfg)
    given = [*cfg.data.train_files, *cfg.data.eval_files]
    cfg = with_absolute_paths(cfg)
    data = read_data(cfg)
    hashes = {path: file_sha256(full) for path, full in zip(given, [*cfg.data.train_files, *cfg.data.eval_files])}
    run_uri = run_dir(cfg.run)
    check_run_folder(cfg, run_uri)
    model_path(cfg.model)  # a model made on first use (the tiny Phi-3) is made here, whole: workers only read it
    preflight(cfg, data)  # meta-device model, LoRA targets, chat template, the combination: before any worker
    rag_lineage = None
    if cfg.data.rag_context:  # every question with the sources serving would show it (RAFT), made here, once
        data, rag_lineage = rag_training_data(cfg, data, join(run_uri, RAG_ROWS_FILE))
    drill_flag = os.path.join(run_uri if not is_uri(run_uri) else tempfile.gettempdir(), f"fault-drill-{cfg.run.name}")

    tracker = start_training(cfg)  # the MLflow run, before any worker: an unreachable server stops the job here
    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init()  # under `ray job submit` RAY_ADDRESS points at the cluster; otherwise a local Ray starts here
    quiet_ray_data()
    try:
        check_storage_reach(cfg, sum(1 for node in ray.nodes() if node.get("Alive")))  # before any worker starts
        sequences = prepare_sequences(cfg, data, cfg.scaling.num_workers)  # once, here; workers read their shards
        trainer = TorchTrainer(
            train_loop_per_worker,
            train_loop_config={"cfg": cfg, "data_stats": sequences.stats, "run_dir": run_uri, "drill_flag": drill_flag},
            scaling_config=scaling_config(cfg),
            run_config=run_config(cfg),
            datasets=ray_datasets(sequences, cfg.training.seed),
            dataset_config=dataset_config(),
        )
        result = trainer.fit()
    except ray.train.TrainingFailedError as err:
        if tracker is not None:
            tracker.fail(_why(err))
        raise TrainingRunError(cfg.run.name, run_uri, _why(err)) from err
    except Phi3RayError as err:  # the data made no sequence to train or evaluate on
        if tracker is not None:
            tracker.fail(str(err))
        raise
    finally:
        if started_ray:
            ray.shutdown()

    summary: TrainSummary = result.return_value
    card = build_card(cfg, hashes, summary, rag_lineage)
    if tracker is not None:
        card["tracking"] = tracker.card_entry()  # evaluation finds the run and the registered version by it
    write_card(summary.adapter_path, card)
    version = None
    if tracker is not None:  # metrics, the adapter + card as artifacts, a new registered model version
        version = f"{tracker.model_name}/{tracker.finish(summary, fetch_adapter(summary.adapter_path), card)}"
    checkpoints = list_checkpoints(run_uri)
    return TrainResult(
        run_dir=run_uri,
        adapter_path=summary.adapter_path,
        checkpoint_path=checkpoints[-1][1] if checkpoints else None,
        summary=summary,
        model_version=version,
    )
