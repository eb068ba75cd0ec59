"""Packing: every example once, attention kept inside each example (same loss as unpacked), even shards."""

import pytest
import torch
from accelerate.data_loader import prepare_data_loader
from torch.utils.data import DataLoader, RandomSampler

from phi3ray.data.masking import IGNORE, tokenize_examples
from phi3ray.data.packing import PackedCollator, PackedDataset, pack_examples, single_examples, trim_to_shards
from phi3ray.data.readers import read_examples
from phi3ray.models.base import load_base_model, load_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tiny_model_cfg):
    return load_tokenizer(tiny_model_cfg)


@pytest.fixture(scope="module")
def rows(tokenizer):
    examples = read_examples(["data/pumps/train.jsonl"], fmt="chat").examples[:40]
    return tokenize_examples(tokenizer, examples, 128, "truncate")[0]


def test_every_example_lands_in_one_pack_with_its_own_positions(rows):
    packs = pack_examples(rows, 128)
    assert sorted(s for p in packs for s in p.sources) == sorted(r.source for r in rows)
    assert all(len(p.input_ids) <= 128 for p in packs)
    lower_bound = -(-sum(len(r.input_ids) for r in rows) // 128)  # no packing can do with fewer sequences
    assert len(packs) < len(rows) and len(packs) <= 11 / 9 * lower_bound + 1  # best-fit-decreasing's bound
    by_source = {r.source: r for r in rows}
    for pack in packs:
        at = 0
        for source in pack.sources:
            row = by_source[source]
            n = len(row.input_ids)
            assert pack.input_ids[at:at + n] == row.input_ids
            assert pack.position_ids[at:at + n] == list(range(n))
            assert pack.labels[at:at + n] == [IGNORE] + row.labels[1:]
            at += n
        assert at == len(pack.input_ids)


def test_packed_batch_gives_the_same_loss_as_the_examples_one_by_one(tiny_model_cfg, tokenizer, rows):
    model = load_base_model(tiny_model_cfg).eval()
    collate = PackedCollator(tokenizer.pad_token_id)
    some = rows[:8]
    packs = pack_examples(some, 256)
    assert max(len(p.sources) for p in packs) >= 3
    with torch.no_grad():
        dataset = PackedDataset(packs)
        packed = model(**collate([dataset[i] for i in range(len(dataset))]))  # (B, T) with resets inside
        total, count = 0.0, 0
        for single in single_examples(some):
            batch = collate([{"input_ids": single.input_ids, "labels": single.labels, "position_ids": single.position_ids}])
            n = int((batch["labels"][:, 1:] != IGNORE).sum())
            total += model(**batch).loss.item() * n
            count += n
        # the same tokens with one running position (attention crossing examples) give another loss
        leaky = collate([{"input_ids": p.input_ids, "labels": p.labels, "position_ids": list(range(len(p.input_ids)))}
                         for p in packs])
        leaky_loss = model(**leaky).loss.item()
    assert packed.loss.item() == pytest.approx(total / count, abs=1e-5)
    assert abs(leaky_loss - total / count) > 1e-3


def test_collator_pads_as_a_separate_ignored_segment(tokenizer):
    batch = PackedCollator(pad_token_id=0)([
        {"input_ids": [5, 6, 7], "labels": [IGNORE, 6, 7], "position_ids": [0, 1, 2]},
        {"input_ids": [8], "labels": [IGNORE], "position_ids": [0]},
    ])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE, 6, 7], [IGNORE, IGNORE, IGNORE]]
    assert batch["position_ids"].tolist() == [[0, 1, 2], [0, 0, 1]]
    assert "attention_mask" not in batch and batch["use_cache"] is False  # a KV cache would hide the resets


def test_trim_keeps_a_whole_number_of_batches_per_worker(rows):
    packs = pack_examples(rows, 128)
    kept, dropped = trim_to_shards(packs, world_size=2, batch_size=3)
    assert len(kept) % 6 == 0 and len(kept) + dropped == len(packs) and dropped < 6
    fill = sorted(len(p.input_ids) for p in packs)
    assert sorted(len(p.input_ids) for p in kept) == fill[dropped:]  # the emptiest sequences go
    with pytest.raises(ValueError, match="cannot fill one batch of 64 on each of 2 worker"):
        trim_to_shards(packs, world_size=2, batch_size=64)


def test_two_workers_see_disjoint_sequences_that_cover_the_epoch(rows):
    """The HF Trainer's loader, sharded the way accelerate shards it per worker, over our trimmed sequences."""
    packs, _ = trim_to_shards(single_examples(rows), world_size=2, batch_size=4)
    dataset = PackedDataset(packs)
    seen = []
    for rank in range(2):
        loader = DataLoader(range(len(dataset)), batch_size=4,
                            sampler=RandomSampler(range(len(dataset)), generator=torch.Generator().manual_seed(42)))
        sharded = prepare_data_loader(loader, num_processes=2, process_index=rank, put_on_device=False,
                                      use_seedable_sampler=True)
        sharded.set_epoch(0)
        seen.append([int(i) for batch in sharded for i in batch])
    assert len(seen[0]) == len(seen[1]) == len(dataset) // 2
    assert set(seen[0]).isdisjoint(seen[1])
    assert set(seen[0]) | set(seen[1]) == set(range(len(dataset)))
