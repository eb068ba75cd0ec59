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

import pyarrow.fs as pafs

from phi3ray.config import RunSettings, expand_path
from phi3ray.errors import CheckpointError

logger = logging.getLogger(__name__)

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def run_dir(run: RunSettings) -> str:
    """<storage_path>/<name>, with ~ and $VARS expanded and local paths made absolute."""
    return join(expand_path(run.storage_path), run.name)


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem for a local path or a URI, and the path inside it."""
    return pafs.FileSystem.from_uri(uri if "://" in uri else os.path.abspath(uri))


def list_checkpoints(run_uri: str) -> list[tuple[int, str]]:
    """(step, uri) of every checkpoint-<step> folder in a run folder, oldest first; [] if none."""
    fs, path = filesystem(run_uri)
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        return []
    found = []
    for info in fs.get_file_info(pafs.FileSelector(path)):
        match = CHECKPOINT.match(info.base_name)
        if match and info.type == pafs.FileType.Directory:
            found.append((int(match.group(1)), join(run_uri, info.base_name)))
    return sorted(found)


def upload_dir(local_dir: str, dest_uri: str) -> str:
    """Copy a local folder to dest_uri (a local path or s3:// / gs://), replacing what was there."""
    fs, path = filesystem(dest_uri)
    if fs.get_file_info(path).type != pafs.FileType.NotFound:
        fs.delete_dir(path)
    fs.create_dir(path, recursive=True)
    pafs.copy_files(local_dir, path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)
    return dest_uri


def write_text(dest_uri: str, text: str) -> None:
    """Write one text file to a local path or a URI."""
    fs, path = filesystem(dest_uri)
    with fs.open_output_stream(path) as f:
        f.write(text.encode("utf-8"))


def read_text(uri: str) -> str:
    fs, path = filesystem(uri)
    with fs.open_input_stream(path) as f:
        return f.read().decode("utf-8")


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
