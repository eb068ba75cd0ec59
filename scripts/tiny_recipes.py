"""Variants of the tiny Phi-3's recipe (phi3ray.models.tiny.SHIPPED_RECIPE) pre-trained side by side, one process
each on one device, for issue 12's question: does a bigger model, or a longer run, read better?

    python scripts/tiny_recipes.py --out DIR                       # every variant, on CUDA when there is one
    python scripts/tiny_recipes.py --out DIR --variants wide,long --deadline 480
    python scripts/tiny_recipes.py --out DIR --scale 0.002         # a smoke run: every stage a few steps

Each variant writes its candidate folder DIR/NAME after every stage (so the deadline keeps its last finished
stage) and its log DIR/NAME.log; at the end DIR/NAME.tar holds that folder, its weights cast to bf16 (the size they
would ship at), and its log, ready for ``tar -xf`` and ``jobs/evaluate.py model=tiny
model.name_or_path=FOLDER model.make_if_missing=false``. The summary prints every variant's probe lines: copies,
looks up, locates (the first value token of the spread-key drill), and the held-back lessons.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from phi3ray.models.tiny import SHIPPED_RECIPE, Recipe

WIDE = (("hidden_size", 192), ("intermediate_size", 512), ("num_hidden_layers", 6),
        ("num_attention_heads", 6), ("num_key_value_heads", 6))  # ~3.7M parameters tied, 7.3 MB in bf16
DEEP = (("num_hidden_layers", 8),)  # ~2.2M parameters tied


def _scaled(recipe: Recipe, scale: float) -> Recipe:
    """The recipe with every stage's steps times scale (at least 2)."""
    return dataclasses.replace(recipe, stages=tuple(
        dataclasses.replace(stage, steps=max(2, round(stage.steps * scale))) for stage in recipe.stages))


VARIANTS: dict[str, Recipe] = {
    "shipped": SHIPPED_RECIPE,
    "wide": dataclasses.replace(SHIPPED_RECIPE, dims=WIDE),
    "deep": dataclasses.replace(SHIPPED_RECIPE, dims=DEEP),
    "long": _scaled(SHIPPED_RECIPE, 2),
    "wide-long": dataclasses.replace(_scaled(SHIPPED_RECIPE, 2), dims=WIDE),
}


def run_one(name: str, out: Path, scale: float, device: str | None) -> None:
    from transformers.utils import logging as hf_logging

    from phi3ray.models.tiny import pretrain_weights

    hf_logging.set_verbosity_error()
    start = time.time()
    pretrain_weights(_scaled(VARIANTS[name], scale), out=out / name, device=device, probe_every=10**9)
    print(f"{name}: done in {time.time() - start:.0f} s", flush=True)


def pack(name: str, out: Path) -> Path | None:
    """DIR/NAME.tar: the candidate folder with its weights in bf16, and its log (None when no stage finished)."""
    import torch
    from safetensors.torch import load_file, save_file

    folder = out / name
    if not (folder / "model.safetensors").is_file():
        return None
    weights = {k: (v.to(torch.bfloat16) if v.is_floating_point() else v)
               for k, v in load_file(folder / "model.safetensors").items()}
    bf16 = out / f"{name}.bf16.safetensors"
    save_file(weights, bf16, metadata={"format": "pt"})
    tar_path = out / f"{name}.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(bf16, f"{name}/model.safetensors")
        for file in sorted(folder.iterdir()):
            if file.name != "model.safetensors":
                tar.add(file, f"{name}/{file.name}")
        tar.add(out / f"{name}.log", f"{name}/{name}.log")
    bf16.unlink()
    return tar_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variants", default=",".join(VARIANTS))
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
        print(f"== {name}: exit {children[name].returncode}, packed {pack(name, args.out)}")
        for line in lines:
            if line.startswith(("step ", "Traceback")) or "Error" in line or line.startswith(f"{name}: done"):
                print("  " + line[-400:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
