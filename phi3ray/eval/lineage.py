"""Where every input of an evaluation came from: base model, adapters (with hashes), data files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from phi3ray.config import ModelConfig
from phi3ray.models.adapters import fetch_adapter
from phi3ray.models.base import model_path
from phi3ray.storage import expand_path, file_sha256, is_file

MAX_CARD_BYTES = 1 << 20  # JSON files of an adapter folder up to this size are embedded in the lineage


def base_lineage(cfg: ModelConfig) -> dict:
    """The hub id or folder and revision; for a local folder also the sha256 of its config.json."""
    lineage = {"name": cfg.name, "name_or_path": cfg.name_or_path, "revision": cfg.revision}
    config = Path(model_path(cfg)).expanduser() / "config.json"
    if config.is_file():
        lineage["config_sha256"] = file_sha256(config)
    return lineage


def adapter_lineage(name: str, uri: str) -> dict:
    """The adapter's URI and local folder, the sha256 of adapter_config.json, and every other file's sha256.

    Training configs or cards the trainer saved next to the adapter (JSON or YAML) are hashed and,
    when JSON, embedded whole, so a result names exactly what was trained and how.
    """
    folder = Path(fetch_adapter(uri))
    lineage: dict = {
        "name": name,
        "uri": uri,
        "path": str(folder),
        "adapter_config_sha256": file_sha256(folder / "adapter_config.json"),
        "files": {},
    }
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = str(path.relative_to(folder))
        lineage["files"][relative] = file_sha256(path)
        is_card = path.suffix == ".json" and path.name != "adapter_config.json" and "tokenizer" not in path.name
        if is_card and path.stat().st_size <= MAX_CARD_BYTES:
            try:
                lineage.setdefault("cards", {})[relative] = json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                pass  # hashed above; not a JSON card
    return lineage


def data_lineage(heldout_file: str, train_files: Sequence[str]) -> dict:
    """sha256 of the held-out file and of each training file (None for a training file that is not here)."""
    train = [(path, expand_path(path)) for path in train_files]
    return {
        "heldout_file": heldout_file,
        "heldout_sha256": file_sha256(expand_path(heldout_file)),
        "train_files": [{"path": p, "sha256": file_sha256(f) if is_file(f) else None} for p, f in train],
    }
