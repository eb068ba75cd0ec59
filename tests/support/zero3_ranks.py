"""Two gloo ranks on CPU run a LoRA'd small Phi-3 under DeepSpeed ZeRO-3 (tests/train/test_zero3.py).

Every frozen parameter is partitioned (stage3_param_persistence_threshold 0) and the decoder layers use
non-reentrant activation checkpointing: the combination of transformers#47254. Then the adapter is saved
the way phi3ray does (phi3ray.train.zero3.trainable_state_dict), counting what is all-gathered. Rank 0
prints one JSON line.
"""

from __future__ import annotations

import json
import os
import socket
import sys

import torch
import torch.multiprocessing as mp


def run(rank: int, world: int, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import deepspeed
    from peft import LoraConfig, get_peft_model
    from transformers import Phi3Config, Phi3ForCausalLM

    import phi3ray.train.zero3 as zero3
    from phi3ray.names import LORA_TARGETS

    deepspeed.init_distributed(dist_backend="gloo")
    torch.manual_seed(0)
    config = Phi3Config(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64, pad_token_id=0)
    model = Phi3ForCausalLM(config)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=list(LORA_TARGETS),
                                             init_lora_weights=False))
    trainable = [p for p in model.parameters() if p.requires_grad]
    ds_config = {
        "train_micro_batch_size_per_gpu": 1, "gradient_accumulation_steps": 1,
        "zero_optimization": {"stage": 3, "stage3_param_persistence_threshold": 0},
    }
    engine, *_ = deepspeed.initialize(model=model, optimizer=torch.optim.AdamW(trainable, lr=1e-3), config=ds_config)
    engine.train()
    ids = torch.randint(1, 128, (1, 16), generator=torch.Generator().manual_seed(rank))
    for _ in range(2):
        loss = engine(input_ids=ids, labels=ids).loss
        engine.backward(loss)  # CheckpointError here on a DeepSpeed without #8148
        engine.step()

    frozen = [p for p in engine.module.parameters() if not p.requires_grad]
    partitioned = sum(p.numel() == 0 for p in frozen)  # released between uses: the recompute must re-gather them
    engine.eval()  # an evaluation just before the save, as the Trainer runs one: it leaves prefetched params in flight
    with torch.no_grad():
        engine(input_ids=ids, labels=ids)
    engine.train()
    gathered = []
    original = deepspeed.zero.GatheredParameters

    class Counting(original):
        def __init__(self, params, *args, **kwargs):
            gathered.extend(params if isinstance(params, list) else [params])
            super().__init__(params, *args, **kwargs)

    deepspeed.zero.GatheredParameters = Counting
    state = zero3.trainable_state_dict(engine, rank)
    deepspeed.zero.GatheredParameters = original
    full = engine._zero3_consolidated_16bit_state_dict()  # reference: the whole model, gathered layer by layer
    if rank == 0:
        diff = max((state[k] - full[k]).abs().max().item() for k in state)
        print(json.dumps({
            "backward_ok": True, "steps": engine.global_steps, "gathered": len(gathered), "trainable": len(trainable),
            "frozen": len(frozen), "frozen_partitioned": partitioned,
            "saved_keys": sorted(state), "max_abs_diff_vs_full_gather": diff,
        }), flush=True)
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    mp.spawn(run, args=(2, free), nprocs=2, join=True)
    sys.exit(0)
