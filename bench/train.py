"""Seconds per step of our Ray Train job against plain HF Trainer + peft in one process; peak memory of LoRA vs QLoRA.

    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 HF_HUB_OFFLINE=1 python bench/train.py
    python bench/train.py --steps 30 model=phi3-mini-4k scaling.use_gpu=true   # on a GPU machine

Both sides train the same model on the same packed sequences for the same number of steps, with
the same batch, precision and gradient checkpointing; the step time is the median wall time of an
optimizer step (StepTimer), eval and checkpointing switched off. Our job runs one Ray Train worker
holding as many CPUs as the baseline's process uses, so the ratio is Ray's overhead, not parallelism.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from phi3ray.train.deepspeed_config import cpu_accelerator_env  # noqa: E402

for _name, _value in cpu_accelerator_env().items():  # DeepSpeed on the CPU only on a machine without CUDA
    os.environ.setdefault(_name, _value)

from phi3ray.config import TrainConfig, load_config  # noqa: E402


def baseline(cfg: TrainConfig) -> dict:
    """Plain transformers Trainer + peft in this process: same sequences, batch, steps; no Ray, no DeepSpeed."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments, set_seed

    from phi3ray.data.packing import PackedCollator, PackedDataset, pack_examples, trim_to_shards
    from phi3ray.data.masking import tokenize_examples
    from phi3ray.data.readers import read_examples, split_examples
    from phi3ray.models.base import model_path
    from phi3ray.models.lora import lora_config
    from phi3ray.train.recipe import StepTimer

    t, d = cfg.training, cfg.data
    path = model_path(cfg.model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16 if cfg.scaling.use_gpu else torch.float32)
    model.config.use_cache = False
    set_seed(t.seed)
    model = get_peft_model(model, lora_config(cfg.method))
    train, _ = split_examples(read_examples(d.train_files, d.format).examples, d.eval_fraction, t.seed)
    rows, _ = tokenize_examples(tokenizer, train, d.max_seq_len, d.overflow)
    packs, _ = trim_to_shards(pack_examples(rows, d.max_seq_len), 1, t.per_device_batch_size)
    timer = StepTimer()
    args = TrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="bench-hf-"), max_steps=t.max_steps,
        per_device_train_batch_size=t.per_device_batch_size, learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler, warmup_steps=t.warmup_ratio, bf16=cfg.scaling.use_gpu,
        activation_checkpointing=t.gradient_checkpointing, activation_checkpointing_kwargs={"use_reentrant": False},
        save_strategy="no", eval_strategy="no", logging_steps=t.logging_steps, report_to="none",
        seed=t.seed, data_seed=t.seed, use_cpu=not cfg.scaling.use_gpu, disable_tqdm=True,
        remove_unused_columns=False, dataloader_pin_memory=cfg.scaling.use_gpu,
    )
    trainer = Trainer(model=model, args=args, train_dataset=PackedDataset(packs),
                      data_collator=PackedCollator(tokenizer.pad_token_id), callbacks=[timer])
    start = time.perf_counter()
    trainer.train()
    return {"seconds_per_step": timer.seconds_per_step(), "loop_s": time.perf_counter() - start,
            "loss": trainer.state.log_history[-1].get("train_loss"), "threads": torch.get_num_threads()}


def ours(cfg: TrainConfig) -> dict:
    """phi3ray.train.driver.fit, Ray started here (its start-up timed too)."""
    import ray

    from phi3ray.train.driver import fit

    start = time.perf_counter()
    # with its dashboard, as fit() would start it: Ray Train's placement-group cleaner asks the state API
    # whether the run's controller lives, and without a dashboard it may ask another Ray on this machine
    ray.init(num_cpus=int(cfg.scaling.resources_per_worker.get("CPU", 1)) * cfg.scaling.num_workers)
    ray_up = time.perf_counter() - start
    result = fit(cfg)
    wall = time.perf_counter() - start
    ray.shutdown()
    return {**dataclasses.asdict(result.summary), "wall_s": wall, "ray_init_s": ray_up}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--cpus", type=int, default=1, help="CPUs of the one Ray worker = torch threads of the baseline")
    parser.add_argument("--repeats", type=int, default=2, help="baseline/ours pairs, run alternately")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=phi3-mini-4k scaling.use_gpu=true")
    opts = parser.parse_args()
    runs = tempfile.mkdtemp(prefix="bench-runs-")
    common = [
        "model=tiny", "deepspeed=none", "data.max_seq_len=128", "scaling.num_workers=1",
        f"scaling.resources_per_worker={{CPU: {opts.cpus}}}", f"training.max_steps={opts.steps}",
        f"training.save_steps={opts.steps}", f"training.logging_steps={opts.steps}", "training.eval_on_start=false",
        f"training.eval_steps={10 * opts.steps}", f"run.storage_path={runs}", *opts.overrides,
    ]
    torch.set_num_threads(opts.cpus)

    pairs = []
    for r in range(opts.repeats):  # alternate, so that load changes on a shared machine hit both sides
        lora_cfg = load_config("train", [*common, "method=lora", f"run.name=bench-lora-{r}"])
        pairs.append((baseline(lora_cfg), ours(lora_cfg)))
    qlora_cfg = load_config("train", [*common, "method=qlora", "run.name=bench-qlora"])
    qlora = ours(qlora_cfg)
    lora = pairs[-1][1]

    steps = opts.steps
    print(f"\nmodel {lora_cfg.model.name}, {steps} steps, batch {lora_cfg.training.per_device_batch_size} x "
          f"{lora_cfg.data.max_seq_len} tokens, {opts.cpus} CPU thread(s) each side, "
          f"device {'cuda' if lora_cfg.scaling.use_gpu else 'cpu'}, {opts.repeats} alternating pair(s)")
    print(f"{'pair':>4} {'HF s/step':>10} {'ours s/step':>12} {'ratio':>6} {'ours incl. Ray start-up':>24} {'ratio':>6}")
    ratios, ratios_all = [], []
    for r, (base, mine) in enumerate(pairs):
        with_startup = mine["wall_s"] / steps
        ratios.append(mine["seconds_per_step"] / base["seconds_per_step"])
        ratios_all.append(with_startup / base["seconds_per_step"])
        print(f"{r:>4} {base['seconds_per_step']:10.4f} {mine['seconds_per_step']:12.4f} {ratios[-1]:6.2f} "
              f"{with_startup:24.4f} {ratios_all[-1]:6.2f}")
    print(f"median ratio, Ray start-up excluded: {statistics.median(ratios):.2f}; included: "
          f"{statistics.median(ratios_all):.2f} (wall {lora['wall_s']:.1f} s for {steps} steps: "
          f"ray.init {lora['ray_init_s']:.1f} s, then workers, model, data, steps, save)")
    print(f"torch threads: baseline {pairs[-1][0]['threads']}, Ray worker {lora['torch_threads']}")

    print(f"\npeak memory, one worker              {'LoRA':>10} {'QLoRA':>10}")
    print(f"{'model weights + adapter (MB)':36} {lora['model_bytes'] / 2**20:10.1f} {qlora['model_bytes'] / 2**20:10.1f}")
    print(f"{'worker peak RSS (MB)':36} {lora['peak_rss_mb']:10.1f} {qlora['peak_rss_mb']:10.1f}")
    if lora.get("peak_gpu_mb"):
        print(f"{'peak GPU memory (MB)':36} {lora['peak_gpu_mb']:10.1f} {qlora['peak_gpu_mb']:10.1f}")
    print(f"{'tokens/s':36} {lora['tokens_per_second']:10.1f} {qlora['tokens_per_second']:10.1f}")
    print(f"{'s/step':36} {lora['seconds_per_step']:10.4f} {qlora['seconds_per_step']:10.4f}")


if __name__ == "__main__":
    main()
