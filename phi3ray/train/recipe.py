"""One worker's part of a LoRA/QLoRA run: the HF Trainer (with DeepSpeed when configured) on its shard of the data.

The recipe has torchtune's shape: ``__init__`` keeps scalars, ``setup`` builds the components in
dependency order (arguments first, so that ZeRO-3 loads the weights already sharded), then ``train``
and ``save_adapter``. It knows nothing about Ray; ``phi3ray.train.worker`` runs it inside Ray Train.
"""

from __future__ import annotations

import logging
import math
import os
import resource
import shutil
import statistics
import tempfile
import time

import torch
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainerState, TrainingArguments, set_seed
from transformers.trainer import TRAINER_STATE_NAME

from phi3ray.config import TrainConfig
from phi3ray.data.packing import PackedCollator, PackedDataset
from phi3ray.data.readers import read_training_data
from phi3ray.errors import CheckpointError, HardwareError
from phi3ray.models.base import load_base_model, load_tokenizer
from phi3ray.models.lora import apply_lora
from phi3ray.train.deepspeed_config import configure_cpu_deepspeed_state, deepspeed_dict, precision_flags
from phi3ray.train.sequences import Sequences, sequences_in_process
from phi3ray.train.summary import TrainSummary
from phi3ray.train.zero3 import base_device_map, trainable_state_dict, zero3_active

logger = logging.getLogger(__name__)


class Phi3Trainer(Trainer):
    """transformers' Trainer that also logs eval perplexity (exp of the eval loss), under ZeRO-3 saves the
    adapter by gathering only its own parameters (phi3ray.train.zero3.trainable_state_dict), and with
    `presharded` trains on this worker's own shard as it is (Ray Data split it; accelerate must not again)."""

    presharded: bool = False

    def get_train_dataloader(self):
        loader = super().get_train_dataloader()
        shard = getattr(loader, "batch_sampler", None)  # accelerate's BatchSamplerShard: this rank's batches
        if self.presharded and hasattr(shard, "num_processes"):
            shard.num_processes, shard.process_index = 1, 0  # as transformers does for its rank-aware samplers
        return loader

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        if not (self.is_deepspeed_enabled and self.deepspeed.zero_optimization_partition_weights()):
            return super().save_model(output_dir, _internal_call)
        state = trainable_state_dict(self.deepspeed, self.args.process_index)  # every rank joins the gather
        self._save(output_dir or self.args.output_dir, state_dict=state)

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        if "eval_loss" in logs:
            logs["eval_perplexity"] = math.exp(min(logs["eval_loss"], 50.0))
        super().log(logs, *args, **kwargs)


class StepTimer(TrainerCallback):
    """Wall time of every optimizer step (forward, backward, all-reduce, update) and of the whole loop."""

    def __init__(self):
        self.durations: list[float] = []  # per step, eval and saving excluded
        self.gaps: list[float] = []  # between steps: logging, reporting, eval, saving
        self._start = self._end = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()
        if self._end:
            self.gaps.append(self._start - self._end)

    def on_step_end(self, args, state, control, **kwargs):
        self._end = time.perf_counter()
        self.durations.append(self._end - self._start)

    def seconds_per_step(self, skip: int = 1) -> float | None:
        """Median step time, the first `skip` steps (warm-up, lazy init) left out when there are enough."""
        steps = self.durations[skip:] if len(self.durations) > skip + 1 else self.durations
        return statistics.median(steps) if steps else None


class LoraTraining:
    """LoRA or QLoRA on Phi-3 with the HF Trainer, as rank `rank` of `world_size` data-parallel workers."""

    def __init__(
        self, cfg: TrainConfig, rank: int = 0, world_size: int = 1, callbacks: list | None = None,
        shard: Sequences | None = None,
    ):
        self.cfg = cfg
        self.shard = shard  # this worker's training sequences as the driver made them; None: make them all here
        self.rank, self.world_size = rank, world_size
        self.use_gpu = cfg.scaling.use_gpu
        if self.use_gpu and not torch.cuda.is_available():
            raise HardwareError("scaling.use_gpu=true but this worker sees no CUDA device")
        self.has_eval = bool(cfg.data.eval_files) or cfg.data.eval_fraction > 0
        self.output_dir = tempfile.mkdtemp(prefix=f"phi3ray-rank{rank}-")  # per worker: checkpoints before upload
        self.timer = StepTimer()
        self.callbacks = [self.timer, *(callbacks or [])]

    def setup(self) -> None:
        self.args = self._setup_arguments()
        self.tokenizer = load_tokenizer(self.cfg.model)
        set_seed(self.cfg.training.seed)  # the LoRA init: the same on every worker and in every run
        self.model = self._setup_model()
        self.train_set, self.eval_set = self._setup_data()
        self.trainer = self._setup_trainer()
        self._log_plan()

    def _setup_arguments(self) -> TrainingArguments:
        t, ds = self.cfg.training, deepspeed_dict(self.cfg)
        if ds is not None and not self.use_gpu:
            configure_cpu_deepspeed_state()
        return TrainingArguments(
            output_dir=self.output_dir,
            max_steps=t.max_steps if t.max_steps > 0 else -1,
            num_train_epochs=t.epochs,
            per_device_train_batch_size=t.per_device_batch_size,
            per_device_eval_batch_size=t.per_device_batch_size,
            gradient_accumulation_steps=t.gradient_accumulation_steps,
            learning_rate=t.learning_rate,
            weight_decay=t.weight_decay,
            lr_scheduler_type="constant_with_warmup" if t.lr_scheduler == "constant" else t.lr_scheduler,
            warmup_steps=t.warmup_ratio,  # a float in [0, 1) is a share of the steps
            max_grad_norm=t.max_grad_norm,
            **precision_flags(t.precision),
            activation_checkpointing=t.gradient_checkpointing,
            activation_checkpointing_kwargs={"use_reentrant": False},
            eval_strategy="steps" if self.has_eval else "no",
            eval_steps=t.eval_steps,
            eval_on_start=t.eval_on_start and self.has_eval,
            save_strategy="steps",
            save_steps=t.save_steps,
            logging_strategy="steps",
            logging_steps=t.logging_steps,
            logging_first_step=True,
            report_to=list(t.report_to) or "none",
            seed=t.seed,
            data_seed=t.seed,
            deepspeed=ds,
            use_cpu=not self.use_gpu and ds is None,
            accelerator_config={"use_configured_state": ds is not None and not self.use_gpu},
            ddp_find_unused_parameters=False,
            dataloader_pin_memory=self.use_gpu,
            remove_unused_columns=False,
            disable_tqdm=True,  # the driver shows one bar (phi3ray.train.worker.ProgressBar)
        )

    def _setup_model(self):
        method = self.cfg.method
        device_map = base_device_map(method.load_in_4bit, self.use_gpu, zero3_active())  # after the arguments
        model = load_base_model(self.cfg.model, method, device_map=device_map)
        model.config.use_cache = False  # no KV cache while training
        return apply_lora(model, method, gradient_checkpointing=self.cfg.training.gradient_checkpointing)

    def _setup_data(self) -> tuple[PackedDataset, PackedDataset | None]:
        sequences = self.shard or sequences_in_process(
            self.tokenizer, self.cfg, read_training_data(self.cfg.data), self.world_size
        )
        self.data_stats = sequences.stats
        return PackedDataset(sequences.train), PackedDataset(sequences.eval) if sequences.eval else None

    def _setup_trainer(self) -> Phi3Trainer:
        trainer = Phi3Trainer(
            model=self.model,
            args=self.args,
            train_dataset=self.train_set,
            eval_dataset=self.eval_set,
            data_collator=PackedCollator(pad_token_id=self.tokenizer.pad_token_id),
            processing_class=self.tokenizer,
            callbacks=self.callbacks,
        )
        trainer.presharded = self.shard is not None and self.world_size > 1
        trainer.remove_callback(PrinterCallback)  # progress and metrics are shown by the worker's callbacks
        return trainer

    def _log_plan(self) -> None:
        if self.rank != 0:
            return
        t, d, s = self.cfg.training, self.cfg.data, self.data_stats
        per_step = self.world_size * t.per_device_batch_size * t.gradient_accumulation_steps
        trainable, total = self.model.get_nb_trainable_parameters()
        logger.info(
            "%s + %s (%s), %d worker(s) x %d seq x %d accum = %d sequences/step of <= %d tokens; "
            "%d sequences from %d examples (%d truncated, %d dropped, %d skipped rows, %d trimmed for even shards); "
            "%.2fM of %.1fM params trainable",
            self.cfg.model.name, self.cfg.method.name, self.cfg.deepspeed.name, self.world_size,
            t.per_device_batch_size, t.gradient_accumulation_steps, per_step, d.max_seq_len,
            s.train_sequences, s.train_examples, s.truncated, s.dropped, s.skipped_rows,
            s.trimmed_sequences, trainable / 1e6, total / 1e6,
        )

    def train(self, resume_from: str | None = None) -> None:
        """Train to max_steps (or epochs), from a local checkpoint folder when resuming."""
        self.trainer.train(resume_from_checkpoint=resume_from)

    def is_last_step(self, checkpoint_dir: str) -> bool:
        """Whether a checkpoint is at this run's last step. A run interrupted after it (a node lost while the adapter
        was saved or merged, before the driver had the result) is done; HF's Trainer resumed there would train one
        step past max_steps. The last step is training.max_steps when set (a resumed run may raise it), else the
        plan the checkpoint recorded (epochs over the same data)."""
        state = TrainerState.load_from_json(os.path.join(checkpoint_dir, TRAINER_STATE_NAME))
        last = self.args.max_steps if self.args.max_steps > 0 else state.max_steps
        return last > 0 and state.global_step >= last

    def adopt(self, checkpoint_dir: str, out_dir: str) -> str:
        """The run's result from its last checkpoint instead of training: the Trainer's state (for the summary: its
        timings and mean train loss stay unset) and the files save_adapter writes (HF saved the checkpoint with
        save_model); the optimizer, scheduler, RNG and DeepSpeed state stay behind."""
        if not os.path.isfile(os.path.join(checkpoint_dir, "adapter_config.json")):
            raise CheckpointError(checkpoint_dir, "holds no adapter (adapter_config.json) to adopt")
        self.trainer.state = TrainerState.load_from_json(os.path.join(checkpoint_dir, TRAINER_STATE_NAME))
        os.makedirs(out_dir, exist_ok=True)
        resume_only = ("optimizer", "scheduler", "scaler", "rng_state", TRAINER_STATE_NAME, "latest", "zero_to_")
        for name in os.listdir(checkpoint_dir):
            path = os.path.join(checkpoint_dir, name)
            if os.path.isfile(path) and not name.startswith(resume_only):
                shutil.copy2(path, os.path.join(out_dir, name))
        return out_dir

    def save_adapter(self, out_dir: str) -> str:
        """The final adapter in peft layout (plus the tokenizer); every rank calls it (ZeRO-3 gathers)."""
        self.trainer.save_model(out_dir)
        return out_dir

    def cleanup(self) -> None:
        """Remove this worker's local scratch folder (its checkpoints are already in the run folder)."""
        shutil.rmtree(self.output_dir, ignore_errors=True)

    def summary(self) -> TrainSummary:
        """Steps, first and last losses, timing and data counts, from the Trainer's log history."""
        history = self.trainer.state.log_history
        evals = [h for h in history if "eval_loss" in h]
        losses = [h for h in history if "loss" in h]
        final = next((h for h in reversed(history) if "train_loss" in h), {})
        start = evals[0] if evals and evals[0]["step"] == 0 else None
        # the commit the hub resolved (a branch or tag in model.revision moves; the commit does not)
        revision = getattr(self.model.get_base_model().config, "_commit_hash", None) or self.cfg.model.revision
        per_step = self.args.per_device_train_batch_size * self.args.gradient_accumulation_steps * self.world_size
        tokens_per_sequence = self.data_stats.train_tokens / max(1, self.data_stats.train_sequences)
        seconds = self.timer.seconds_per_step()
        return TrainSummary(
            global_step=self.trainer.state.global_step,
            world_size=self.world_size,
            data=self.data_stats,
            train_loss=losses[-1]["loss"] if losses else None,
            train_loss_mean=final.get("train_loss"),
            eval_loss_start=start["eval_loss"] if start else None,
            eval_loss=evals[-1]["eval_loss"] if evals else None,
            eval_perplexity=evals[-1].get("eval_perplexity") if evals else None,
            seconds_per_step=seconds,
            steps_timed=len(self.timer.durations),
            step_seconds=[round(x, 4) for x in self.timer.durations],
            gap_seconds=[round(x, 4) for x in self.timer.gaps],
            tokens_per_second=per_step * tokens_per_sequence / seconds if seconds else None,
            torch_threads=torch.get_num_threads(),
            precision="bf16" if self.args.bf16 else "fp16" if self.args.fp16 else "fp32",
            model_bytes=self.model.get_memory_footprint(),
            peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            peak_gpu_mb=torch.cuda.max_memory_allocated() / 2**20 if self.use_gpu else None,
            base_revision=revision,
        )
