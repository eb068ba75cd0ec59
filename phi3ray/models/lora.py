"""LoRA and QLoRA for training: adapters on Phi-3's fused projections, the 4-bit base prepared for k-bit training."""

from __future__ import annotations

import logging

from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training
from transformers import PreTrainedModel

from phi3ray.config import MethodConfig, ModelConfig
from phi3ray.errors import ConfigValueError

logger = logging.getLogger(__name__)


def lora_config(method: MethodConfig) -> LoraConfig:
    """peft's LoraConfig from method.* (rank, alpha, dropout, target modules)."""
    return LoraConfig(
        r=method.rank,
        lora_alpha=method.alpha,
        lora_dropout=method.dropout,
        target_modules=list(method.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


def module_names(model: PreTrainedModel) -> set[str]:
    """The last component of every submodule's name (qkv_proj, o_proj, ...)."""
    return {name.rsplit(".", 1)[-1] for name, _ in model.named_modules() if name}


def check_targets(model: PreTrainedModel, method: MethodConfig) -> None:
    """Raise ConfigValueError naming the missing modules when a target does not exist in the model
    (the classic Phi-3 mistake: q_proj/k_proj/v_proj, which Phi-3 fuses into qkv_proj)."""
    present = module_names(model)
    missing = [m for m in method.target_modules if m not in present]
    if missing:
        linear = sorted(n for n in present if n.endswith("_proj"))
        raise ConfigValueError(
            "method.target_modules", list(method.target_modules),
            f"{', '.join(missing)} not in {type(model).__name__}; its projections are {', '.join(linear)}",
        )


def apply_lora(model: PreTrainedModel, method: MethodConfig, gradient_checkpointing: bool = False) -> PeftModel:
    """Wrap model with LoRA on method.target_modules (check_targets first); a 4-bit base is first prepared for
    k-bit training."""
    check_targets(model, method)
    if method.load_in_4bit:
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    peft_model = get_peft_model(model, lora_config(method))
    trainable, total = peft_model.get_nb_trainable_parameters()
    logger.info("LoRA r=%d on %s: %.2fM trainable of %.1fM (%.3f%%)", method.rank,
                ",".join(method.target_modules), trainable / 1e6, total / 1e6, 100 * trainable / total)
    return peft_model


def trainable_targets(model: PeftModel) -> dict[str, int]:
    """For each adapted module name (qkv_proj, ...), how many layers carry trainable LoRA weights."""
    layers: dict[str, set[str]] = {}
    for name, param in model.named_parameters():
        if param.requires_grad and ".lora_" in name:
            module_path = name.split(".lora_")[0]
            layers.setdefault(module_path.rsplit(".", 1)[-1], set()).add(module_path)
    return {module: len(paths) for module, paths in layers.items()}


def merge_adapter(model_cfg: ModelConfig, adapter_dir: str, out_dir: str) -> str:
    """Load the base unquantised, fold the adapter into its weights and save a plain transformers model.

    Runs on one rank after training: outside ZeRO-3, whose config the Trainer still holds (the base would
    otherwise be built partitioned, waiting for ranks that never join)."""
    from phi3ray.models.base import load_base_model, load_tokenizer
    from phi3ray.train.zero3 import outside_zero3

    with outside_zero3():
        base = load_base_model(model_cfg)
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    merged.save_pretrained(out_dir)
    load_tokenizer(model_cfg).save_pretrained(out_dir)
    logger.info("merged %s into %s -> %s", adapter_dir, model_cfg.name_or_path, out_dir)
    return out_dir
