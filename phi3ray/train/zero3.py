"""What ZeRO-3 changes for a LoRA run: where the base is placed, how rank-0-only work loads a model, what a save gathers.

While a ZeRO-3 ``TrainingArguments`` exists, transformers (5.24) treats every ``from_pretrained`` as part of
the sharded run: it refuses a ``device_map`` ("DeepSpeed Zero-3 is not compatible with passing a
`device_map`") and builds a plain model under ``deepspeed.zero.Init``, whose loading gathers across ranks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from transformers.integrations import deepspeed as hf_deepspeed


def zero3_active() -> bool:
    """True while a ZeRO-3 TrainingArguments (HF's DeepSpeed config) is alive in this process."""
    return hf_deepspeed.is_deepspeed_zero3_enabled()


def base_device_map(load_in_4bit: bool, use_gpu: bool, zero3: bool) -> dict | None:
    """The device_map of the training base: a 4-bit base on this worker's GPU, except under ZeRO-3, where
    transformers refuses any device_map and bitsandbytes' quantizer places the 4-bit weights on the current
    device itself; a 16-bit base is placed by the Trainer (or partitioned by ZeRO-3)."""
    if load_in_4bit and use_gpu and not zero3:
        return {"": torch.cuda.current_device()}
    return None


@contextmanager
def outside_zero3() -> Iterator[None]:
    """Load a whole model on one rank (the merge after training) while a ZeRO-3 Trainer still exists.

    Without this, ``from_pretrained`` on rank 0 alone builds the base under ``zero.Init`` and gathers
    its weights with ranks that never join. The HF DeepSpeed config is put back afterwards.
    """
    ref = hf_deepspeed._hf_deepspeed_config_weak_ref
    held = ref() if ref is not None else None
    hf_deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        if held is not None:
            hf_deepspeed.set_hf_deepspeed_config(held)


def trainable_state_dict(engine, rank: int) -> dict[str, torch.Tensor] | None:
    """The trainable (LoRA) parameters by their state-dict names, gathered from their ZeRO-3 partitions.

    Every rank must call it; only the trainable parameters are all-gathered (a few MB for a rank-16 adapter),
    not the frozen base that ``stage3_gather_16bit_weights_on_model_save`` or DeepSpeed's
    ``_zero3_consolidated_16bit_state_dict`` walk through layer by layer (28 GB of bf16 for phi3-medium).
    engine is the DeepSpeedEngine; rank 0 gets the dict (on CPU), the others None.
    """
    import deepspeed

    named = [(name, p) for name, p in engine.module.named_parameters() if p.requires_grad]
    optimizer = engine.optimizer
    if hasattr(optimizer, "checkpoint_event_prologue"):  # as DeepSpeed's own saves: nothing left prefetched in flight
        optimizer.checkpoint_event_prologue()
    with deepspeed.zero.GatheredParameters([p for _, p in named], modifier_rank=None):
        state = {name: p.detach().to("cpu", copy=True) for name, p in named} if rank == 0 else None
    if hasattr(optimizer, "checkpoint_event_epilogue"):
        optimizer.checkpoint_event_epilogue()
    return state
