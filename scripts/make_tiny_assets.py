"""Regenerate phi3ray/assets/tiny-phi3's tokenizer and config; then remake its weights.

    python scripts/make_tiny_assets.py          # tokenizer + config (deletes the weights made for the old ones)
    python -m phi3ray.models.tiny --pretrain    # the weights: generic reading lessons, ~60 min on 2 cores

The tokenizer is a byte-level BPE whose merges were learned on the sample corpus's text (a vocabulary, as
the real Phi-3's covers these words too; it holds no statement of fact). The pre-training text is not
the sample's: phi3ray.models.reading makes it about a fictional world, and tests/models/test_reading.py
checks it shares no name and no seven-word run with data/pumps.
"""

from pathlib import Path

from phi3ray.models.tiny import ASSETS, build_tokenizer, tiny_config

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "data/pumps/docs").glob("*.md"))
TRAIN = ROOT / "data/pumps/train.jsonl"


def main() -> None:
    texts = [doc.read_text() for doc in DOCS]
    texts += [line for line in TRAIN.read_text().splitlines()]
    tokenizer = build_tokenizer(texts)
    ASSETS.mkdir(parents=True, exist_ok=True)
    for old in ASSETS.iterdir():
        old.unlink()
    tokenizer.save_pretrained(ASSETS)
    tiny_config(tokenizer).save_pretrained(ASSETS)
    print(f"wrote {ASSETS}: vocab {len(tokenizer)}; now make the weights: python -m phi3ray.models.tiny --pretrain")


if __name__ == "__main__":
    main()
