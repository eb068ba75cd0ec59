"""The DeepSpeed dict handed to HF, precision flags, and combinations rejected before any worker starts."""

import importlib.util
import re
from pathlib import Path

import pytest
import torch

from phi3ray.errors import ConfigValueError
from phi3ray.train.deepspeed_config import (
    check_combination,
    cpu_accelerator_env,
    deepspeed_dict,
    precision_flags,
)
from tests.train.conftest import short_run

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast


@pytest.mark.parametrize("name,stage", [("none", 0), ("zero2", 2), ("zero3", 3), ("zero3_offload", 3)])
def test_stages(tmp_path, name, stage):
    cfg = short_run(tmp_path, "x", f"deepspeed={name}")
    assert cfg.deepspeed.stage == stage
    assert (deepspeed_dict(cfg) is None) == (name == "none")


def test_offload_does_not_pin_memory_without_gpus(tmp_path):
    cpu = deepspeed_dict(short_run(tmp_path, "x", "deepspeed=zero3_offload"))
    gpu = deepspeed_dict(short_run(tmp_path, "x", "deepspeed=zero3_offload", "scaling.use_gpu=true"))
    assert cpu["zero_optimization"]["offload_optimizer"] == {"device": "cpu", "pin_memory": False}
    assert gpu["zero_optimization"]["offload_param"] == {"device": "cpu", "pin_memory": True}
    assert cpu["train_micro_batch_size_per_gpu"] == "auto"  # filled by the HF integration


def test_precision_auto_is_fp32_on_cpu():
    assert precision_flags("auto") == {"bf16": False, "fp16": False}  # this machine has no CUDA
    assert precision_flags("bf16") == {"bf16": True, "fp16": False}


@pytest.mark.parametrize("overrides,match", [
    (["method=qlora", "deepspeed=zero3", "method.quant_storage=bfloat16"], "QLoRA with ZeRO-3 needs GPU workers"),
    (["training.precision=fp16"], "fp16 mixed precision needs GPU workers"),
])
def test_impossible_combinations_fail_at_config_time(tmp_path, overrides, match):
    with pytest.raises(ConfigValueError, match=match):
        check_combination(short_run(tmp_path, "x", *overrides))


def test_qlora_with_zero3_passes_the_check_on_gpu_workers(tmp_path):
    check_combination(short_run(tmp_path, "x", "method=qlora", "deepspeed=zero3", "method.quant_storage=bfloat16",
                                "scaling.use_gpu=true"))


def test_report_to_a_missing_tracker_says_what_to_install(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(ConfigValueError, match="wandb is not installed: pip install wandb"):
        check_combination(short_run(tmp_path, "x", "training.report_to=[wandb]"))
    check_combination(short_run(tmp_path, "x", "training.report_to=[mlflow]"))  # a dependency of phi3ray


def test_ds_accelerator_cpu_only_where_there_is_no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert cpu_accelerator_env() == {}  # a GPU run keeps DeepSpeed's CUDA accelerator
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cpu_accelerator_env() == {"DS_ACCELERATOR": "cpu"}


def test_nothing_exports_ds_accelerator_unconditionally():
    """The suite, the benches and CI take DS_ACCELERATOR from cpu_accelerator_env (scripts/quickstart.sh is
    the CPU quick start and keeps a user's own value)."""
    root = Path(__file__).resolve().parents[2]
    files = [*root.glob("tests/**/*.py"), *root.glob("bench/*.py"), *root.glob("bench/*.sh"), root / "scripts/test.sh",
             root / ".ci/run"]
    found = [f"{p.relative_to(root)}:{i}" for p in files if p.is_file() and p.name != Path(__file__).name
             for i, line in enumerate(p.read_text().splitlines(), 1) if re.search(r"DS_ACCELERATOR\W+cpu", line)]
    assert found == []
