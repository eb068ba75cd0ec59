"""A short real training run on the tiny Phi-3 (2 Ray workers on CPU), shared by the training tests."""

from __future__ import annotations

import pytest

from phi3ray.config import TrainConfig, validate
from tests.conftest import compose_config

# 6 optimizer steps of 2 workers x 4 sequences x 128 tokens, checkpoints at 3 and 6, eval at 0, 3 and 6.
SHORT_RUN = [
    "model=tiny",
    "data.max_seq_len=128",
    "training.max_steps=6",
    "training.save_steps=3",
    "training.eval_steps=3",
    "training.logging_steps=1",
    "training.learning_rate=1e-3",
    "training.warmup_ratio=0.0",
    "scaling.num_workers=2",
    "scaling.resources_per_worker={CPU: 1}",
]


def short_run(storage, name: str, *overrides: str) -> TrainConfig:
    """The composed config of a SHORT_RUN named name under storage, with more overrides."""
    return validate(compose_config("train", [*SHORT_RUN, f"run.storage_path={storage}", f"run.name={name}", *overrides]))


@pytest.fixture(scope="session")
def lora_zero2(ray_session, tmp_path_factory):
    """LoRA with DeepSpeed ZeRO-2: (config, TrainResult)."""
    from phi3ray.train.driver import fit

    cfg = short_run(tmp_path_factory.mktemp("runs"), "lora-zero2", "deepspeed=zero2")
    return cfg, fit(cfg)
