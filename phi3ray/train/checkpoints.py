"""Run folders and checkpoints, local or on s3:// / gs://, through pyarrow's filesystems (as Ray Train does).

A run folder ``<storage_path>/<run.name>/`` holds::

    checkpoint-<step>/   HF Trainer checkpoint: the adapter in peft layout (adapter_config.json,
                         adapter_model.safetensors), trainer_state.json, optimizer and scheduler state
                         (DeepSpeed's global_step<step>/ with one shard per worker), rng_state_<rank>.pth
    adapter/             the final adapter (peft layout) + adapter_card.json + README.md
    merged/              training.merge=true: the adapter folded into the base (transformers layout)
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile

from phi3ray.config import RunSettings
from phi3ray.errors import CheckpointError
from phi3ray.storage import expand_path, join, list_dir

logger = logging.getLogger(__name__)

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def run_dir(run: RunSettings) -> str:
    """<storage_path>/<name>, with ~ and $VARS expanded and local paths made absolute."""
    return join(expand_path(run.storage_path), run.name)


def list_checkpoints(run_uri: str) -> list[tuple[int, str]]:
    """(step, uri) of every checkpoint-<step> folder in a run folder, oldest first; [] if none."""
    found = []
    for name, is_folder in list_dir(run_uri):
        match = CHECKPOINT.match(name)
        if match and is_folder:
            found.append((int(match.group(1)), join(run_uri, name)))
    return sorted(found)


def restore_checkpoint(checkpoint, dest: str | None = None) -> tuple[str, int]:
    """Fetch a Ray Train checkpoint into a local folder the HF Trainer can resume from; return (folder, step)."""
    local = checkpoint.to_directory(dest or tempfile.mkdtemp(prefix="phi3ray-resume-"))
    state_file = os.path.join(local, "trainer_state.json")
    if not os.path.exists(state_file):
        raise CheckpointError(checkpoint.path, "not a phi3ray training checkpoint (no trainer_state.json)")
    try:
        step = int(json.loads(open(state_file).read())["global_step"])
    except (ValueError, KeyError) as err:
        raise CheckpointError(checkpoint.path, f"unreadable trainer_state.json: {err}") from err
    logger.info("resuming from %s (step %d)", checkpoint.path, step)
    return local, step
