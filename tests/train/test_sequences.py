"""Training sequences made once with Ray Data: the same rows and loss masks as the one-process way, fixed shards."""

import threading

import pytest

from phi3ray.config import validate
from phi3ray.data.masking import IGNORE, Tokenized
from phi3ray.data.readers import read_training_data
from phi3ray.errors import ConfigValueError
from phi3ray.models.base import load_tokenizer
from phi3ray.train.sequences import (
    dataset_config, ray_datasets, sequences_from_fitted, sequences_in_process, sequences_with_ray_data,
)
from tests.conftest import compose_config


def rows(packs):
    return [(p.input_ids, p.labels, p.position_ids, p.sources) for p in packs]


@pytest.fixture(scope="module")
def made(ray_session):
    """The sample data (model=tiny, 128-token sequences, 2 workers), made both ways: (one process, Ray Data)."""
    cfg = validate(compose_config("train", ["model=tiny", "data.max_seq_len=128", "data.overflow=truncate"]))
    data = read_training_data(cfg.data)
    return sequences_in_process(load_tokenizer(cfg.model), cfg, data, 2), sequences_with_ray_data(cfg, data, 2), cfg


def test_ray_data_makes_the_same_sequences_and_loss_masks_as_one_process(made):
    old, new, _ = made
    assert new.stats == old.stats
    assert new.stats.truncated > 0 and new.stats.train_sequences > 2  # the sample exercises the cut and the packing
    assert rows(new.train) == rows(old.train)  # ids, labels (the loss mask), positions, sources: one for one
    assert rows(new.eval) == rows(old.eval)


def _read_splits(cfg, sequences):
    """What each of 2 workers reads of "train", through Ray Train's own split with our DataConfig."""
    splits = dataset_config().configure(ray_datasets(sequences, cfg.training.seed), world_size=2,
                                        worker_handles=None, worker_node_ids=None)
    seen = [[], []]

    def consume(rank):
        for batch in splits[rank]["train"].iter_batches(batch_format="pyarrow", batch_size=None):
            seen[rank] += [tuple(ids) for ids in batch.column("input_ids").to_pylist()]

    threads = [threading.Thread(target=consume, args=(rank,)) for rank in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(len(e) == len(new) for e, new in zip(splits, [{"train", "eval"}] * 2))  # eval goes to both whole
    return seen


def test_each_worker_reads_its_own_fixed_half_of_the_sequences(made):
    _, new, cfg = made
    first, again = _read_splits(cfg, new), _read_splits(cfg, new)
    assert first == again  # a restarted worker group reads the same shards in the same order
    assert len(first[0]) == len(first[1]) == len(new.train) // 2
    assert sorted(first[0] + first[1]) == sorted(tuple(p.input_ids) for p in new.train)


def test_too_few_sequences_for_one_batch_per_worker_is_one_line_naming_the_setting(made):
    _, _, cfg = made
    row = Tokenized([1, 2, 3], [IGNORE, 2, 3], "train.jsonl:1")
    with pytest.raises(ConfigValueError, match=r"^training.per_device_batch_size=\d+: 1 training sequence\(s\) cannot fill"):
        sequences_from_fitted(cfg, [(row, "kept")], [(row, "kept")], world_size=2, skipped=0)


@pytest.mark.fast
def test_a_small_dataset_is_tokenized_in_the_driver_and_a_large_one_with_ray_data(monkeypatch):
    import phi3ray.train.sequences as sequences

    cfg = validate(compose_config("train", ["model=tiny", "data.max_seq_len=128", "data.overflow=truncate"]))
    data = read_training_data(cfg.data)
    calls = []
    monkeypatch.setattr(sequences, "sequences_with_ray_data", lambda *a: calls.append("ray") or "ray data")
    small = sequences.prepare_sequences(cfg, data, 2)
    assert not calls and small.stats.train_examples == len(data[0].examples) - small.stats.eval_examples
    monkeypatch.setattr(sequences, "RAY_DATA_MIN_ROWS", len(data[0].examples))
    assert sequences.prepare_sequences(cfg, data, 2) == "ray data" and calls == ["ray"]
