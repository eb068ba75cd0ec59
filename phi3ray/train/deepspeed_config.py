"""The DeepSpeed config handed to the HF Trainer, the checks that keep impossible combinations from starting,
and the one adjustment that lets accelerate run DeepSpeed on CPU workers (gloo)."""

from __future__ import annotations

import copy
import importlib.util
import logging
import os

import torch

from phi3ray.config import TrainConfig
from phi3ray.errors import ConfigValueError

logger = logging.getLogger(__name__)

REPORTERS = {"mlflow": "mlflow", "wandb": "wandb", "tensorboard": "tensorboard"}  # report_to -> package


def deepspeed_dict(cfg: TrainConfig) -> dict | None:
    """conf/deepspeed/<name>.yaml as a dict for TrainingArguments(deepspeed=...); "auto" is filled by HF."""
    if not cfg.deepspeed.enabled:
        return None
    config = copy.deepcopy(cfg.deepspeed.config)
    if not cfg.scaling.use_gpu:  # pinned host memory needs CUDA
        for key in ("offload_optimizer", "offload_param"):
            if key in config.get("zero_optimization", {}):
                config["zero_optimization"][key]["pin_memory"] = False
    return config


def check_combination(cfg: TrainConfig) -> None:
    """Reject, before any worker starts, what cannot run on the configured hardware or in this environment.

    Checks of values alone live with the values (phi3ray/config.py); these need the hardware the config
    asks for (scaling.use_gpu) or what is installed."""
    cpu = not cfg.scaling.use_gpu
    if cfg.method.load_in_4bit and cfg.deepspeed.stage == 3 and cpu:
        raise ConfigValueError(
            "deepspeed.name", cfg.deepspeed.name,
            "QLoRA with ZeRO-3 needs GPU workers (scaling.use_gpu=true): on CPU bitsandbytes keeps 4-bit "
            "weights packed as uint8, which ZeRO-3 can neither shard nor save; set scaling.use_gpu=true, or use "
            "deepspeed=zero2 or none",
        )
    if cfg.training.precision == "fp16" and cpu:
        raise ConfigValueError("training.precision", "fp16", "fp16 mixed precision needs GPU workers; use fp32 or bf16")
    for target in cfg.training.report_to:
        if importlib.util.find_spec(REPORTERS[target]) is None:
            raise ConfigValueError(
                "training.report_to", list(cfg.training.report_to), f"{target} is not installed: pip install {target}"
            )


def cpu_accelerator_env() -> dict[str, str]:
    """DS_ACCELERATOR=cpu where this machine has no CUDA (tests, benches, CPU clusters), nothing where it has:
    exported unconditionally it would also put DeepSpeed on the CPU in a GPU run."""
    return {} if torch.cuda.is_available() else {"DS_ACCELERATOR": "cpu"}


def precision_flags(precision: str) -> dict[str, bool]:
    """TrainingArguments' bf16/fp16 from training.precision (auto: bf16 on CUDA, fp32 on CPU)."""
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_available() else "fp32"
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


def configure_cpu_deepspeed_state() -> None:
    """Make accelerate's shared state DeepSpeed over the gloo group Ray Train already set up.

    accelerate only picks a distributed backend for DeepSpeed on accelerators, so on CPU it would see
    one process and DeepSpeed would reject the batch sizes. Called on CPU workers before TrainingArguments,
    which then reuses this state (``accelerator_config={"use_configured_state": True}``).
    """
    import torch.distributed as dist
    from accelerate import PartialState

    os.environ["ACCELERATE_USE_DEEPSPEED"] = "true"
    try:
        state = PartialState()
    finally:
        del os.environ["ACCELERATE_USE_DEEPSPEED"]
    if dist.is_initialized():
        state.backend = dist.get_backend()
        state.num_processes = dist.get_world_size()
        state.process_index = dist.get_rank()
        state.local_process_index = int(os.environ.get("LOCAL_RANK", state.process_index))
    logger.debug("accelerate state: %s", state)
