"""phi3ray/tracking.py without training: registry URIs, one-line errors that survive pickle, a real sqlite store."""

import pickle

import pytest

from phi3ray.config import ModelConfig, TrackingSettings
from phi3ray.errors import RegistryError, TrackingUnavailableError
from phi3ray.tracking import (
    VersionRef,
    _flatten,
    check_base,
    client_for,
    lookup,
    parse_registry_uri,
    resolve_adapters,
    store_uri,
)
from tests.support.net import free_port

pytestmark = pytest.mark.fast


def test_registry_uris_parse_and_bad_ones_say_the_shape():
    assert parse_registry_uri("models:/pumps-tiny@champion") == ("pumps-tiny", None, "champion")
    assert parse_registry_uri("models:/pumps-tiny/3") == ("pumps-tiny", "3", None)
    with pytest.raises(RegistryError, match="expected models:/<name>@<alias>"):
        parse_registry_uri("models:/pumps-tiny")


def test_default_store_is_sqlite_under_the_runs_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("PHI3RAY_RUNS", str(tmp_path))
    assert store_uri(TrackingSettings()) == f"sqlite:///{tmp_path}/mlflow.db"
    assert store_uri(TrackingSettings(), "/runs") == "sqlite:////runs/mlflow.db"
    assert store_uri(TrackingSettings(uri="http://mlflow:5000"), "/runs") == "http://mlflow:5000"


def test_params_are_flat_and_secrets_blanked():
    flat = _flatten({"retriever": {"weaviate": {"api_key": "s3cret", "port": 1}}, "files": ["a", "b"]})
    assert flat == {"retriever.weaviate.api_key": "***", "retriever.weaviate.port": "1", "files": '["a", "b"]'}


def test_unreachable_server_is_one_line_and_pickles():
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TrackingUnavailableError) as caught:
        client_for(uri)
    message = str(caught.value)
    assert message.startswith(f"MLflow at {uri} is unreachable") and "tracking.enabled=false" in message
    assert "\n" not in message
    again = pickle.loads(pickle.dumps(caught.value))
    assert type(again) is TrackingUnavailableError and str(again) == message and again.uri == uri


def test_version_of_another_base_or_revision_is_refused():
    ref = VersionRef("pumps-tiny", "2", "champion", None, "/x", "microsoft/Phi-3-mini-4k-instruct", "abc")
    with pytest.raises(RegistryError, match="was trained on base 'microsoft/Phi-3-mini-4k-instruct'") as caught:
        check_base(ref, ModelConfig(name="tiny", name_or_path="/models/tiny"))
    assert str(pickle.loads(pickle.dumps(caught.value))) == str(caught.value)
    with pytest.raises(RegistryError, match="revision 'abc'"):
        check_base(ref, ModelConfig(name="m", name_or_path="microsoft/Phi-3-mini-4k-instruct", revision="def"))
    check_base(ref, ModelConfig(name="m", name_or_path="microsoft/Phi-3-mini-4k-instruct", revision="abc"))


def test_unknown_model_or_alias_in_a_real_sqlite_store(tmp_path):
    settings = TrackingSettings(uri=f"sqlite:///{tmp_path}/mlflow.db")
    client = client_for(settings.uri)
    client.create_registered_model("pumps-tiny")
    with pytest.raises(RegistryError, match="no registered model of that name"):
        lookup(client, "models:/nothing@champion")
    with pytest.raises(RegistryError, match="aliases: none"):
        lookup(client, "models:/pumps-tiny@champion")
    model = ModelConfig(name="tiny", name_or_path="/m")
    assert resolve_adapters({"a": "/folder"}, settings, model) == ({"a": "/folder"}, {})  # no models:/: no MLflow
    with pytest.raises(RegistryError, match="tracking.enabled=false"):
        resolve_adapters({"a": "models:/pumps-tiny@champion"}, TrackingSettings(enabled=False), model)
