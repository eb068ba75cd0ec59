"""Regenerate phi3ray/assets/tiny-phi3: tokenizer (trained on the sample corpus), config, pre-training rows.

    python scripts/make_tiny_assets.py

The weights are not written here: phi3ray.models.tiny makes them on first use from these files.
"""

import json
import random
import re
from pathlib import Path

from phi3ray.models.tiny import ASSETS, build_tokenizer, tiny_config

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "data/pumps/docs").glob("*.md"))
TRAIN = ROOT / "data/pumps/train.jsonl"
SYSTEM = "You are a helpful assistant for industrial equipment."


def sections(text: str) -> list[tuple[str, str, str]]:
    """(title, heading, body) for each '## ' section of a markdown document."""
    title = text.splitlines()[0].lstrip("# ").strip()
    out = []
    for block in re.split(r"\n(?=## )", text):
        lines = block.strip().splitlines()
        if not lines or not lines[0].startswith("## "):
            continue
        body = " ".join(line.strip("#|-* ").strip() for line in lines[1:] if line.strip())
        out.append((title, lines[0][3:].strip(), body))
    return out


def pretrain_rows() -> list[dict]:
    """Chat-format rows that teach the format and the domain's words, not the Q&A pairs."""
    rng = random.Random(0)
    rows = []
    for doc in DOCS:
        for title, heading, body in sections(doc.read_text()):
            words = body.split()
            if len(words) < 8:
                continue
            answer = " ".join(words[:60])
            messages = [
                {"role": "user", "content": f"Summarise the section '{heading}' of '{title}'."},
                {"role": "assistant", "content": answer},
            ]
            if rng.random() < 0.3:
                messages.insert(0, {"role": "system", "content": SYSTEM})
            rows.append({"messages": messages})
    rng.shuffle(rows)
    return rows


def main() -> None:
    texts = [doc.read_text() for doc in DOCS]
    texts += [line for line in TRAIN.read_text().splitlines()]
    tokenizer = build_tokenizer(texts)
    ASSETS.mkdir(parents=True, exist_ok=True)
    for old in ASSETS.iterdir():
        old.unlink()
    tokenizer.save_pretrained(ASSETS)
    tiny_config(tokenizer).save_pretrained(ASSETS)
    rows = pretrain_rows()
    (ASSETS / "pretrain.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"wrote {ASSETS}: vocab {len(tokenizer)}, {len(rows)} pre-training rows")


if __name__ == "__main__":
    main()
