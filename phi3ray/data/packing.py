"""Pack short examples into sequences of up to max_len tokens; attention never crosses two examples.

Each example keeps its own position ids (0, 1, ... per example). With no attention mask in the batch,
transformers reads the resets in ``position_ids`` as example boundaries and builds a block-diagonal
causal mask (sdpa/eager via ``find_packed_sequence_indices``, flash-attention via varlen), so a packed
sequence gives the same loss as its examples one by one. It does so only without a KV cache.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import torch

from phi3ray.data.masking import IGNORE, Tokenized


@dataclass
class Packed:
    input_ids: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    position_ids: list[int] = field(default_factory=list)  # restart at 0 for every example
    sources: list[str] = field(default_factory=list)  # "path:line" of the examples inside

    def add(self, row: Tokenized) -> None:
        self.input_ids += row.input_ids
        self.labels += [IGNORE] + row.labels[1:]  # never predict an example's first token from the previous one
        self.position_ids += list(range(len(row.input_ids)))
        self.sources.append(row.source)


def pack_examples(rows: list[Tokenized], max_len: int) -> list[Packed]:
    """Best-fit-decreasing: longest examples first, each into the fullest pack it still fits; deterministic."""
    order = sorted(range(len(rows)), key=lambda i: (-len(rows[i].input_ids), i))
    packs: list[Packed] = []
    free: list[tuple[int, int]] = []  # (space left, pack index), sorted
    for i in order:
        n = len(rows[i].input_ids)
        if n > max_len:
            raise ValueError(f"{rows[i].source}: {n} tokens > max_len={max_len}; fit lengths before packing")
        at = bisect.bisect_left(free, (n, -1))
        if at < len(free):
            space, index = free.pop(at)
        else:
            space, index = max_len, len(packs)
            packs.append(Packed())
        packs[index].add(rows[i])
        if space - n > 0:
            bisect.insort(free, (space - n, index))
    return packs


def single_examples(rows: list[Tokenized]) -> list[Packed]:
    """One example per sequence (data.packing=false), in the same batch format."""
    packs = []
    for row in rows:
        pack = Packed()
        pack.add(row)
        packs.append(pack)
    return packs


def trim_to_shards(packs: list[Packed], world_size: int, batch_size: int) -> tuple[list[Packed], int]:
    """Drop the least-filled sequences so every worker gets the same number of full batches.

    Without this the distributed sampler completes the last batch with sequences from the start of
    the epoch, so a few rows would be seen by two workers. Returns the kept sequences and how many were dropped.
    """
    unit = world_size * batch_size
    keep = len(packs) // unit * unit
    if keep == 0:
        raise ValueError(
            f"{len(packs)} training sequence(s) cannot fill one batch of {batch_size} on each of {world_size} "
            "worker(s): add data, or lower training.per_device_batch_size or scaling.num_workers"
        )
    by_fill = sorted(range(len(packs)), key=lambda i: (-len(packs[i].input_ids), i))[:keep]
    return [packs[i] for i in sorted(by_fill)], len(packs) - keep


class PackedDataset(torch.utils.data.Dataset):
    """Sequences for the HF Trainer; each item is a dict of lists."""

    def __init__(self, packs: list[Packed]):
        self.packs = packs

    def __len__(self) -> int:
        return len(self.packs)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        p = self.packs[i]
        return {"input_ids": p.input_ids, "labels": p.labels, "position_ids": p.position_ids}


@dataclass
class PackedCollator:
    """Right-pad sequences to the longest in the batch; padding is its own 'example' with labels IGNORE.

    No attention_mask on purpose: the position-id resets are the mask (see the module docstring).
    transformers only reads them when there is no KV cache, hence ``use_cache=False`` in every batch.
    """

    pad_token_id: int

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)
        ids, labels, positions = [], [], []
        for f in features:
            pad = width - len(f["input_ids"])
            ids.append(f["input_ids"] + [self.pad_token_id] * pad)
            labels.append(f["labels"] + [IGNORE] * pad)
            positions.append(f["position_ids"] + list(range(pad)))
        return {
            "input_ids": torch.tensor(ids),  # (B, T)
            "labels": torch.tensor(labels),  # (B, T)
            "position_ids": torch.tensor(positions),  # (B, T)
            "use_cache": False,
        }
