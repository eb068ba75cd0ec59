"""Evaluate base, base+RAG, and each adapter with and without RAG on the held-out questions; gate promotion."""
import hydra
from omegaconf import DictConfig

from phi3ray.console import job_console
from phi3ray.eval.runner import evaluate


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    with job_console("evaluate"):  # leakage, a failed gate, a bad setting: the message says what to do
        run = evaluate(cfg)
    print(f"report: {run.report_md} (and {run.report_html.name}); results: {run.run_dir / 'results.json'}")


if __name__ == "__main__":
    main()
