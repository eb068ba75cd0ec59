"""What a training run did, typed: returned by the workers, read by the driver, the adapter card and the job."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DataStats:
    """The training data as the workers saw it (counts over the whole dataset, not one shard)."""

    train_examples: int  # rows read from data.train_files (after the eval split)
    eval_examples: int  # rows held out for eval loss
    skipped_rows: int  # malformed rows skipped with data.on_error=skip
    truncated: int  # examples cut to data.max_seq_len
    dropped: int  # examples dropped for length (data.overflow=drop)
    train_sequences: int  # packed training sequences
    trimmed_sequences: int  # sequences left out so that every worker gets as many
    train_tokens: int  # tokens of the training sequences
    trained_tokens: int  # of which carry loss (assistant tokens)


@dataclass
class TrainSummary:
    """One run, from rank 0: steps, losses, speed, memory, data; where the adapter (and merged model) went."""

    global_step: int
    world_size: int
    data: DataStats
    train_loss: float | None = None  # last logged training loss
    train_loss_mean: float | None = None  # the Trainer's mean over the run
    eval_loss_start: float | None = None  # before the first step (training.eval_on_start)
    eval_loss: float | None = None  # after the last step
    eval_perplexity: float | None = None
    seconds_per_step: float | None = None  # median, first step left out
    steps_timed: int = 0  # optimizer steps this attempt ran (fewer than global_step after a resume)
    step_seconds: list[float] = field(default_factory=list)
    gap_seconds: list[float] = field(default_factory=list)  # time between steps (logging, saving)
    tokens_per_second: float | None = None  # all workers together
    torch_threads: int = 0
    precision: str = "fp32"  # bf16 | fp16 | fp32
    model_bytes: int = 0  # base + adapter in memory (4-bit base for QLoRA)
    peak_rss_mb: float = 0.0
    peak_gpu_mb: float | None = None
    base_revision: str | None = None  # the commit the hub resolved (or model.revision)
    resumed_from_step: int | None = None
    adapter_path: str | None = None  # <run_dir>/adapter, set by rank 0
    merged_path: str | None = None  # <run_dir>/merged with training.merge=true
    worker_seconds: dict[str, float] = field(default_factory=dict)  # setup, train, save
