"""What only CUDA can show, with the code of bench/gpu_check.py on a 4-layer model of Phi-3-mini's width (skipped
without a GPU; bench/gpu_check.sh runs them on the device)."""

import os

import pytest
import torch

from bench.gpu_check import (build, finish, fp16_embedding, lora, mixed_generation, save_random_base,
                             train_in_subprocess)

pytestmark = pytest.mark.gpu

SIZE = dict(steps=3, batch=2, seq=1024)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return save_random_base(False, tmp_path_factory.mktemp("gpu-base"), layers=4)


@pytest.mark.parametrize("method, deepspeed, port", [("qlora", "none", 29701), ("lora", "zero2", 29702), ("qlora", "zero3", 29703)])
def test_the_recipe_trains_a_4bit_base_and_under_zero_on_one_gpu(base, tmp_path, method, deepspeed, port):
    result = finish(train_in_subprocess(base, method, deepspeed, SIZE, False, port, tmp_path, timeout=240))
    log = next(tmp_path.glob("*.log")).read_text()[-2000:] if "error" in result else ""
    assert "error" not in result, log
    assert result["steps"] == SIZE["steps"] and result["finite"] and result["lora_b_trained"] > 0
    if method == "qlora":  # 4 bits: the base's footprint is about a quarter of bf16's
        assert result["peak_gb"] < 6


def test_mixed_adapter_batch_matches_one_adapter_at_a_time_mostly():
    model, device, _ = build(dry_run=False, layers=4)
    result = mixed_generation(lora(model, ("a", "b")), device, rows=8, prompt=32, new=16)
    # bf16 kernels differ by batch shape, and greedy tokens of random weights sit on near-ties: the mixed batch
    # may move the logits no more than running each row by itself does (bench/gpu_check.sh prints both)
    assert result["logits_drift"] <= 2 * result["shape_drift"] + 1e-3


def test_fp16_embedding_stays_within_cosine_0_999_of_fp32():
    assert fp16_embedding("cuda") > 0.999


def test_the_gpu_marker_is_in_use():
    assert torch.cuda.is_available() and "DS_ACCELERATOR" not in os.environ
