"""LoRA adapters with random (non-zero) weights on the tiny Phi-3: each answers differently from the base.

Stand-ins for trained adapters in tests: `save_pretrained` peft folders, exactly what training writes.
"""

from __future__ import annotations

from pathlib import Path

import torch

from phi3ray.config import ModelConfig
from phi3ray.names import LORA_TARGETS

TARGETS = list(LORA_TARGETS)


def make_random_adapters(model_cfg: ModelConfig, root: Path, names: list[str], rank: int = 8) -> dict[str, str]:
    """Save one adapter per name under root (seeded by its position); return name -> folder."""
    from peft import LoraConfig, get_peft_model

    from phi3ray.models.base import load_base_model

    folders = {}
    for seed, name in enumerate(names, start=1):
        torch.manual_seed(seed)
        lora = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=TARGETS, init_lora_weights=False)
        model = get_peft_model(load_base_model(model_cfg), lora)
        model.save_pretrained(root / name)
        folders[name] = str(root / name)
    return folders
