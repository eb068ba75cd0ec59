"""Every combination of the config groups composes and validates; bad values are rejected by name."""

import dataclasses
import itertools
from pathlib import Path

import pytest
import yaml

from phi3ray.config import (
    DataConfig,
    DeepSpeedConfig,
    EvaluateConfig,
    IngestConfig,
    MethodConfig,
    ModelConfig,
    RetrieverConfig,
    ServeConfig,
    TrainConfig,
    validate,
)
from phi3ray.errors import ConfigError, ConfigValueError
from tests.conftest import ROOT, compose_config

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml"))


def test_groups_have_the_documented_options():
    assert options("model") == ["phi3-medium-4k", "phi3-mini-128k", "phi3-mini-4k", "phi3.5-mini", "tiny"]
    assert options("method") == ["lora", "qlora"]
    assert options("deepspeed") == ["none", "zero2", "zero3", "zero3_offload"]
    assert options("retriever") == ["cloud", "embedded", "local"]
    assert "pumps" in options("data")


@pytest.mark.parametrize(
    "model,method,deepspeed,data",
    list(itertools.product(options("model"), options("method"), options("deepspeed"), options("data"))),
)
def test_every_train_combination_composes(model, method, deepspeed, data):
    overrides = [f"model={model}", f"method={method}", f"deepspeed={deepspeed}", f"data={data}"]
    cfg = compose_config("train", overrides)
    if method == "qlora" and deepspeed.startswith("zero3"):
        # QLoRA + ZeRO-3 only works when the 4-bit storage dtype matches the compute dtype: auto picks it, and
        # another one is refused at config time.
        with pytest.raises(ConfigValueError, match="method.quant_storage"):
            validate(compose_config("train", overrides + ["method.quant_storage=uint8"]))
    train = validate(cfg)
    assert isinstance(train, TrainConfig)
    assert train.model.name_or_path and train.deepspeed.name == deepspeed


@pytest.mark.parametrize(
    "retriever,data", list(itertools.product(options("retriever"), options("data")))
)
def test_every_ingest_combination_composes(retriever, data, monkeypatch):
    monkeypatch.setenv("WEAVIATE_URL", "https://example.weaviate.cloud")
    assert isinstance(validate(compose_config("ingest", [f"retriever={retriever}", f"data={data}"])), IngestConfig)


@pytest.mark.parametrize(
    "model,retriever,data",
    list(itertools.product(options("model"), options("retriever"), options("data"))),
)
def test_every_evaluate_and_serve_combination_composes(model, retriever, data, monkeypatch):
    monkeypatch.setenv("WEAVIATE_URL", "https://example.weaviate.cloud")
    cfg = compose_config("evaluate", [f"model={model}", f"retriever={retriever}", f"data={data}"])
    assert isinstance(validate(cfg), EvaluateConfig)
    assert isinstance(validate(compose_config("serve", [f"model={model}", f"retriever={retriever}"])), ServeConfig)


def test_real_models_are_the_defaults():
    assert validate(compose_config("train")).model.name_or_path == "microsoft/Phi-3-mini-4k-instruct"
    assert validate(compose_config("serve")).model.name_or_path == "microsoft/Phi-3-mini-4k-instruct"
    assert validate(compose_config("ingest")).retriever.weaviate.mode == "embedded"


@pytest.mark.parametrize(
    "name,override,key",
    [
        ("train", "method.rank=0", "method.rank"),
        ("train", "method.dropout=1.5", "method.dropout"),
        ("train", "method.quant_type=int3", "method.quant_type"),
        ("train", "model.dtype=float8", "model.dtype"),
        ("train", "data.overflow=wrap", "data.overflow"),
        ("train", "data.on_error=ignore", "data.on_error"),
        ("train", "training.lr_scheduler=step", "training.lr_scheduler"),
        ("train", "training.learning_rate=-1", "training.learning_rate"),
        ("train", "scaling.num_workers=0", "scaling.num_workers"),
        ("ingest", "retriever.alpha=1.5", "retriever.alpha"),
        ("ingest", "retriever.weaviate.mode=remote", "retriever.weaviate.mode"),
        ("ingest", "retriever.collection=lowercase", "retriever.collection"),
        ("ingest", "chunk.overlap_tokens=500", "chunk.overlap_tokens"),
        ("serve", "rag_unavailable=ignore", "rag_unavailable"),
        ("evaluate", "generation.top_p=0", "generation.top_p"),
    ],
)
def test_bad_values_are_rejected_naming_the_key(name, override, key):
    with pytest.raises(ConfigValueError) as err:
        validate(compose_config(name, [override]))
    assert str(err.value).startswith(f"{key}=")


def test_cloud_without_url_is_rejected(monkeypatch):
    monkeypatch.delenv("WEAVIATE_URL", raising=False)
    with pytest.raises(ConfigValueError, match="retriever.weaviate.url"):
        validate(compose_config("ingest", ["retriever=cloud"]))


def test_unknown_key_and_wrong_type_fail_at_compose_time_naming_the_key():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="method.rnak"):
        compose_config("train", ["method.rnak=8"])
    with pytest.raises(ConfigCompositionException, match="training.learning_rate"):
        compose_config("train", ["training.learning_rate=fast"])


def test_config_error_lists_every_problem():
    err = ConfigError(["a: bad", "b: worse"])
    assert "a: bad" in str(err) and "b: worse" in str(err)


def _restated_defaults(schema, values: dict, path: str = "") -> list[str]:
    """Keys of values (a YAML mapping) whose value equals the default of the dataclass field of that name.

    schema: a dataclass, or an instance of one (a field's default_factory result, whose values may differ
    from the class's, e.g. ServeDeployments.ingress is DeploymentSettings(num_cpus=0.25))."""
    found = []
    fields = {f.name: f for f in dataclasses.fields(schema)}
    for key, value in values.items():
        if key not in fields:
            continue
        f = fields[key]
        if not isinstance(schema, type):  # an instance: its own value is the default
            default = getattr(schema, key)
        else:
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        if dataclasses.is_dataclass(default):
            if isinstance(value, dict):
                found += _restated_defaults(default, value, f"{path}{key}.")
        elif value == default:
            found.append(f"{path}{key}={value!r}")
    return found


SCHEMAS = {
    "train": TrainConfig, "ingest": IngestConfig, "evaluate": EvaluateConfig, "serve": ServeConfig,
    "model": ModelConfig, "method": MethodConfig, "deepspeed": DeepSpeedConfig, "data": DataConfig,
    "retriever": RetrieverConfig,
}


@pytest.mark.parametrize("path", sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "conf").rglob("*.yaml")))
def test_no_yaml_restates_a_default(path):
    """One home per default: the dataclass in phi3ray/config.py; conf/ holds only the choices that differ."""
    name = Path(path).stem if Path(path).parent.name == "conf" else Path(path).parent.name
    values = yaml.safe_load((ROOT / path).read_text()) or {}
    assert _restated_defaults(SCHEMAS[name], values) == [], "drop these lines (the dataclass default says it)"
