"""Against a real `mlflow server` on loopback: train -> evaluate -> the gate moves the alias -> serving resolves
models:/<name>@champion and answers; a second training whose evaluation fails leaves the alias where it was."""

import os
import signal
import subprocess
import sys
import time

import pytest
import requests
import torch

from phi3ray.config import validate
from phi3ray.errors import PromotionGateError, RegistryError
from phi3ray.eval.runner import evaluate
from phi3ray.models.adapters import AdapterSet
from phi3ray.tracking import client_for, resolve_serve_adapters
from phi3ray.train.driver import fit
from tests.conftest import ROOT, compose_config
from tests.support.net import free_port
from tests.train.conftest import short_run

pytestmark = pytest.mark.slow
NAME = "pumps-e2e"


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """`mlflow server` on a free loopback port, sqlite backend, proxied artifacts; stopped by its process group."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{folder}/mlflow.db", "--artifacts-destination", str(folder / "artifacts")],
        stdout=open(folder / "server.log", "w"), stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},  # no job runner (7 processes; unused here)
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            if requests.get(f"{uri}/health", timeout=2).ok:
                break
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.time() > deadline:
            os.killpg(proc.pid, signal.SIGKILL) if proc.poll() is None else None
            pytest.fail(f"mlflow server did not start: {(folder / 'server.log').read_text()[-2000:]}", pytrace=False)
        time.sleep(0.5)
    yield uri
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def train(storage, name: str, uri: str, steps: int):
    return fit(short_run(storage, name, "deepspeed=none", "scaling.num_workers=1", f"training.max_steps={steps}",
                         f"training.save_steps={steps}", f"training.eval_steps={steps}", f"tracking.uri={uri}",
                         f"tracking.registered_model={NAME}"))


def run_eval(tmp_path, adapter: str, min_gain: float):
    """A small gated evaluation (no RAG); the tracking store comes from the adapter's card."""
    return evaluate(validate(compose_config("evaluate", [
        "model=tiny", f"data.heldout_file={ROOT}/data/pumps/heldout.jsonl",
        f"data.train_files=[{ROOT}/data/pumps/train.jsonl]", f"+adapters.pumps={adapter}", "rag=false",
        "max_questions=4", "generation.max_new_tokens=8", "batch_size=4", "bootstrap_samples=50",
        "gate.metric=f1", f"gate.min_gain={min_gain}", f"output_dir={tmp_path}",
    ])))


def test_train_evaluate_promote_and_serve_the_champion(mlflow_server, ray_session, tmp_path):
    first = train(tmp_path / "runs", "e2e-a", mlflow_server, 2)
    assert first.model_version == f"{NAME}/1"
    run = run_eval(tmp_path / "eval-a", first.adapter_path, -1.0)  # passes: any f1 within 1.0 of the base
    assert run.gate.passed and run.results["tracking"]["versions"]["pumps"]["version"] == "1"

    client = client_for(mlflow_server)
    champion = client.get_model_version_by_alias(NAME, "champion")
    assert champion.version == "1" and champion.tags["gate.status"] == "passed"
    assert champion.tags["gate.metric"] == "f1" and champion.tags["gate.ci"].startswith("[")
    evaluation = client.get_run(run.results["tracking"]["run_id"])
    assert "pumps.f1" in evaluation.data.metrics and "pumps.vs.base.f1.p" in evaluation.data.metrics
    assert evaluation.data.tags["adapter.pumps.training_run"] == champion.run_id
    logged = {f.path for f in client.list_artifacts(evaluation.info.run_id)}
    assert {"results.json", "answers.jsonl", "report.md"} <= logged

    second = train(tmp_path / "runs", "e2e-b", mlflow_server, 1)
    assert second.model_version == f"{NAME}/2"
    with pytest.raises(PromotionGateError):  # exit code 2 in the job, as before
        run_eval(tmp_path / "eval-b", second.adapter_path, 1.0)
    rejected = client.get_model_version(NAME, "2")
    assert rejected.tags["gate.status"] == "rejected" and "FAILS" in rejected.tags["gate.why"]
    assert client.get_model_version_by_alias(NAME, "champion").version == "1"  # the alias stayed

    serve_overrides = ["model=tiny", f"+adapters.pumps=models:/{NAME}@champion", f"tracking.uri={mlflow_server}"]
    cfg = validate(compose_config("serve", serve_overrides))
    folders, registry = resolve_serve_adapters(cfg)
    assert registry["pumps"]["version"] == "1" and registry["pumps"]["alias"] == "champion"
    assert registry["pumps"]["base_model"] == cfg.model.name_or_path
    adapters = AdapterSet.load(cfg.model, folders)
    model, tokenizer = adapters.model, adapters.tokenizer
    model.set_adapter(adapters.ensure("pumps"))
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "VX-100 seal?"}], add_generation_prompt=True,
                                        return_tensors="pt", return_dict=True)["input_ids"]
    with torch.no_grad():
        out = model.generate(input_ids=ids, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > ids.shape[1]

    other = validate(compose_config("serve", [*serve_overrides, "model.name_or_path=/elsewhere/phi3"]))
    with pytest.raises(RegistryError, match="was trained on base"):
        resolve_serve_adapters(other)
