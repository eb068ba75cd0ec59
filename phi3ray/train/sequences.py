"""The training sequences, made once per run: tokenized in parallel with Ray Data, packed, and sharded to the workers.

Every worker used to tokenize and pack the whole dataset itself, on one CPU. Now the driver does it once:
Ray Data tokenizes and masks the rows in parallel (``map_batches`` over an actor pool, one tokenizer per
actor), the driver packs the results (best-fit-decreasing is one global choice, so the packs are exactly
``pack_examples``' on one process) and trims them to whole batches per worker, and ``TorchTrainer`` gets them
as Ray Datasets: each worker reads its own shard of "train" (``ray.train.get_dataset_shard``, split in a
fixed order so that a restarted worker reads the same shard) and the whole of "eval".

Below ``RAY_DATA_MIN_ROWS`` rows the driver tokenizes in its own process: starting an actor pool costs ~10 s,
more than tokenizing a few thousand rows on one CPU, and the packs are the same either way.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass

from phi3ray.config import ModelConfig, TrainConfig
from phi3ray.data.masking import Tokenized, count_fitted, fit_length, tokenize_example
from phi3ray.data.packing import Packed, pack_examples, single_examples, trim_to_shards
from phi3ray.data.readers import Example, ReadReport, split_examples
from phi3ray.errors import ConfigValueError, DataErrors, DataFormatError
from phi3ray.train.summary import DataStats

COLUMNS = ("input_ids", "labels", "position_ids")  # what a worker reads of each sequence
BLOCK_ROWS = 1000  # rows per Ray Data block: the unit of parallel tokenization and of sharding
RAY_DATA_MIN_ROWS = 10_000  # fewer rows (train + eval) are tokenized in the driver's process


@dataclass
class Sequences:
    """The packed training and eval sequences (all of them, or one worker's shard of train) and their counts."""

    train: list[Packed]
    eval: list[Packed]
    stats: DataStats  # over the whole dataset, whatever the shard


def split_rows(cfg: TrainConfig, data: tuple[ReadReport, ReadReport | None]) -> tuple[list[Example], list[Example], int]:
    """(train, eval, skipped rows): eval_files' rows, or a seeded share of the training rows."""
    report, held = data
    if held is not None:
        return report.examples, held.examples, len(report.skipped) + len(held.skipped)
    train, evals = split_examples(report.examples, cfg.data.eval_fraction, cfg.training.seed)
    return train, evals, len(report.skipped)


def sequences_from_fitted(
    cfg: TrainConfig, train: Iterable[tuple[Tokenized | None, str]], evals: Iterable[tuple[Tokenized | None, str]],
    world_size: int, skipped: int,
) -> Sequences:
    """Count, pack (or not, data.packing) and trim fit_length's results: the one recipe both ways share."""
    d = cfg.data
    train_rows, train_stats = count_fitted(train, d.max_seq_len, d.overflow)
    eval_rows, eval_stats = count_fitted(evals, d.max_seq_len, d.overflow)
    if (d.eval_files or d.eval_fraction > 0) and not eval_rows:
        where = ", ".join(d.eval_files or d.train_files)
        raise DataErrors([DataFormatError(where, 0, f"no eval example fits data.max_seq_len={d.max_seq_len} "
                                                    f"(data.overflow={d.overflow})")])
    to_sequences = (lambda rows: pack_examples(rows, d.max_seq_len)) if d.packing else single_examples
    batch = cfg.training.per_device_batch_size
    try:
        train_packs, trimmed = trim_to_shards(to_sequences(train_rows), world_size, batch)
    except ValueError as err:  # too few sequences for one batch per worker
        raise ConfigValueError("training.per_device_batch_size", batch, str(err)) from err
    stats = DataStats(
        train_examples=train_stats.examples, eval_examples=eval_stats.examples, skipped_rows=skipped,
        truncated=train_stats.truncated + eval_stats.truncated, dropped=train_stats.dropped + eval_stats.dropped,
        train_sequences=len(train_packs), trimmed_sequences=trimmed, train_tokens=train_stats.tokens,
        trained_tokens=train_stats.trained_tokens,
    )
    return Sequences(train_packs, to_sequences(eval_rows) if eval_rows else [], stats)


def sequences_in_process(tokenizer, cfg: TrainConfig, data: tuple[ReadReport, ReadReport | None], world_size: int) -> Sequences:
    """Tokenize and pack every row here, in this process (a recipe run without the driver; the bench's baseline)."""
    d = cfg.data
    train, evals, skipped = split_rows(cfg, data)

    def fitted(rows: list[Example]) -> Iterable[tuple[Tokenized | None, str]]:
        return (fit_length(tokenize_example(tokenizer, e), d.max_seq_len, d.overflow) for e in rows)

    return sequences_from_fitted(cfg, fitted(train), fitted(evals), world_size, skipped)


class TokenizeBatch:
    """Ray Data actor: tokenize and mask a batch of rows (messages as JSON) and fit them to max_seq_len."""

    def __init__(self, model: ModelConfig, max_len: int, overflow: str):
        from phi3ray.models.base import load_tokenizer

        self.tokenizer, self.max_len, self.overflow = load_tokenizer(model), max_len, overflow

    def __call__(self, batch):  # pyarrow.Table (index, messages, source) -> (index, input_ids, labels, what)
        import pyarrow as pa

        ids, labels, what = [], [], []
        for messages, source in zip(batch.column("messages").to_pylist(), batch.column("source").to_pylist()):
            row, outcome = fit_length(tokenize_example(self.tokenizer, Example(json.loads(messages), source)),
                                      self.max_len, self.overflow)
            ids.append(row.input_ids if row else [])
            labels.append(row.labels if row else [])
            what.append(outcome)
        return pa.table({
            "index": batch.column("index"),
            "input_ids": pa.array(ids, type=pa.list_(pa.int32())),
            "labels": pa.array(labels, type=pa.list_(pa.int32())),
            "what": pa.array(what, type=pa.string()),
        })


def _blocks(table, rows: int) -> list:
    return [table.slice(start, rows) for start in range(0, table.num_rows, rows)] or [table]


def sequences_with_ray_data(cfg: TrainConfig, data: tuple[ReadReport, ReadReport | None], world_size: int) -> Sequences:
    """Tokenize every row once, in parallel on the Ray cluster's CPUs, then pack here (same packs as in process)."""
    import pyarrow as pa
    import ray

    d = cfg.data
    train, evals, skipped = split_rows(cfg, data)
    examples = [*train, *evals]
    table = pa.table({
        "index": pa.array(range(len(examples)), type=pa.int64()),
        "messages": [json.dumps(e.messages) for e in examples],
        "source": [e.source for e in examples],
    })
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    tokenized = ray.data.from_arrow(_blocks(table, BLOCK_ROWS)).map_batches(
        TokenizeBatch, fn_constructor_args=(cfg.model, d.max_seq_len, d.overflow), batch_format="pyarrow",
        batch_size=None, compute=ray.data.ActorPoolStrategy(size=min(cpus, max(1, len(examples) // BLOCK_ROWS))),
        num_cpus=1,
    )
    fitted: list[tuple[Tokenized | None, str]] = [(None, "dropped")] * len(examples)
    for batch in tokenized.iter_batches(batch_format="pyarrow", batch_size=None):
        columns = zip(*(batch.column(c).to_pylist() for c in ("index", "input_ids", "labels", "what")))
        for index, ids, labels, what in columns:
            fitted[index] = (None if what == "dropped" else Tokenized(ids, labels, examples[index].source), what)
    return sequences_from_fitted(cfg, fitted[:len(train)], fitted[len(train):], world_size, skipped)


def prepare_sequences(cfg: TrainConfig, data: tuple[ReadReport, ReadReport | None], world_size: int) -> Sequences:
    """The run's sequences, once: in this process for a small dataset, with Ray Data from RAY_DATA_MIN_ROWS rows."""
    report, held = data
    rows = len(report.examples) + (len(held.examples) if held is not None else 0)
    if rows < RAY_DATA_MIN_ROWS:
        from phi3ray.models.base import load_tokenizer

        return sequences_in_process(load_tokenizer(cfg.model), cfg, data, world_size)
    return sequences_with_ray_data(cfg, data, world_size)


def ray_datasets(sequences: Sequences, seed: int) -> dict:
    """{"train": the sequences in a seeded order (each worker's shard a fair mix), "eval": all eval sequences}."""
    import pyarrow as pa
    import ray

    def dataset(packs: list[Packed]):
        columns = {c: pa.array([getattr(p, c) for p in packs], type=pa.list_(pa.int32())) for c in COLUMNS}
        return ray.data.from_arrow(_blocks(pa.table(columns), BLOCK_ROWS))

    order = list(range(len(sequences.train)))
    random.Random(seed).shuffle(order)
    out = {"train": dataset([sequences.train[i] for i in order])}
    if sequences.eval:
        out["eval"] = dataset(sequences.eval)
    return out


def dataset_config():
    """Split "train" among the workers in a fixed order (the same shard after a restart); every worker reads all "eval"."""
    from ray.train import DataConfig

    options = DataConfig.default_ingest_options()
    options.preserve_order = True  # also turns off locality-driven (timing-dependent) assignment of blocks
    return DataConfig(datasets_to_split=["train"], execution_options={"train": options})


def read_shard(name: str) -> list[Packed]:
    """This worker's sequences of the dataset `name` (inside a Ray Train worker); [] when the run has none."""
    import ray.train

    try:
        shard = ray.train.get_dataset_shard(name)
    except KeyError:
        return []
    if shard is None:
        return []
    packs = []
    for batch in shard.iter_batches(batch_format="pyarrow", batch_size=None):
        for ids, labels, positions in zip(*(batch.column(c).to_pylist() for c in COLUMNS)):
            packs.append(Packed(ids, labels, positions))
    return packs
