"""One table of what only a GPU can show, at the model level: no Ray, DeepSpeed, bitsandbytes, Hydra or network.

    bash bench/gpu_check.sh             # one H100/H200: a Phi-3-mini-sized model (3.8B) with random weights, bf16
    bash bench/gpu_check.sh --dry-run   # CPU, the tiny Phi-3's dimensions, float32: the same code, in CI

Rows: LoRA train steps (tokens/s, MFU against the card's bf16 peak, peak memory); greedy generation of a batch
mixing two adapters vs one adapter at a time (time, and the share of rows whose tokens agree); fp16 vs fp32
sentence embedding (cosine). It runs the model-level code without Ray: the GPU machine has torch, transformers,
peft and accelerate only. Weights are random (real ones cannot be downloaded there), so losses mean nothing;
speed, memory and agreement do.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]  # = phi3ray.names.LORA_TARGETS (no phi3ray import: no hydra)
BF16_PEAK = {"H100": 989e12, "H200": 989e12, "A100": 312e12}  # dense bf16 FLOP/s of the SXM cards
PHI3_MINI = dict(hidden_size=3072, intermediate_size=8192, num_hidden_layers=32, num_attention_heads=32,
                 num_key_value_heads=32, vocab_size=32064, max_position_embeddings=4096)


def build(dry_run: bool):
    """(model, device, dtype): Phi-3-mini's dimensions on CUDA in bf16, or the tiny Phi-3's on CPU in float32."""
    from transformers import Phi3Config, Phi3ForCausalLM

    if dry_run:
        dims = json.loads((ROOT / "phi3ray/assets/tiny-phi3/config.json").read_text())
        config, device, dtype = Phi3Config(**dims), "cpu", torch.float32
    else:
        config, device, dtype = Phi3Config(**PHI3_MINI), "cuda", torch.bfloat16
    torch.manual_seed(0)
    with torch.device(device):
        model = Phi3ForCausalLM(config).to(dtype)
    return model, device, dtype


def lora(model, names=("a",), rank=16, seed=1):
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=TARGETS,
                                             init_lora_weights=False), adapter_name=names[0])
    for i, name in enumerate(names[1:], start=seed + 1):
        torch.manual_seed(i)
        model.add_adapter(name, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=TARGETS, init_lora_weights=False))
    return model


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def train_steps(model, device: str, steps: int, batch: int, seq: int) -> dict:
    """LoRA steps with gradient checkpointing: tokens/s, MFU (4·N FLOPs per token: forward 2N, input gradients
    2N; the frozen weights get no weight gradient), peak memory."""
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, model.config.vocab_size, (batch, seq), device=device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(steps + 1):  # the first step warms up
        sync(device)
        start = time.perf_counter()
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync(device)
        times.append(time.perf_counter() - start)
    seconds = sorted(times[1:])[len(times[1:]) // 2]
    tokens_s = batch * seq / seconds
    n = sum(p.numel() for p in model.parameters())
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    peak = next((v for k, v in BF16_PEAK.items() if k in name), None)
    return {"tokens_s": tokens_s, "mfu": 4 * n * tokens_s / peak if peak else None,
            "peak_gb": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None}


@torch.inference_mode()
def mixed_generation(model, device: str, rows: int, prompt: int, new: int) -> dict:
    """Greedy generation of rows alternating adapters a/b: one mixed batch vs one batch per adapter.

    Both ways are warmed up at their full shapes first and timed twice (the faster run counts), so the first
    large batch's allocations and kernel choices are not billed to whichever way runs first. Agreement is
    measured on the first step's logits (max |difference| / std of the logits) against what batch shape alone
    changes (each row run by itself vs its adapter's batch), since greedy tokens of a random-weight model sit
    on near-ties that bf16 kernels of another batch shape flip; the share of equal greedy rows is reported too.
    """
    model.eval()
    torch.manual_seed(0)
    ids = torch.randint(3, model.config.vocab_size, (rows, prompt), device=device)
    names = ["a" if i % 2 == 0 else "b" for i in range(rows)]
    groups = {name: [i for i, n in enumerate(names) if n == name] for name in ("a", "b")}
    kwargs = dict(max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=0)

    def mixed_run(**kw):
        return model.generate(input_ids=ids, adapter_names=names, **kw)

    def apart_run(**kw):
        out = None
        for name, rows_of in groups.items():
            model.set_adapter(name)
            part = model.generate(input_ids=ids[rows_of], **kw)
            out = torch.empty((rows, part.shape[1]), dtype=part.dtype, device=part.device) if out is None else out
            out[rows_of] = part
        return out

    def timed(run):
        best, out = float("inf"), None
        for _ in range(2):
            sync(device)
            start = time.perf_counter()
            out = run(**kwargs)
            sync(device)
            best = min(best, time.perf_counter() - start)
        return best, out

    mixed_run(**{**kwargs, "max_new_tokens": 2, "min_new_tokens": 2})  # warm-up at the full shapes
    apart_run(**{**kwargs, "max_new_tokens": 2, "min_new_tokens": 2})
    t_mixed, mixed = timed(mixed_run)
    t_apart, apart = timed(apart_run)
    logits_mixed = model(input_ids=ids, adapter_names=names).logits[:, -1].float()
    logits_apart = torch.empty_like(logits_mixed)
    for name, rows_of in groups.items():
        model.set_adapter(name)
        logits_apart[rows_of] = model(input_ids=ids[rows_of]).logits[:, -1].float()
    logits_alone = torch.empty_like(logits_mixed)  # each row by itself: what batch shape alone changes
    for name, rows_of in groups.items():
        model.set_adapter(name)
        for i in rows_of:
            logits_alone[i] = model(input_ids=ids[i : i + 1]).logits[0, -1].float()
    scale = logits_apart.std()
    drift = ((logits_mixed - logits_apart).abs().max() / scale).item()
    shape_drift = ((logits_alone - logits_apart).abs().max() / scale).item()
    same = (mixed == apart).all(dim=1).float().mean().item()
    return {"mixed_s": t_mixed, "apart_s": t_apart, "rows_equal": same, "logits_drift": drift,
            "shape_drift": shape_drift}


@torch.inference_mode()
def fp16_embedding(device: str) -> float:
    """A MiniLM-sized BERT (random weights): mean-pooled embeddings in fp16 vs fp32, the lowest cosine."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)
    model = BertModel(config).to(device).eval()
    ids = torch.randint(0, config.vocab_size, (16, 128), device=device)
    full = model(input_ids=ids).last_hidden_state.mean(1)
    dtype = torch.float16 if device == "cuda" else torch.bfloat16  # CPU: fp16 matmuls are slow; the check is the same
    half = model.to(dtype)(input_ids=ids).last_hidden_state.mean(1).float()
    return torch.nn.functional.cosine_similarity(full, half).min().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny Phi-3 dimensions, float32 (CI)")
    args = parser.parse_args()
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device here; use --dry-run on a CPU")
    started = time.perf_counter()
    print("gpu_check: model-level code only, without Ray, DeepSpeed, bitsandbytes or Hydra; random weights")
    model, device, dtype = build(args.dry_run)
    size = dict(steps=2, batch=2, seq=128) if args.dry_run else dict(steps=10, batch=4, seq=2048)
    train = train_steps(lora(model), device, **size)
    del model
    model, *_ = build(args.dry_run)
    gen = mixed_generation(lora(model, ("a", "b")), device, rows=4 if args.dry_run else 16, prompt=32,
                           new=8 if args.dry_run else 64)
    cosine = fp16_embedding(device)
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu (dry run)"
    fmt = lambda v, f: "n/a" if v is None else format(v, f)  # noqa: E731
    rows = [
        ("device", f"{name}, {str(dtype).removeprefix('torch.')}"),
        ("LoRA train: tokens/s", fmt(train["tokens_s"], ".0f")),
        ("LoRA train: MFU (bf16 peak)", fmt(train["mfu"], ".1%")),
        ("LoRA train: peak memory GiB", fmt(train["peak_gb"], ".1f")),
        ("mixed-adapter batch s / one at a time s", f"{gen['mixed_s']:.2f} / {gen['apart_s']:.2f}"),
        ("first-step logits max abs diff / std: mixed vs per adapter, batch shape alone",
         f"{gen['logits_drift']:.4f}, {gen['shape_drift']:.4f}"),
        ("mixed vs one-at-a-time greedy rows equal", f"{gen['rows_equal']:.0%}"),
        ("half-precision embedding: min cosine vs fp32", f"{cosine:.5f}"),
        ("total seconds", f"{time.perf_counter() - started:.1f}"),
    ]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"| {k:<{width}} | {v} |" for k, v in rows))
    if args.dry_run and gen["rows_equal"] < 1.0:  # float32 on CPU: a mixed batch must equal one adapter at a time
        raise SystemExit("gpu_check: mixed-adapter rows differ from one-at-a-time in float32")
    if cosine < 0.99:
        raise SystemExit(f"gpu_check: half-precision embeddings drift (min cosine {cosine:.4f})")


if __name__ == "__main__":
    main()
