"""One table of what only a GPU can show: phi3ray's own training recipe and serving engine on a Phi-3-mini-sized
model with random weights, plus model-level checks. No Ray, Hydra-free jobs or network: the GPU machine has torch,
transformers, peft and accelerate; Hydra, DeepSpeed and bitsandbytes travel as wheels (see bench/gpu_check.sh).

    bash bench/gpu_check.sh             # one H100/H200: Phi-3-mini's dimensions (3.8B), random weights, bf16
    bash bench/gpu_check.sh --dry-run   # CPU, the tiny Phi-3's dimensions, float32: the same code, in CI

Sections, each in its own guard (a failure is a row of the table, the others still run) and under one deadline:
- train: ``phi3ray.train.recipe.LoraTraining`` (the HF Trainer a Ray Train worker runs, with the preflight first)
  on the sample data, one process per run: LoRA and QLoRA without DeepSpeed, timed one after the other (tokens/s,
  MFU against the card's bf16 peak, peak memory), then LoRA and QLoRA under ZeRO-2 and ZeRO-3 on one GPU side by
  side (they must train, save an adapter that loads, and under ZeRO-3 merge it); times of those overlap.
- engine: ``phi3ray.serve.engine.Engine`` with four adapters: 16 requests at once vs one at a time (issue 14's
  10x), 64 at once, and the same 16 through peft's own mixed-adapter forward instead of the gathered per-row LoRA.
- mixed: peft's mixed-adapter ``generate`` vs one adapter at a time, and how far the first logits move.
- embedding: fp16 vs fp32 sentence embeddings.
Weights are random (real ones cannot be downloaded there), so losses mean nothing; speed, memory and agreement do.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # phi3ray, when run as a script from anywhere

from phi3ray.names import LORA_TARGETS as TARGETS  # noqa: E402

BF16_PEAK = {"H100": 989e12, "H200": 989e12, "A100": 312e12}  # dense bf16 FLOP/s of the SXM cards
PHI3_MINI = dict(hidden_size=3072, intermediate_size=8192, num_hidden_layers=32, num_attention_heads=32,
                 num_key_value_heads=32, vocab_size=32064, max_position_embeddings=4096)


def build(dry_run: bool, layers: int | None = None):
    """(model, device, dtype): Phi-3-mini's dimensions on CUDA in bf16 (`layers` of them: default all 32), or the
    tiny Phi-3's on CPU in float32."""
    from transformers import Phi3Config, Phi3ForCausalLM

    if dry_run:
        dims = json.loads((ROOT / "phi3ray/assets/tiny-phi3/config.json").read_text())
        config, device, dtype = Phi3Config(**dims), "cpu", torch.float32
    else:
        config, device, dtype = Phi3Config(**{**PHI3_MINI, "num_hidden_layers": layers or 32}), "cuda", torch.bfloat16
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




ASSETS = ROOT / "phi3ray/assets/tiny-phi3"


def save_random_base(dry_run: bool, folder: Path, layers: int | None = None) -> Path:
    """A loadable model folder: build()'s random weights and the tiny Phi-3's tokenizer and chat template."""
    model, *_ = build(dry_run, layers)
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json"):
        shutil.copy(ASSETS / name, folder / name)
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return folder


def train_run(model_dir: str, method: str, deepspeed: str, steps: int, batch: int, seq: int, dry_run: bool,
              merge: bool = False) -> dict:
    """phi3ray's recipe as one Ray Train worker runs it (rank 0 of 1), with the driver's preflight first."""
    from phi3ray.config import compose_config, validate
    from phi3ray.models.lora import merge_adapter
    from phi3ray.data.readers import read_training_data
    from phi3ray.train.preflight import preflight
    from phi3ray.train.recipe import LoraTraining

    gpu = not dry_run
    cfg = validate(compose_config("train", [
        "model=phi3-mini-4k", f"model.name_or_path={model_dir}", f"method={method}", f"deepspeed={deepspeed}",
        f"scaling.use_gpu={str(gpu).lower()}", "scaling.num_workers=1", f"training.max_steps={steps}",
        f"training.per_device_batch_size={batch}", "training.gradient_accumulation_steps=1", f"data.max_seq_len={seq}",
        "training.save_steps=100000", "training.logging_steps=1", "data.eval_fraction=0", "training.eval_on_start=false",
        "training.report_to=[]", f"training.precision={'bf16' if gpu else 'fp32'}",
        f"model.dtype={'bfloat16' if gpu else 'float32'}", "method.compute_dtype=" + ("bfloat16" if gpu else "float32"),
    ]))
    data = read_training_data(cfg.data)  # what the driver reads (phi3ray.train.driver.read_data)
    preflight(cfg, data)
    started = time.perf_counter()
    recipe = LoraTraining(cfg)
    recipe.setup()
    recipe.train()
    out = tempfile.mkdtemp(prefix="gpu-check-adapter-")
    recipe.save_adapter(out)
    summary = recipe.summary()
    from safetensors.torch import load_file

    tensors = load_file(str(Path(out) / "adapter_model.safetensors"))
    moved = sum(int(t.abs().sum() > 0) for k, t in tensors.items() if "lora_B" in k)  # B starts at zero
    result = {
        "run": f"{method}/{deepspeed}", "steps": summary.global_step, "tokens_s": summary.tokens_per_second,
        "seconds_per_step": summary.seconds_per_step, "peak_gb": (summary.peak_gpu_mb or 0) / 1024 or None,
        "loss": summary.train_loss, "adapter_tensors": len(tensors), "lora_b_trained": moved,
        "finite": all(bool(torch.isfinite(t.float()).all()) for t in tensors.values()),
        "params": recipe.model.get_nb_trainable_parameters()[1], "wall_s": time.perf_counter() - started,
    }
    if merge:
        merged = merge_adapter(cfg.model, out, tempfile.mkdtemp(prefix="gpu-check-merged-"))
        result["merged_files"] = sorted(p.name for p in Path(merged).iterdir() if p.suffix == ".safetensors")
    return result


def train_in_subprocess(model_dir: Path, method: str, deepspeed: str, size: dict, dry_run: bool, port: int,
                        logs: Path, timeout: float, merge: bool = False) -> subprocess.Popen:
    """One train_run in its own process (DeepSpeed and torch.distributed state are per process), as rank 0 of 1."""
    from phi3ray.train.deepspeed_config import cpu_accelerator_env

    env = {**os.environ, "RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1",
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "PYTHONPATH": os.pathsep.join(
               p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    env.update(cpu_accelerator_env())  # DeepSpeed on the CPU only where there is no CUDA
    args = [sys.executable, __file__, "--train-run", json.dumps(
        {"model_dir": str(model_dir), "method": method, "deepspeed": deepspeed, **size, "dry_run": dry_run,
         "merge": merge})]
    log = open(logs / f"train-{method}-{deepspeed}.log", "w")
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT)
    proc.deadline = time.monotonic() + timeout  # type: ignore[attr-defined]
    proc.log = log.name  # type: ignore[attr-defined]
    return proc


def finish(proc: subprocess.Popen) -> dict:
    """The run's result line, or {"error": the last line of its log}."""
    try:
        out, _ = proc.communicate(timeout=max(1.0, proc.deadline - time.monotonic()))  # type: ignore[attr-defined]
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"error": "out of time"}
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if proc.returncode == 0 and lines:
        return json.loads(lines[-1])
    tail = [line for line in Path(proc.log).read_text().splitlines() if line.strip()]  # type: ignore[attr-defined]
    return {"error": (tail[-1] if tail else f"exit {proc.returncode}")[:200]}


def engine_setup(dry_run: bool, tmp: Path):
    """(AdapterSet with 4 random LoRA adapters loaded, their names, 64 random prompts, greedy Sampling that never
    stops before max_new_tokens, device) for the engine checks."""
    from peft import PeftModel
    from transformers import AutoTokenizer

    from phi3ray.models.adapters import AdapterSet
    from phi3ray.models.base import stop_token_ids
    from phi3ray.models.decoding import Sampling

    model, device, dtype = build(dry_run)
    names = [f"adapter{i}" for i in range(4)]
    peft_model = lora(model, tuple(names))
    folders = {}
    for name in names:
        peft_model.save_pretrained(tmp / "adapters", selected_adapters=[name])
        folders[name] = str(tmp / "adapters" / name)
    base = peft_model.unload()
    base.eval()
    tokenizer = AutoTokenizer.from_pretrained(ASSETS)
    tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    adapters = AdapterSet(base, tokenizer, folders, max_loaded=4)
    for name in names:
        adapters.ensure(name)
    assert isinstance(adapters.model, PeftModel)
    new = 16 if dry_run else 64
    never_stop = {i: -1e4 for i in stop_token_ids(tokenizer)}  # random weights: every row makes `new` tokens
    sampling = Sampling(max_new_tokens=new, logit_bias=never_stop)
    gen = torch.Generator().manual_seed(0)
    prompts = [torch.randint(10, len(tokenizer) - 10, (int(torch.randint(64, 192, (1,), generator=gen)),),
                             generator=gen).tolist() for _ in range(64)]
    return adapters, names, prompts, sampling, device


def engine_section(dry_run: bool, tmp: Path) -> list[tuple[str, str]]:
    """The continuous engine with 4 LoRA adapters over the base: rows at once vs one at a time."""
    from phi3ray.models import row_lora
    from phi3ray.serve.engine import Engine, EngineSettings, Request, kv_bytes_per_token, run_requests

    adapters, names, prompts, sampling, device = engine_setup(dry_run, tmp)

    def run(engine, pairs) -> tuple[float, int]:
        sync(device)
        start = time.perf_counter()
        ends = run_requests(engine, [Request(p, sampling, n, time.time() + 600, stream=False) for p, n in pairs])
        sync(device)
        return time.perf_counter() - start, sum(getattr(e, "completion_tokens", 0) for e in ends)

    def measure(rows: int, alone: bool) -> tuple[float, float]:
        """tokens/s of `rows` requests over the 4 adapters, together (best of 2) or one after another."""
        pairs = [(prompts[i], names[i % 4]) for i in range(rows)]
        engine = Engine(adapters, EngineSettings(10**7, max_running=64, max_waiting=64, prefill_chunk_tokens=2048))
        try:
            run(engine, pairs[:4])  # warm-up
            if alone:
                seconds, tokens = map(sum, zip(*(run(engine, [pair]) for pair in pairs)))
                return tokens / seconds, engine.decode_steps
            best = min((run(engine, pairs) for _ in range(2)), key=lambda r: r[0])
            return best[1] / best[0], engine.decode_steps
        finally:
            engine.close()

    together, _ = measure(16, alone=False)
    alone, _ = measure(16, alone=True)
    wide, _ = measure(64, alone=False)
    supported = row_lora.RowLora.supported
    row_lora.RowLora.supported = staticmethod(lambda model: False)  # peft's own mixed-adapter forward
    try:
        with_peft, _ = measure(16, alone=False)
    finally:
        row_lora.RowLora.supported = supported
    kv = kv_bytes_per_token(adapters.model.config, adapters.model.dtype)
    return [
        ("engine: 16 requests over 4 adapters at once, tokens/s", f"{together:.0f}"),
        ("engine: the same one at a time, tokens/s (ratio)", f"{alone:.0f} ({together / alone:.1f}x)"),
        ("engine: 64 requests at once, tokens/s", f"{wide:.0f} ({wide / alone:.1f}x one at a time)"),
        ("engine: 16 at once with peft's mixed forward, tokens/s", f"{with_peft:.0f} (gathered LoRA {together / with_peft:.2f}x)"),
        ("engine: KV cache per token, KiB", f"{kv / 1024:.0f}"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny Phi-3 dimensions, float32 (CI)")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for all sections (default 480)")
    parser.add_argument("--logs", default=None, help="folder for each training run's log (default: a temp folder)")
    parser.add_argument("--only", action="append", help="run only these sections (train, engine, mixed, embedding)")
    parser.add_argument("--train-run", help=argparse.SUPPRESS)  # internal: one training run, in a subprocess
    args = parser.parse_args()
    if args.train_run:
        spec = json.loads(args.train_run)
        print(json.dumps(train_run(**spec)), flush=True)
        return
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device here; use --dry-run on a CPU")
    started = time.perf_counter()
    deadline = started + args.budget
    dry = args.dry_run
    print("gpu_check: phi3ray's recipe and engine and model-level checks, without Ray; random weights", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    logs = Path(args.logs) if args.logs else tmp / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    name = torch.cuda.get_device_name() if not dry else "cpu (dry run)"
    rows: list[tuple[str, str]] = [("device", f"{name}, {'bfloat16' if not dry else 'float32'}")]
    failures: list[str] = []

    def guard(section: str, needs: float, fn) -> None:
        if args.only and section not in args.only:
            return
        left = deadline - time.perf_counter()
        if left < needs:
            rows.append((section, f"skipped: {left:.0f} s left of the budget, needs about {needs:.0f}"))
            return
        t0 = time.perf_counter()
        try:
            rows.extend(fn())
        except Exception as err:  # noqa: BLE001  (one row per failed section; the traceback goes to stderr)
            traceback.print_exc()
            rows.append((section, f"FAILED: {type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"))
            failures.append(section)
        print(f"gpu_check: {section} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)

    def train() -> list[tuple[str, str]]:
        model_dir = save_random_base(dry, tmp / "base")
        size = dict(steps=2, batch=2, seq=256) if dry else dict(steps=6, batch=4, seq=2048)
        timed = [("lora", "none"), ("qlora", "none")]
        together = [("lora", "zero2"), ("lora", "zero3"), ("qlora", "zero2"), ("qlora", "zero3")]
        if dry:  # CI's time is short: one run, merged too (ZeRO on CPU has its own tests in tests/train)
            timed, together = [("lora", "none")], []
        out = []
        peak = next((v for k, v in BF16_PEAK.items() if k in name), None)
        for port, (method, ds) in enumerate(timed, start=29600):
            left = deadline - time.perf_counter()
            r = finish(train_in_subprocess(model_dir, method, ds, size, dry, port, logs, left - 30, merge=dry))
            out.extend(train_rows(r, f"{method}/{ds}", peak))
        left = deadline - time.perf_counter()
        procs = [train_in_subprocess(model_dir, m, ds, dict(size, steps=3 if not dry else 2), dry, port, logs,
                                     left - 20, merge=(m, ds) == ("lora", "zero3"))
                 for port, (m, ds) in enumerate(together, start=29610)]
        for (m, ds), proc in zip(together, procs):
            out.extend(train_rows(finish(proc), f"{m}/{ds} (runs overlap)", None))
        return out

    def engine() -> list[tuple[str, str]]:
        return engine_section(dry, tmp)

    def mixed() -> list[tuple[str, str]]:
        model, device, _ = build(dry)
        gen = mixed_generation(lora(model, ("a", "b")), device, rows=4 if dry else 16, prompt=32, new=8 if dry else 64)
        if dry and gen["rows_equal"] < 1.0:  # float32 on CPU: a mixed batch must equal one adapter at a time
            raise AssertionError("mixed-adapter rows differ from one-at-a-time in float32")
        return [
            ("peft mixed-adapter generate s / one adapter at a time s", f"{gen['mixed_s']:.2f} / {gen['apart_s']:.2f}"),
            ("first-step logits max abs diff / std: mixed vs per adapter, batch shape alone",
             f"{gen['logits_drift']:.4f}, {gen['shape_drift']:.4f}"),
            ("mixed vs one-at-a-time greedy rows equal", f"{gen['rows_equal']:.0%}"),
        ]

    def embedding() -> list[tuple[str, str]]:
        cosine = fp16_embedding("cpu" if dry else "cuda")
        if cosine < 0.99:
            raise AssertionError(f"half-precision embeddings drift (min cosine {cosine:.4f})")
        return [("half-precision embedding: min cosine vs fp32", f"{cosine:.5f}")]

    def tests() -> list[tuple[str, str]]:
        """The gpu-marked pytest tests (tests/models/test_gpu.py), in what is left of the budget."""
        left = deadline - time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider",
                               "tests/models/test_gpu.py"], cwd=ROOT, capture_output=True, text=True, timeout=left)
        (logs / "gpu-tests.log").write_text(proc.stdout + proc.stderr)
        last = [line for line in proc.stdout.splitlines() if line.strip()][-1:] or ["no output"]
        if proc.returncode not in (0, 5):  # 5: none collected (a CPU: every test skipped is 0)
            raise AssertionError(f"pytest -m gpu: {last[0]}")
        return [("pytest -m gpu tests/models/test_gpu.py", last[0])]

    guard("engine", 20 if dry else 60, engine)
    guard("train", 20 if dry else 150, train)
    if not dry:  # on a CPU every gpu test is skipped
        guard("tests", 60, tests)
    guard("embedding", 1 if dry else 5, embedding)
    guard("mixed", 5 if dry else 40, mixed)
    rows.append(("total seconds", f"{time.perf_counter() - started:.1f}"))
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"| {k:<{width}} | {v} |" for k, v in rows), flush=True)
    shutil.rmtree(tmp / "base", ignore_errors=True)
    if failures:
        raise SystemExit(f"gpu_check: failed: {', '.join(failures)} (logs in {logs})")


def train_rows(r: dict, label: str, peak: float | None) -> list[tuple[str, str]]:
    if "error" in r:
        return [(f"train {label}", f"FAILED: {r['error']}")]
    fmt = lambda v, f: "n/a" if v is None else format(v, f)  # noqa: E731
    mfu = 4 * r["params"] * r["tokens_s"] / peak if peak and r["tokens_s"] else None  # 4N FLOPs/token (no weight grads)
    ok = r["finite"] and r["lora_b_trained"] > 0 and r["steps"] > 0
    text = (f"{'ok' if ok else 'BAD ADAPTER'}: {r['steps']} steps, {fmt(r['tokens_s'], '.0f')} tokens/s, "
            f"{fmt(r['seconds_per_step'], '.2f')} s/step, peak {fmt(r['peak_gb'], '.1f')} GiB, loss {fmt(r['loss'], '.2f')}"
            f", {r['lora_b_trained']}/{r['adapter_tensors'] // 2} LoRA B trained")
    if mfu is not None:
        text += f", MFU {mfu:.1%}"
    if "merged_files" in r:
        text += f", merged: {len(r['merged_files'])} safetensors file(s)"
    return [(f"train {label}", text)]


if __name__ == "__main__":
    main()
