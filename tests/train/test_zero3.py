"""ZeRO-3 and the LoRA run, on CPU: the 4-bit base's device_map, the merge on one rank, adapter-only saves,
and non-reentrant activation checkpointing with frozen parameters against the pinned DeepSpeed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers.integrations.accelerate import check_and_set_device_map
from transformers.integrations.deepspeed import HfDeepSpeedConfig, unset_hf_deepspeed_config

from phi3ray.models.lora import merge_adapter
from phi3ray.train.deepspeed_config import cpu_accelerator_env
from phi3ray.train.zero3 import base_device_map, outside_zero3, zero3_active

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def zero3_args():
    """What a ZeRO-3 TrainingArguments leaves in the process: HF's DeepSpeed config, held alive."""
    held = HfDeepSpeedConfig({"zero_optimization": {"stage": 3}, "train_micro_batch_size_per_gpu": 1})
    yield held
    unset_hf_deepspeed_config()


@pytest.mark.fast
def test_a_4bit_base_under_zero3_gets_no_device_map(zero3_args):
    assert zero3_active()
    device_map = base_device_map(load_in_4bit=True, use_gpu=True, zero3=zero3_active())
    assert device_map is None
    assert check_and_set_device_map(device_map) is None  # what from_pretrained runs first: accepted
    with pytest.raises(ValueError, match="DeepSpeed Zero-3 is not compatible with passing a `device_map`"):
        check_and_set_device_map({"": 0})  # the map a 4-bit base used to get under ZeRO-3
    assert base_device_map(load_in_4bit=False, use_gpu=True, zero3=False) is None  # the Trainer places a 16-bit base


@pytest.mark.fast
def test_outside_zero3_is_plain_loading_and_puts_the_config_back(zero3_args):
    with outside_zero3():
        assert not zero3_active()
    assert zero3_active()


@pytest.fixture
def adapter(tiny_model_cfg, tmp_path):
    from tests.support.random_adapters import make_random_adapters

    return make_random_adapters(tiny_model_cfg, tmp_path, ["a"])["a"]


def test_merge_after_a_zero3_run_loads_the_base_on_this_rank_alone(adapter, zero3_args, tiny_model_cfg, tmp_path):
    assert zero3_active()  # as when rank 0 merges after training: the Trainer's ZeRO-3 config is still alive
    merged = merge_adapter(tiny_model_cfg, adapter, str(tmp_path / "merged"))
    assert zero3_active()
    weights = json.loads(Path(merged, "config.json").read_text())
    assert weights["model_type"] == "phi3"
    from transformers import AutoModelForCausalLM

    with pytest.raises(Exception):  # what the merge did before: zero.Init on one rank (here: no mpi4py to find peers)
        AutoModelForCausalLM.from_pretrained(merged)
    with outside_zero3():
        model = AutoModelForCausalLM.from_pretrained(merged)
    assert all(p.numel() > 0 for p in model.parameters())  # whole weights, not ZeRO-3 partitions


@pytest.mark.timeout(300)
@pytest.mark.skipif(torch.cuda.is_available(), reason="the gloo CPU ranks; gpu tests run ZeRO-3 on CUDA")
def test_zero3_lora_backward_with_frozen_params_and_adapter_only_save():
    """Two gloo ranks: ZeRO-3 with every frozen parameter partitioned (persistence threshold 0), non-reentrant
    checkpointing (transformers#47254: CheckpointError before DeepSpeed#8148), and a save that gathers only LoRA."""
    env = {**cpu_accelerator_env(), **os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(ROOT / "tests/support/zero3_ranks.py")], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["backward_ok"] and result["steps"] == 2
    assert result["frozen_partitioned"] == result["frozen"] > 0  # RMSNorm weights included
    assert result["gathered"] == result["trainable"] > 0  # only the LoRA parameters were all-gathered
    assert result["saved_keys"] and all(".lora_" in k for k in result["saved_keys"])
    assert result["max_abs_diff_vs_full_gather"] == 0.0
