"""The training driver's preflight: everything that can be checked before a worker starts, without weights.

1. the method x deepspeed x precision x device combination is one that runs (check_combination);
2. the model, built on the meta device from its config alone (no weights, no memory), has the LoRA targets
   (Phi-3 fuses q/k/v into qkv_proj and gate/up into gate_up_proj);
3. the tokenizer's chat template renders every training row with its assistant replies where the loss is.
Each refusal is one line that says the fix (a phi3ray error: the job prints it without a traceback).
"""

from __future__ import annotations

import logging

from phi3ray.config import ModelConfig, TrainConfig
from phi3ray.data.chat_template import render_with_replies
from phi3ray.data.readers import ReadReport
from phi3ray.errors import DataErrors, DataFormatError, ModelLoadError
from phi3ray.models.base import load_tokenizer, model_path
from phi3ray.models.lora import check_targets
from phi3ray.train.deepspeed_config import check_combination

logger = logging.getLogger(__name__)


def meta_model(cfg: ModelConfig):
    """The model built from its config.json on the meta device: module names and shapes, no weights."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    path = model_path(cfg)
    try:
        config = AutoConfig.from_pretrained(path, revision=cfg.revision)
    except OSError as err:
        raise ModelLoadError(path, str(err).splitlines()[0]) from err
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def check_chat_template(cfg: TrainConfig, data: tuple[ReadReport, ReadReport | None]) -> int:
    """Render every training (and eval) row with the model's tokenizer; return how many were rendered."""
    tokenizer = load_tokenizer(cfg.model)
    errors, rendered = [], 0
    for report in (r for r in data if r is not None):
        for example in report.examples:
            try:
                render_with_replies(tokenizer, example.messages, example.source)
                rendered += 1
            except DataFormatError as err:
                errors.append(err)
    if errors:
        raise DataErrors(errors)
    return rendered


def preflight(cfg: TrainConfig, data: tuple[ReadReport, ReadReport | None]) -> None:
    """Refuse, before any worker starts, a run that could not train (see the module docstring)."""
    check_combination(cfg)
    model = meta_model(cfg.model)
    check_targets(model, cfg.method)
    rows = check_chat_template(cfg, data)
    logger.info("preflight: %s on %s, %s, deepspeed=%s, precision=%s; LoRA targets present; %d rows render",
                type(model).__name__, "GPU" if cfg.scaling.use_gpu else "CPU", cfg.method.name, cfg.deepspeed.name,
                cfg.training.precision, rows)
