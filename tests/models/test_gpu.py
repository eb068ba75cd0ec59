"""What only CUDA can show, with the model-level code of bench/gpu_check.py (skipped without a GPU)."""

import pytest
import torch

from bench.gpu_check import build, fp16_embedding, lora, mixed_generation, train_steps

pytestmark = pytest.mark.gpu


def test_lora_steps_in_bf16_fit_one_gpu():
    model, device, dtype = build(dry_run=False)
    result = train_steps(lora(model), device, steps=3, batch=2, seq=1024)
    assert dtype == torch.bfloat16 and result["tokens_s"] > 0 and result["peak_gb"] < 70


def test_mixed_adapter_batch_matches_one_adapter_at_a_time_mostly():
    model, device, _ = build(dry_run=False)
    result = mixed_generation(lora(model, ("a", "b")), device, rows=8, prompt=32, new=16)
    # bf16 kernels differ by batch shape, and greedy tokens of random weights sit on near-ties: the mixed batch
    # may move the logits no more than running each row by itself does (bench/gpu_check.sh prints both)
    assert result["logits_drift"] <= 2 * result["shape_drift"] + 1e-3


def test_fp16_embedding_stays_within_cosine_0_999_of_fp32():
    assert fp16_embedding("cuda") > 0.999


def test_the_gpu_marker_is_in_use():
    assert torch.cuda.is_available()
