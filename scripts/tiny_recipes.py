"""Variants of the tiny Phi-3's recipe (phi3ray.models.tiny.SHIPPED_RECIPE) pre-trained side by side, one process
each on one device, for issue 12's question: does a bigger model, or a longer run, read better?

    python scripts/tiny_recipes.py --out DIR                       # shipped,wide,deep,more: on CUDA when there is one
    python scripts/tiny_recipes.py --out DIR --variants wide,more --deadline 480
    python scripts/tiny_recipes.py --out DIR --scale 0.002         # a smoke run: every stage a few steps

Each variant keeps a checkpoint after every stage, DIR/NAME@sN (so the deadline keeps its last finished stage),
and logs to DIR/NAME.log; at the end DIR/NAME.tar holds its last KEEP checkpoints, weights cast to bf16 (the size
they would ship at), and its log, ready for ``tar -xf`` and ``jobs/evaluate.py model=tiny
model.name_or_path=DIR/NAME@sN model.make_if_missing=false``. Pick a checkpoint by its probe lines (the held-back
lessons), not by the sample's figures, so that the sample stays a test. The summary prints every variant's probe
lines: copies, looks up, locates (the first value token of the spread-key drill), and the held-back lessons.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from phi3ray.models.tiny import SHIPPED_RECIPE, Recipe, Stage

WIDE = (("hidden_size", 192), ("intermediate_size", 512), ("num_hidden_layers", 6),
        ("num_attention_heads", 6), ("num_key_value_heads", 6))  # ~3.7M parameters tied, 7.3 MB in bf16
DEEP = (("num_hidden_layers", 8),)  # ~2.2M parameters tied
KEEP = 2  # checkpoints per variant in its tar: the last ones


def _scaled(recipe: Recipe, scale: float) -> Recipe:
    """The recipe with every stage's steps times scale (at least 2)."""
    return dataclasses.replace(recipe, stages=tuple(
        dataclasses.replace(stage, steps=max(2, round(stage.steps * scale))) for stage in recipe.stages))


# A bigger model's copy course needs longer: at 1500 steps 6 x 192 copied 45% and 8 x 128 71% (session 11's GPU
# run), and neither read better afterwards. 3000 steps of it first, then the shipped stages.
LONG_COPY = (dataclasses.replace(SHIPPED_RECIPE.stages[0], steps=3000),) + SHIPPED_RECIPE.stages[1:]
# More of the last stage's mix, from the shipped weights, at falling learning rates.
MORE = (Stage(2000, 5e-4, seed=44, prompt_weight=0.0, separate=True, pattern="ROSOSC"),
        Stage(2000, 2.5e-4, seed=45, prompt_weight=0.0, separate=True, pattern="ROSOSC"),
        Stage(2000, 2.5e-4, seed=46, prompt_weight=0.0, separate=True, pattern="OSOSC"))

VARIANTS: dict[str, tuple[Recipe, int]] = {  # name: (recipe, first stage run: the earlier ones are the shipped weights)
    "shipped": (SHIPPED_RECIPE, 0),  # the same recipe again: how far two runs of it differ
    "wide": (dataclasses.replace(SHIPPED_RECIPE, stages=LONG_COPY, dims=WIDE), 0),
    "deep": (dataclasses.replace(SHIPPED_RECIPE, stages=LONG_COPY, dims=DEEP), 0),
    "more": (dataclasses.replace(SHIPPED_RECIPE, stages=SHIPPED_RECIPE.stages + MORE), len(SHIPPED_RECIPE.stages)),
    "long": (_scaled(SHIPPED_RECIPE, 2), 0),  # ~17 000 steps: more than one 10-minute call on an H200 with the others
}


def run_one(name: str, out: Path, scale: float, device: str | None) -> None:
    """Pre-train one variant a stage at a time, copying the candidate to out/NAME@sN after each stage N."""
    from transformers.utils import logging as hf_logging

    from phi3ray.models.tiny import pretrain_weights

    hf_logging.set_verbosity_error()
    recipe, first = VARIANTS[name]
    recipe = _scaled(recipe, scale)
    start = time.time()
    for index in range(first, len(recipe.stages)):
        pretrain_weights(dataclasses.replace(recipe, stages=recipe.stages[:index + 1]), start=index, out=out / name,
                         device=device, probe_every=10**9)
        shutil.copytree(out / name, out / f"{name}@s{index + 1}", dirs_exist_ok=True)
        print(f"{name}: stage {index + 1} kept at {time.time() - start:.0f} s", flush=True)
    print(f"{name}: done in {time.time() - start:.0f} s", flush=True)


def checkpoints(name: str, out: Path) -> list[Path]:
    """out/NAME@sN, by N."""
    return sorted(out.glob(f"{name}@s*"), key=lambda path: int(path.name.rsplit("@s", 1)[1]))


def pack(name: str, out: Path, keep: int = KEEP) -> Path:
    """DIR/NAME.tar: the last keep checkpoints, their weights in bf16, and the log."""
    import torch
    from safetensors.torch import load_file, save_file

    tar_path = out / f"{name}.tar"
    with tarfile.open(tar_path, "w") as tar:
        for folder in checkpoints(name, out)[-keep:]:
            weights = {k: (v.to(torch.bfloat16) if v.is_floating_point() else v)
                       for k, v in load_file(folder / "model.safetensors").items()}
            bf16 = out / f"{name}.bf16.safetensors"
            save_file(weights, bf16, metadata={"format": "pt"})
            tar.add(bf16, f"{folder.name}/model.safetensors")
            bf16.unlink()
            for file in sorted(folder.iterdir()):
                if file.name != "model.safetensors":
                    tar.add(file, f"{folder.name}/{file.name}")
        tar.add(out / f"{name}.log", f"{name}.log")
    return tar_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variants", default="shipped,wide,deep,more", help=f"of {', '.join(VARIANTS)}")
    parser.add_argument("--deadline", type=float, default=480.0, help="seconds before unfinished variants stop")
    parser.add_argument("--scale", type=float, default=1.0, help="every stage's steps times this")
    parser.add_argument("--device", default=None)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child process: run this variant
    args = parser.parse_args()
    if args.one:
        run_one(args.one, args.out, args.scale, args.device)
        return 0
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown} (known: {', '.join(VARIANTS)})")
    args.out.mkdir(parents=True, exist_ok=True)
    children = {}
    for name in names:
        command = [sys.executable, __file__, "--one", name, "--out", str(args.out), "--scale", str(args.scale)]
        command += ["--device", args.device] if args.device else []
        log = open(args.out / f"{name}.log", "w")
        children[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    start = time.time()
    while any(child.poll() is None for child in children.values()) and time.time() - start < args.deadline:
        time.sleep(2)
    for name, child in children.items():
        if child.poll() is None:
            child.kill()
            child.wait()
            print(f"{name}: stopped at the deadline ({args.deadline:.0f} s)")
    for name in names:
        lines = (args.out / f"{name}.log").read_text(errors="replace").splitlines()
        kept = [path.name for path in checkpoints(name, args.out)[-KEEP:]]
        print(f"== {name}: exit {children[name].returncode}, packed {pack(name, args.out)}: {kept}")
        for line in lines:
            if line.startswith(("step ", "Traceback", f"{name}: ")) or "Error" in line:
                print("  " + line[-400:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
