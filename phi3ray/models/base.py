"""Load Phi-3 and its tokenizer: one code path for hub ids and local folders, bf16/fp32 or 4-bit."""

from __future__ import annotations

import logging
import os

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from phi3ray.config import MethodConfig, ModelConfig
from phi3ray.errors import ModelLoadError
from phi3ray.names import END_TOKEN

logger = logging.getLogger(__name__)


def resolve_dtype(name: str) -> torch.dtype:
    """auto -> bfloat16 on CUDA, float32 on CPU; otherwise the named dtype."""
    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    return getattr(torch, name)


def model_path(cfg: ModelConfig) -> str:
    """The hub id or local folder to load, building the tiny model's folder on first use."""
    if cfg.make_if_missing:
        from phi3ray.models.tiny import ensure_tiny_phi3

        return ensure_tiny_phi3(os.path.expanduser(cfg.name_or_path))
    return cfg.name_or_path


def load_tokenizer(cfg: ModelConfig) -> PreTrainedTokenizerBase:
    """Phi-3's tokenizer with a pad token distinct from EOS, padding on the left for generation."""
    path = model_path(cfg)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, revision=cfg.revision)
    except OSError as err:
        raise ModelLoadError(path, str(err).splitlines()[0]) from err
    if tokenizer.pad_token is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        # the hub's Phi-3 tokenizers pad with <|endoftext|>, their EOS: padding would read as "the text ended"
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def quantization_config(method: MethodConfig) -> BitsAndBytesConfig:
    """The QLoRA paper's 4-bit base: NF4, double quantisation, compute and storage dtypes from config
    (quant_storage auto: the compute dtype while ZeRO-3 is on, so that it can shard the 4-bit weights, else uint8)."""
    from phi3ray.train.zero3 import zero3_active

    storage = method.quant_storage
    if storage == "auto":
        storage = method.compute_dtype if zero3_active() else "uint8"
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=method.quant_type,
        bnb_4bit_use_double_quant=method.double_quant,
        bnb_4bit_compute_dtype=getattr(torch, method.compute_dtype),
        bnb_4bit_quant_storage=getattr(torch, storage),
    )


def load_base_model(
    cfg: ModelConfig, method: MethodConfig | None = None, device_map: str | dict | None = None
) -> PreTrainedModel:
    """Load Phi3ForCausalLM (transformers' own class) in the configured dtype, or in 4 bits for QLoRA."""
    path = model_path(cfg)
    kwargs: dict = {"revision": cfg.revision, "attn_implementation": cfg.attn_implementation}
    if method is not None and method.load_in_4bit:
        kwargs["quantization_config"] = quantization_config(method)
        kwargs["dtype"] = getattr(torch, method.compute_dtype)
    else:
        kwargs["dtype"] = resolve_dtype(cfg.dtype)
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except OSError as err:
        raise ModelLoadError(path, str(err).splitlines()[0]) from err
    logger.info("loaded %s (%s, %.1fM params)", path, kwargs["dtype"], model.num_parameters() / 1e6)
    return model


def stop_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Token ids that end an answer: <|end|> and the tokenizer's EOS."""
    ids = {tokenizer.convert_tokens_to_ids(END_TOKEN), tokenizer.eos_token_id}
    return sorted(i for i in ids if i is not None and i != tokenizer.unk_token_id)
