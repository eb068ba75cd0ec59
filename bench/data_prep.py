"""Training-data prep time: tokenize + mask + pack in one process (what every worker did) vs once with Ray Data.

    python bench/data_prep.py                  # 100k generated chat rows, model=tiny (Phi-3's tokenizer)
    python bench/data_prep.py --rows 20000 model=phi3-mini-4k data.max_seq_len=2048

Both sides start from the same rows, read and validated once in this process (timed apart: the driver
does it either way), and end with the same packed, trimmed sequences (checked):
- one process: phi3ray.train.sequences.sequences_in_process, as each Ray Train worker did before.
- Ray Data: sequences_with_ray_data, as the driver does now (an actor pool tokenizes, the driver packs).
  Timed with Ray already up, actor start-up included.
The ratio is bounded by the CPUs Ray may use (printed); on a shared 2-core machine expect well under 2.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = ("pump impeller seal bearing flow pressure head valve motor shaft casing vibration alarm "
         "minimum maximum rated speed temperature inspect replace torque clearance suction discharge").split()


def chat_row(rng: random.Random) -> dict:
    """A user question and an assistant answer of a few to a few hundred words; sometimes a system prompt."""
    def text(lo: int, hi: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi))).capitalize() + "."

    messages = [{"role": "user", "content": text(5, 60) + "?"}, {"role": "assistant", "content": text(5, 300)}]
    if rng.random() < 0.3:
        messages.insert(0, {"role": "system", "content": text(5, 20)})
    return {"messages": messages}


def write_rows(path: Path, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w") as f:
        for _ in range(rows):
            f.write(json.dumps(chat_row(rng)) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2, help="scaling.num_workers (shards to trim for)")
    parser.add_argument("overrides", nargs="*", help="train config overrides (model=tiny by default)")
    args = parser.parse_args()

    import ray

    from phi3ray.config import compose_config, validate
    from phi3ray.data.readers import read_training_data
    from phi3ray.models.base import load_tokenizer
    from phi3ray.train.sequences import sequences_in_process, sequences_with_ray_data

    folder = Path(tempfile.mkdtemp(prefix="phi3ray-bench-data-"))
    write_rows(folder / "train.jsonl", args.rows)
    cfg = validate(compose_config("train", ["model=tiny", f"data.train_files=[{folder / 'train.jsonl'}]",
                                            "data.eval_fraction=0.01", *args.overrides]))
    ray.init(include_dashboard=False, log_to_driver=False)
    cpus = int(ray.cluster_resources().get("CPU", 1))

    started = time.perf_counter()
    data = read_training_data(cfg.data)
    read_s = time.perf_counter() - started

    started = time.perf_counter()
    old = sequences_in_process(load_tokenizer(cfg.model), cfg, data, args.workers)
    old_s = time.perf_counter() - started

    started = time.perf_counter()
    new = sequences_with_ray_data(cfg, data, args.workers)
    new_s = time.perf_counter() - started
    ray.shutdown()

    same = new.stats == old.stats and all(
        (a.input_ids, a.labels, a.position_ids) == (b.input_ids, b.labels, b.position_ids)
        for a, b in zip(new.train, old.train)
    )
    s = new.stats
    print(f"{args.rows} chat rows, model={cfg.model.name}, max_seq_len={cfg.data.max_seq_len}, "
          f"{os.cpu_count()} CPUs on this machine, {cpus} for Ray")
    print(f"-> {s.train_sequences} train sequences ({s.train_tokens} tokens), {len(new.eval)} eval; "
          f"identical both ways: {same}")
    print(f"{'step':<40}{'seconds':>10}")
    print(f"{'read + validate (driver, both ways)':<40}{read_s:>10.1f}")
    print(f"{'tokenize + pack, one process':<40}{old_s:>10.1f}")
    print(f"{'tokenize (Ray Data) + pack, once':<40}{new_s:>10.1f}")
    print(f"ratio one process / Ray Data: {old_s / new_s:.2f}x")
    if not same:
        sys.exit("the two ways made different sequences")


if __name__ == "__main__":
    main()
