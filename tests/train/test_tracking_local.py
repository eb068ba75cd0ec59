"""Training logs to the default local MLflow store (sqlite under run.storage_path) and registers the adapter."""

import json
from pathlib import Path

import pytest

from phi3ray.config import TrackingSettings
from phi3ray.storage import file_sha256
from phi3ray.tracking import client_for, resolve_adapters, store_uri

pytestmark = pytest.mark.slow
NAME = "pumps-tiny-phi3"  # tracking.registered_model by default: <data.name>-<model.name>


def test_training_run_params_metrics_artifacts_and_registered_version(lora_zero2):
    cfg, result = lora_zero2
    uri = store_uri(TrackingSettings(), cfg.run.storage_path)
    assert Path(cfg.run.storage_path, "mlflow.db").is_file()
    card = json.loads(Path(result.adapter_path, "adapter_card.json").read_text())
    assert card["tracking"]["uri"] == uri and card["tracking"]["registered_model"] == NAME
    assert result.model_version == f"{NAME}/1"

    client = client_for(uri)
    run = client.get_run(card["tracking"]["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == "lora-zero2"
    assert run.data.params["model.name"] == "tiny-phi3" and run.data.params["training.max_steps"] == "6"
    assert run.data.metrics["eval_loss"] == pytest.approx(result.summary.eval_loss)
    assert [m.step for m in client.get_metric_history(run.info.run_id, "eval_loss")] == [0, 6]
    assert run.data.metrics["tokens_per_second"] > 0 and run.data.metrics["peak_rss_mb"] > 0
    artifacts = {f.path for f in client.list_artifacts(run.info.run_id, "adapter")}
    assert {"adapter/adapter_card.json", "adapter/adapter_model.safetensors"} <= artifacts

    version = client.get_model_version(NAME, "1")
    assert version.run_id == run.info.run_id
    assert version.tags["base_model"] == cfg.model.name_or_path
    assert version.tags["data.file.0"] == f"data/pumps/train.jsonl sha256:{file_sha256('data/pumps/train.jsonl')}"

    folders, refs = resolve_adapters({"p": f"models:/{NAME}/1"}, TrackingSettings(uri=uri), cfg.model)
    assert refs["p"].version == "1" and Path(folders["p"], "adapter_model.safetensors").is_file()
    assert json.loads(Path(folders["p"], "adapter_card.json").read_text())["tracking"]["run_id"] == run.info.run_id
