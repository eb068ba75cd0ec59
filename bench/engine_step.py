"""Where a decode step of the continuous engine goes: the bare model, the model with per-row LoRA, the engine,
and a profile of the engine's steps (what bench/gpu_check.py's engine rows cannot say).

    python bench/engine_step.py            # one GPU, Phi-3-mini's dimensions, random weights, bf16
    python bench/engine_step.py --dry-run  # CPU, the tiny Phi-3's dimensions

Prints ms per decode step for 1 and 16 rows: (a) the bare transformers model with a DynamicCache, (b) the same
with 4 LoRA adapters routed per row (phi3ray.models.row_lora), (c) the engine end to end; then the top operators
of a torch.profiler trace of 16-row engine steps, by self CPU time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.gpu_check import engine_setup, sync  # noqa: E402


@torch.inference_mode()
def model_steps(model, rows: int, steps: int, device: str, route=None) -> float:
    """ms per decode step of `model` over `rows` rows after a 128-token prefill (route: set per-row adapters)."""
    from transformers import DynamicCache

    ids = torch.randint(10, 4000, (rows, 128), device=device)
    mask = torch.ones_like(ids)
    if route:
        route(rows)
    cache = DynamicCache()
    out = model(input_ids=ids, attention_mask=mask, past_key_values=cache, use_cache=True, logits_to_keep=1)
    token = out.logits[:, -1].argmax(-1)
    times = []
    for step in range(steps):
        sync(device)
        start = time.perf_counter()
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        positions = torch.full((rows, 1), 128 + step, device=device)
        if route:
            route(rows)
        out = model(input_ids=token[:, None], attention_mask=mask, position_ids=positions, past_key_values=cache,
                    use_cache=True, logits_to_keep=1)
        token = out.logits[:, -1].argmax(-1)
        token.tolist()  # the engine reads every step's tokens on the host
        times.append(time.perf_counter() - start)
    return 1000 * sorted(times)[len(times) // 2]


def engine_ms(engine, pairs, sampling) -> float:
    from phi3ray.serve.engine import Request, run_requests

    steps = engine.decode_steps
    start = time.perf_counter()
    run_requests(engine, [Request(prompt, sampling, name, time.time() + 600, stream=False) for prompt, name in pairs])
    return 1000 * (time.perf_counter() - start) / max(1, engine.decode_steps - steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    from phi3ray.models.row_lora import RowLora
    from phi3ray.serve.engine import Engine, EngineSettings

    adapters, names, prompts, sampling, device = engine_setup(args.dry_run, Path(tempfile.mkdtemp()))
    model = adapters.model
    steps = 32
    rows_out = []
    with model.disable_adapter():
        for rows in (1, 16):
            rows_out.append((f"bare model, {rows} row(s)", model_steps(model.get_base_model(), rows, steps, device)))
    row_lora = RowLora(model)
    row_lora.refresh(list(adapters.loaded))
    for rows in (1, 16):
        route = lambda n: row_lora.rows([names[i % 4] for i in range(n)], torch.device(device))  # noqa: E731
        rows_out.append((f"model + per-row LoRA (4 adapters), {rows} row(s)", model_steps(model, rows, steps, device, route)))
    row_lora.uninstall()
    engine = Engine(adapters, EngineSettings(10**7, max_running=64, max_waiting=64, prefill_chunk_tokens=4096))
    try:
        engine_ms(engine, [(prompts[0], names[0])], sampling)  # warm-up
        for rows in (1, 16):
            rows_out.append((f"engine end to end, {rows} row(s)",
                             engine_ms(engine, [(prompts[i], names[i % 4]) for i in range(rows)], sampling)))
    finally:
        engine.close()
    width = max(len(k) for k, _ in rows_out)
    print("\n".join(f"| {k:<{width}} | {v:.1f} ms/step |" for k, v in rows_out))
    # the model with per-row LoRA, 16 rows, under the profiler: host time vs device time, kernel launches per step
    row_lora = RowLora(model)
    row_lora.refresh(list(adapters.loaded))
    route = lambda n: row_lora.rows([names[i % 4] for i in range(n)], torch.device(device))  # noqa: E731
    model_steps(model, 16, 4, device, route)
    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if device == "cuda" else [])
    with torch.profiler.profile(activities=activities) as prof:
        model_steps(model, 16, 16, device, route)
    row_lora.uninstall()
    events = prof.key_averages()
    launches = sum(e.count for e in events if e.key in ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC"))
    device_ms = sum(getattr(e, "self_device_time_total", 0) for e in events) / 1000
    print(f"profiled 16-row steps with per-row LoRA (prefill included, 17 forwards): kernel launches {launches}, "
          f"device busy {device_ms:.0f} ms")
    print(events.table(sort_by="self_cpu_time_total", row_limit=20, max_name_column_width=50))


if __name__ == "__main__":
    main()
