"""Evaluate base, base+RAG, and each adapter with and without RAG on the held-out questions; gate promotion."""
import hydra
from omegaconf import DictConfig

from phi3ray.errors import Phi3RayError
from phi3ray.eval.runner import evaluate


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    try:
        run = evaluate(cfg)
    except Phi3RayError as err:  # leakage, a failed gate, a bad setting: the message says what to do
        raise SystemExit(f"evaluate: {err}") from None
    print(f"report: {run.report_md} (and {run.report_html.name}); results: {run.run_dir / 'results.json'}")


if __name__ == "__main__":
    main()
