"""An adapter served as models:/<name>@champion: resolved from a real MLflow store when the Generator starts,
shown with its version in /v1/models, and answering; after the alias moves, a refresh serves the new version."""

import httpx

from phi3ray.tracking import client_for
from tests.serve.conftest import SMALL_DEPLOYMENTS, start_app
from tests.support.net import free_port
from tests.support.weaviate_process import retriever_overrides

NAME = "pumps-served"


def register(uri: str, folder: str, base: str, root) -> str:
    """The adapter folder as a new version of NAME (artifacts of a run), alias champion: what training + a passed
    gate leave behind; returns the version."""
    client = client_for(uri)
    found = client.get_experiment_by_name("serve-test")
    experiment = found.experiment_id if found else client.create_experiment(
        "serve-test", artifact_location=(root / "artifacts").as_uri())
    run = client.create_run(experiment)
    client.log_artifacts(run.info.run_id, folder, "adapter")
    if not client.search_registered_models(f"name = '{NAME}'"):
        client.create_registered_model(NAME)
    version = client.create_model_version(NAME, f"{run.info.artifact_uri}/adapter", run_id=run.info.run_id,
                                          tags={"base_model": base, "base_revision": "none"}).version
    client.set_registered_model_alias(NAME, "champion", version)
    return str(version)


def test_champion_is_resolved_listed_and_answers(serve_http, adapter_dirs, tiny_model_cfg, tmp_path):
    from ray import serve

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    register(uri, adapter_dirs["pumps"], tiny_model_cfg.name_or_path, tmp_path)
    overrides = ["model=tiny", *retriever_overrides("127.0.0.1", free_port(), free_port(), "TestServe"),
                 f"+adapters.champ=models:/{NAME}@champion", f"tracking.uri={uri}", "api_key=null",
                 "generation.max_new_tokens=8", *SMALL_DEPLOYMENTS]
    app = start_app(serve_http, "registry", overrides, None)
    try:
        cards = {m["id"]: m for m in httpx.get(f"{app.url}/v1/models", timeout=30).json()["data"]}
        assert cards["champ"]["registered_model"] == NAME and cards["champ"]["version"] == "1"
        assert cards["champ"]["alias"] == "champion" and cards["champ"]["base_model"] == tiny_model_cfg.name_or_path
        assert "version" not in cards["phi3"]
        answer = app.openai().chat.completions.create(model="champ", max_tokens=8, temperature=0,
                                                      messages=[{"role": "user", "content": "VX-220 seal?"}])
        assert answer.model == "champ" and answer.usage.completion_tokens > 0

        # the alias moves (a later training passed the gate): a refresh serves the new version without a restart
        assert register(uri, adapter_dirs["safety"], tiny_model_cfg.name_or_path, tmp_path) == "2"
        loads = app.generator().stats.remote().result()["adapter_loads"]
        assert app.generator().refresh.remote().result()["champ"]["version"] == "2"
        cards = {m["id"]: m for m in httpx.get(f"{app.url}/v1/models", timeout=30).json()["data"]}
        assert cards["champ"]["version"] == "2"
        app.openai().chat.completions.create(model="champ", max_tokens=4, messages=[{"role": "user", "content": "hi"}])
        assert app.generator().stats.remote().result()["adapter_loads"] == loads + 1  # loaded from version 2
    finally:
        serve.delete("registry")

