"""MLflow: training and evaluation runs, adapters as registered model versions, the gate's alias, `models:/` URIs.

One module holds every MLflow call; the training driver, the evaluation runner and the serving Generator call
the hooks below. The store is `tracking.uri` (a server all nodes reach, on a cluster) or, by default, a local
sqlite store under the runs folder (`sqlite:///<root>/mlflow.db`, artifacts in `<root>/mlartifacts`): no server,
works offline, and has the model registry (which needs a database-backed store). `mlflow ui --backend-store-uri
sqlite:///<root>/mlflow.db` shows it.

What lands where:
- training run (experiment `tracking.experiment`, run name = run.name): the composed config as params (flattened,
  secrets blanked) and config.yaml; loss, eval loss (before/after), perplexity, tokens/s, s/step, peak memory as
  metrics; the adapter folder with its card under artifacts `adapter/`; the card gets the run id.
- registered model `tracking.registered_model` (default <data.name>-<model.name>): one version per training run,
  source = the run's `adapter/` artifacts, tagged with base model id and resolved revision, data file hashes and
  the RAG index lineage.
- evaluation run: per-variant metrics (`<variant>.<metric>`, with `.ci_low`/`.ci_high`), paired comparisons with
  base (`<variant>.vs.<reference>.<metric>.diff|.p`), results.json, answers.jsonl and the report as artifacts,
  tags naming the training run(s) and model versions evaluated.
- gate: passed -> alias `tracking.alias` moved to the version, `gate.*` tags (metric, gain, CI, p) on it;
  failed -> `gate.status=rejected` with the same figures; the alias stays where it was.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from phi3ray.config import EvaluateConfig, ModelConfig, ServeConfig, TrackingSettings, TrainConfig
from phi3ray.errors import RegistryError, TrackingUnavailableError
from phi3ray.storage import expand_path, is_uri

logger = logging.getLogger(__name__)

SCHEME = "models:/"  # an adapter named models:/<name>@<alias> or models:/<name>/<version> comes from the registry
ADAPTER_ARTIFACTS = "adapter"  # where a training run's adapter folder lands among its artifacts
MAX_PARAM = 6000  # MLflow's limit on a param value's length


def default_root() -> str:
    """The runs folder: $PHI3RAY_RUNS or ~/phi3ray_runs (as conf/train.yaml's run.storage_path)."""
    return expand_path(os.environ.get("PHI3RAY_RUNS") or "~/phi3ray_runs")


def store_uri(settings: TrackingSettings, root: str | None = None) -> str:
    """tracking.uri, or sqlite:///<tracking.root | root | default_root()>/mlflow.db."""
    if settings.uri:
        return settings.uri
    folder = Path(expand_path(settings.root or root or default_root()))
    return f"sqlite:///{folder / 'mlflow.db'}"


def _artifact_location(uri: str) -> str | None:
    """Artifacts of a local sqlite store go next to it (<root>/mlartifacts); a server picks its own."""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///"):]).parent / "mlartifacts").as_uri()
    return None


def client_for(uri: str):
    """An MlflowClient on uri (tracking and registry), after checking a server answers (one line if not)."""
    import mlflow
    from mlflow import MlflowClient

    if uri.startswith(("http://", "https://")):
        import requests

        try:
            requests.get(uri.rstrip("/") + "/health", timeout=10).raise_for_status()
        except requests.RequestException as err:
            raise TrackingUnavailableError(uri, str(err).splitlines()[0][:200]) from err
    elif uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    for name in ("alembic", "mlflow.store.db.utils", "mlflow.tracking.fluent"):
        logging.getLogger(name).setLevel(logging.WARNING)  # a new sqlite store logs every migration at INFO
    mlflow.set_tracking_uri(uri)  # download_artifacts and models:/ URIs read the process-wide one
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _experiment_id(client, name: str, uri: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(name, artifact_location=_artifact_location(uri))


def _flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """A nested config as dotted params (data.train_files=[...]), api keys blanked, values cut to MLflow's limit."""
    if isinstance(value, dict) and value:
        out: dict[str, str] = {}
        for key, item in value.items():
            out |= _flatten(item, f"{prefix}{key}.")
        return out
    key = prefix.rstrip(".")
    if key.endswith("api_key") and value:
        value = "***"
    text = value if isinstance(value, str) else json.dumps(value)
    return {key: text[:MAX_PARAM]}


def _public(config: Any) -> dict:
    return json.loads(json.dumps(asdict(config), default=str))


def _log(client, run_id: str, params: dict[str, str] | None = None, metrics: dict[str, float | None] | None = None,
         tags: dict[str, str] | None = None, step: int = 0) -> None:
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.utils.time import get_current_time_millis

    now = get_current_time_millis()
    client.log_batch(
        run_id,
        params=[Param(k, v) for k, v in (params or {}).items()],
        metrics=[Metric(k, float(v), now, step) for k, v in (metrics or {}).items() if v is not None and v == v],
        tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()],
    )


def _is_local_store(uri: str) -> bool:
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


# ---------------------------------------------------------------- training


class TrainingTracker:
    """A training run in MLflow, opened before any worker starts (an unreachable server stops the job there)."""

    def __init__(self, cfg: TrainConfig):
        settings = cfg.tracking
        root = None if is_uri(cfg.run.storage_path) else cfg.run.storage_path
        self.uri = store_uri(settings, root)
        self.client = client_for(self.uri)
        self.experiment = settings.experiment
        self.model_name = settings.registered_model or f"{cfg.data.name}-{cfg.model.name}"
        run = self.client.create_run(
            _experiment_id(self.client, self.experiment, self.uri),
            run_name=cfg.run.name,
            tags={"phi3ray.job": "train", "mlflow.source.name": "jobs/train.py", "phi3ray.registered_model":
                  self.model_name},
        )
        self.run_id = run.info.run_id
        self.artifact_uri = run.info.artifact_uri
        config = _public(cfg)
        _log(self.client, self.run_id, params=_flatten(config))
        self.client.log_dict(self.run_id, config, "config.yaml")
        logger.info("MLflow run %s (experiment %s) at %s", self.run_id, self.experiment, self.uri)

    def card_entry(self) -> dict:
        """What the adapter card records: where the run and its registered model live."""
        return {"uri": self.uri, "experiment": self.experiment, "run_id": self.run_id,
                "registered_model": self.model_name}

    def fail(self, why: str) -> None:
        self.client.set_tag(self.run_id, "phi3ray.error", why[:5000])
        self.client.set_terminated(self.run_id, "FAILED")

    def finish(self, summary, adapter_folder: str, card: dict) -> str:
        """Metrics, the adapter (with its card) as artifacts, a new registered model version; its version."""
        metrics = {k: getattr(summary, k) for k in (
            "train_loss", "train_loss_mean", "eval_perplexity", "tokens_per_second", "seconds_per_step",
            "peak_rss_mb", "peak_gpu_mb", "model_bytes")}
        metrics |= {f"data.{k}": v for k, v in asdict(summary.data).items()}
        _log(self.client, self.run_id, metrics=metrics, step=summary.global_step)
        _log(self.client, self.run_id, metrics={"eval_loss": summary.eval_loss_start}, step=0)
        _log(self.client, self.run_id, metrics={"eval_loss": summary.eval_loss}, step=summary.global_step)
        for i, seconds in enumerate(summary.step_seconds):
            _log(self.client, self.run_id, metrics={"step_seconds": seconds}, step=i + 1)
        self.client.log_artifacts(self.run_id, adapter_folder, ADAPTER_ARTIFACTS)
        version = self._register(card)
        self.client.set_terminated(self.run_id, "FINISHED")
        return version

    def _register(self, card: dict) -> str:
        from mlflow.exceptions import MlflowException

        base = card["base_model"]
        try:
            self.client.create_registered_model(
                self.model_name, tags={"base_model": base["name_or_path"]},
                description=f"phi3ray LoRA adapters of {base['name_or_path']} on data {card['data']['name']}")
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        tags = {
            "base_model": base["name_or_path"],
            "base_model.name": base["name"],
            "base_revision": base["revision"] or "none",
            "method": card["method"]["name"],
            "phi3ray.run_name": card["run"]["name"],
        }
        for i, f in enumerate(card["data"]["files"]):
            tags[f"data.file.{i}"] = f"{f['path']} sha256:{f['sha256']}"
        rag = card["data"].get("rag_context")
        if rag:
            index = rag["index"]
            tags |= {"rag.collection": index["collection"], "rag.where": str(index["where"]),
                     "rag.objects": str(index["objects"]), "rag.chunk_ids_sha256": index["chunk_ids_sha256"]}
        version = self.client.create_model_version(
            self.model_name, f"{self.artifact_uri}/{ADAPTER_ARTIFACTS}", run_id=self.run_id, tags=tags,
            description=f"eval loss {card['results']['eval_loss_start']} -> {card['results']['eval_loss']}",
        )
        logger.info("registered %s version %s", self.model_name, version.version)
        return str(version.version)


def start_training(cfg: TrainConfig) -> TrainingTracker | None:
    """The run of this training job; None with tracking.enabled=false."""
    return TrainingTracker(cfg) if cfg.tracking.enabled else None


# ---------------------------------------------------------------- registry references


@dataclass
class VersionRef:
    """A registered adapter version, as evaluation and serving name it."""

    registered_model: str
    version: str
    alias: str | None  # the alias it was named by (models:/x@champion), if any
    run_id: str | None
    source: str  # the version's artifact URI
    base_model: str | None  # its base_model tag (hub id or folder)
    base_revision: str | None

    def describe(self) -> str:
        return f"{self.registered_model}@{self.alias} (version {self.version})" if self.alias else \
            f"{self.registered_model}/{self.version}"


def is_registry_uri(uri: str) -> bool:
    return uri.startswith(SCHEME)


def parse_registry_uri(uri: str) -> tuple[str, str | None, str | None]:
    """models:/<name>@<alias> -> (name, None, alias); models:/<name>/<version> -> (name, version, None)."""
    rest = uri[len(SCHEME):].strip("/")
    if "@" in rest:
        name, alias = rest.split("@", 1)
        if name and alias and "/" not in alias:
            return name, None, alias
    elif rest.count("/") == 1:
        name, version = rest.split("/")
        if name and version.isdigit():
            return name, version, None
    raise RegistryError(uri, "expected models:/<name>@<alias> or models:/<name>/<version>")


def lookup(client, uri: str) -> VersionRef:
    """The version a models:/ URI names (one line when the model, alias or version does not exist)."""
    from mlflow.exceptions import MlflowException

    name, version, alias = parse_registry_uri(uri)
    try:
        mv = client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, version)
    except MlflowException as err:
        known = ""
        try:
            model = client.get_registered_model(name)
            known = f"; aliases: {', '.join(sorted(model.aliases)) or 'none'}" if alias else ""
        except MlflowException:
            known = "; no registered model of that name"
        raise RegistryError(uri, f"{err.message.splitlines()[0][:200]}{known}") from err
    return _ref(mv, alias)


def _ref(mv, alias: str | None) -> VersionRef:
    tags = mv.tags or {}
    revision = tags.get("base_revision")
    return VersionRef(mv.name, str(mv.version), alias, mv.run_id, mv.source, tags.get("base_model"),
                      None if revision in (None, "none") else revision)


def download(uri: str, ref: VersionRef) -> str:
    """A local folder holding the version's adapter (a local store's files are used in place)."""
    import mlflow

    return mlflow.artifacts.download_artifacts(artifact_uri=ref.source, tracking_uri=uri)


def check_base(ref: VersionRef, model: ModelConfig) -> None:
    """Refuse a version trained on another base (or another revision of it) than the one served."""
    if ref.base_model is not None and ref.base_model != model.name_or_path:
        raise RegistryError(SCHEME + ref.describe(), f"was trained on base {ref.base_model!r}, but this deployment "
                            f"serves {model.name_or_path!r}; serve it with that model or pick another version")
    if model.revision is not None and ref.base_revision is not None and ref.base_revision != model.revision:
        raise RegistryError(SCHEME + ref.describe(), f"was trained on revision {ref.base_revision!r} of "
                            f"{ref.base_model}, but model.revision={model.revision!r}")


def resolve_adapters(adapters: dict[str, str], settings: TrackingSettings, model: ModelConfig,
                     ) -> tuple[dict[str, str], dict[str, VersionRef]]:
    """Adapters with every models:/ URI replaced by the version's local folder, and the versions by adapter name.

    Raises RegistryError for an unknown model, alias or version and for a version of another base."""
    named = {name: uri for name, uri in adapters.items() if is_registry_uri(uri)}
    if not named:
        return dict(adapters), {}
    if not settings.enabled:
        raise RegistryError(next(iter(named.values())), "needs MLflow, but tracking.enabled=false")
    uri = store_uri(settings)
    client = client_for(uri)
    resolved, refs = dict(adapters), {}
    for name, registry_uri in named.items():
        ref = lookup(client, registry_uri)
        check_base(ref, model)
        resolved[name] = download(uri, ref)
        refs[name] = ref
        logger.info("adapter %s = %s from %s", name, ref.describe(), resolved[name])
    return resolved, refs


def resolve_serve_adapters(cfg: ServeConfig) -> tuple[dict[str, str], dict[str, dict]]:
    """The Generator's adapters as folders, and what /v1/models shows of each registry one."""
    resolved, refs = resolve_adapters(cfg.adapters, cfg.tracking, cfg.model)
    return resolved, {name: {"registered_model": r.registered_model, "version": r.version, "alias": r.alias,
                             "base_model": r.base_model, "base_revision": r.base_revision}
                      for name, r in refs.items()}


# ---------------------------------------------------------------- evaluation


def _card_tracking(lineage: dict) -> dict | None:
    card = (lineage.get("cards") or {}).get("adapter_card.json") or {}
    return card.get("tracking")


class EvaluationTracker:
    """An evaluation run, and the registry versions of the adapters evaluated (found by their cards' run ids)."""

    def __init__(self, settings: EvaluateConfig, lineage: dict, refs: dict[str, VersionRef]):
        t = settings.tracking
        cards = {a["name"]: _card_tracking(a) for a in lineage["adapters"]}
        from_card = next((c["uri"] for c in cards.values() if c and c.get("uri")), None)
        self.uri = store_uri(t) if (t.uri or t.root or not from_card) else from_card
        self.client = client_for(self.uri)
        self.alias = t.alias
        self.versions: dict[str, VersionRef] = dict(refs)
        for name, card in cards.items():
            if name not in self.versions and card and card.get("run_id"):
                found = self.client.search_model_versions(
                    f"name = '{card['registered_model']}' and run_id = '{card['run_id']}'")
                if found:
                    self.versions[name] = _ref(found[0], None)
        run = self.client.create_run(
            _experiment_id(self.client, t.experiment, self.uri),
            run_name=f"evaluate-{settings.run_name}" if settings.run_name else None,
            tags={"phi3ray.job": "evaluate", "mlflow.source.name": "jobs/evaluate.py"}
            | {f"adapter.{n}.training_run": c["run_id"] for n, c in cards.items() if c and c.get("run_id")}
            | {f"adapter.{n}.model_version": f"{r.registered_model}/{r.version}" for n, r in self.versions.items()},
        )
        self.run_id = run.info.run_id
        _log(self.client, self.run_id, params=_flatten(_public(settings)))
        for name, ref in self.versions.items():  # the training run's page links to its evaluations
            if ref.run_id:
                self.client.set_tag(ref.run_id, f"phi3ray.evaluated_by.{self.run_id}", name)

    def describe(self) -> dict:
        """What results.json records: the MLflow run and each adapter's registered version."""
        return {"uri": self.uri, "run_id": self.run_id, "alias": self.alias,
                "versions": {name: asdict(ref) for name, ref in self.versions.items()}}

    def finish(self, results: dict, run_dir: Path, gate) -> None:
        """Metrics with CIs, comparisons, the run folder as artifacts; then the gate's verdict in the registry."""
        metrics: dict[str, float | None] = {}
        for variant, table in results["metrics"].items():
            for metric, est in table.items():
                metrics |= {f"{variant}.{metric}": est["value"], f"{variant}.{metric}.ci_low": est["ci_low"],
                            f"{variant}.{metric}.ci_high": est["ci_high"]}
        for c in results["comparisons"]:
            key = f"{c['variant']}.vs.{c['reference']}.{c['metric']}"
            metrics |= {f"{key}.diff": c["diff"], f"{key}.ci_low": c["ci_low"], f"{key}.ci_high": c["ci_high"],
                        f"{key}.p": c["p_value"]}
        metrics["questions"] = results["questions"]
        # MLflow keys take no '+': base+rag.f1 is logged as base_with_rag.f1
        _log(self.client, self.run_id, metrics={k.replace("+", "_with_"): v for k, v in metrics.items()})
        self.client.log_artifacts(self.run_id, str(run_dir))
        if gate is not None:
            self._judge(gate, results["comparisons"])
        self.client.set_terminated(self.run_id, "FINISHED")

    def _judge(self, gate, comparisons: list[dict]) -> None:
        best: dict[str, tuple[float, VersionRef]] = {}
        for check in gate.checks:
            ref = self.versions.get(check.adapter)
            if ref is None:
                logger.warning("gate: adapter %s is not a registered version (its card names no MLflow run); "
                               "nothing to promote", check.adapter)
                continue
            c = next(c for c in comparisons if c["variant"] == check.variant and c["reference"] == check.reference
                     and c["metric"] == gate.metric)
            figures = {"gate.metric": gate.metric, "gate.variant": check.variant, "gate.reference": check.reference,
                       "gate.value": f"{check.value:.6g}", "gate.reference_value": f"{check.reference_value:.6g}",
                       "gate.gain": f"{check.gain:.6g}", "gate.min_gain": f"{gate.min_gain:g}",
                       "gate.ci": f"[{c['ci_low']:.6g}, {c['ci_high']:.6g}]", "gate.p": f"{check.p_value:.6g}",
                       "gate.require_significant": str(gate.require_significant),
                       "gate.evaluation_run": self.run_id,
                       "gate.status": "passed" if check.passed else "rejected",
                       "gate.why": check.describe(gate.metric, gate.min_gain)}
            for key, value in figures.items():
                self.client.set_model_version_tag(ref.registered_model, ref.version, key, value)
            self.client.set_tag(self.run_id, f"gate.{check.adapter}", figures["gate.status"])
            if check.passed and (ref.registered_model not in best or check.gain > best[ref.registered_model][0]):
                best[ref.registered_model] = (check.gain, ref)
        for name, (_, ref) in best.items():  # two passing versions of one model: the larger gain gets the alias
            self.client.set_registered_model_alias(name, self.alias, ref.version)
            logger.info("gate passed: %s@%s -> version %s", name, self.alias, ref.version)


def start_evaluation(settings: EvaluateConfig, lineage: dict, refs: dict[str, VersionRef]) -> EvaluationTracker | None:
    return EvaluationTracker(settings, lineage, refs) if settings.tracking.enabled else None


def resolve_eval_adapters(settings: EvaluateConfig) -> tuple[EvaluateConfig, dict[str, VersionRef]]:
    """The evaluate config with models:/ adapters replaced by their folders (actors load those), and the versions."""
    import dataclasses

    resolved, refs = resolve_adapters(settings.adapters, settings.tracking, settings.model)
    return dataclasses.replace(settings, adapters=resolved), refs
