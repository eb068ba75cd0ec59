"""Fine-tune Phi-3 with LoRA or QLoRA on Ray Train workers (DeepSpeed ZeRO from conf/deepspeed).

    python jobs/train.py model=tiny                                   # local Ray, CPU, ~1-2 min
    ray job submit --working-dir . -- python jobs/train.py model=phi3-mini-4k scaling.use_gpu=true ...
"""

from phi3ray.console import job_console, quiet_third_party

quiet_third_party()  # before the libraries below load: some warn as they are imported

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from phi3ray.config import validate  # noqa: E402
from phi3ray.train.driver import fit  # noqa: E402


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> None:
    with job_console("train"):  # bad data rows, bad settings, a failed run: one message, exit 1
        result = fit(validate(cfg))
    print(f"adapter saved to {result.adapter_path}")
    if result.model_version:
        print(f"registered as MLflow model version {result.model_version} (models:/{result.model_version})")
    s = result.summary
    print(f"eval loss {_loss(s.eval_loss_start)} -> {_loss(s.eval_loss)} after {s.global_step} steps")


def _loss(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
