"""Evaluate base, base+RAG, and each adapter with and without RAG on the held-out questions; gate promotion."""

from phi3ray.console import job_console, quiet_third_party

quiet_third_party()  # before the libraries below load: some warn as they are imported

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from phi3ray.config import validate  # noqa: E402
from phi3ray.eval.runner import evaluate  # noqa: E402


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    with job_console("evaluate"):  # leakage, a failed gate, a bad setting: the message says what to do
        run = evaluate(validate(cfg))
    print(f"report: {run.report_md} (and {run.report_html.name}); results: {run.run_dir / 'results.json'}")
    if run.results.get("tracking"):
        t = run.results["tracking"]
        versions = ", ".join(f"{name} = {v['registered_model']} version {v['version']}"
                             for name, v in t["versions"].items())
        gate = f"; the gate passed: alias {t['alias']} moved (gate.* tags on the version)" if run.gate else ""
        print(f"MLflow run {t['run_id']} at {t['uri']}" + (f" ({versions}){gate}" if versions else ""))


if __name__ == "__main__":
    main()
