"""Fine-tune Phi-3 with LoRA or QLoRA on Ray Train workers (DeepSpeed ZeRO from conf/deepspeed).

    python jobs/train.py model=tiny                                   # local Ray, CPU, ~1-2 min
    ray job submit --working-dir . -- python jobs/train.py model=phi3-mini-4k scaling.use_gpu=true ...
"""

import hydra
from omegaconf import DictConfig

from phi3ray.config import validate
from phi3ray.console import job_console
from phi3ray.train.driver import fit


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> None:
    with job_console("train"):  # bad data rows, bad settings, a failed run: one message, exit 1
        result = fit(validate(cfg))
    print(f"adapter saved to {result.adapter_path}")
    print(f"eval loss {result.metrics['eval_loss_start']} -> {result.metrics['eval_loss']} after {result.metrics['global_step']} steps")


if __name__ == "__main__":
    main()
