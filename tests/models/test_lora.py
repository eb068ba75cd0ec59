"""LoRA lands on all four of Phi-3's fused projections in every layer; QLoRA on a real 4-bit base."""

import dataclasses

import bitsandbytes as bnb
import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from phi3ray.config import MethodConfig
from phi3ray.errors import ConfigValueError
from phi3ray.models.base import load_base_model
from phi3ray.models.lora import apply_lora, merge_adapter, trainable_targets
from phi3ray.names import LORA_TARGETS

PHI3_TARGETS = list(LORA_TARGETS)
LORA = MethodConfig(name="lora", rank=4, alpha=8, dropout=0.0)


def test_lora_trains_all_four_fused_projections_in_every_layer(tiny_model_cfg):
    model = apply_lora(load_base_model(tiny_model_cfg), LORA)
    layers = model.config.num_hidden_layers
    assert trainable_targets(model) == {name: layers for name in PHI3_TARGETS}
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert len(trainable) == 2 * 4 * layers and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    qkv = model.base_model.model.model.layers[0].self_attn.qkv_proj
    assert qkv.lora_A["default"].weight.shape == (4, model.config.hidden_size)
    assert qkv.lora_B["default"].weight.shape == (qkv.base_layer.out_features, 4)  # q, k and v together


def test_unfused_names_fail_and_say_what_phi3_calls_them(tiny_model_cfg):
    wrong = dataclasses.replace(LORA, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    with pytest.raises(ConfigValueError) as info:
        apply_lora(load_base_model(tiny_model_cfg), wrong)
    message = str(info.value)
    assert message.startswith("method.target_modules=['q_proj', 'k_proj', 'v_proj', 'o_proj']: q_proj, k_proj, v_proj not in")
    assert "qkv_proj" in message and "gate_up_proj" in message


def test_qlora_adapts_a_4bit_base(tiny_model_cfg):
    qlora = MethodConfig(name="qlora", rank=4, alpha=8, dropout=0.0, load_in_4bit=True, compute_dtype="bfloat16")
    model = apply_lora(load_base_model(tiny_model_cfg, qlora), qlora, gradient_checkpointing=True)
    qkv = model.base_model.model.model.layers[0].self_attn.qkv_proj
    assert isinstance(qkv.base_layer, bnb.nn.Linear4bit)
    assert qkv.base_layer.weight.quant_state.quant_type == "nf4"
    assert trainable_targets(model) == {name: model.config.num_hidden_layers for name in PHI3_TARGETS}
    batch = torch.tensor([[5, 6, 7, 8, 9, 10]])
    loss = model(input_ids=batch, labels=batch, use_cache=False).loss
    loss.backward()
    assert qkv.lora_B["default"].weight.grad is not None and torch.isfinite(loss)


def test_merged_model_matches_base_plus_adapter(tiny_model_cfg, tmp_path):
    model = apply_lora(load_base_model(tiny_model_cfg), LORA)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.02)  # a fresh adapter is a no-op; make it change the outputs
    model.save_pretrained(tmp_path / "adapter")
    merge_adapter(tiny_model_cfg, str(tmp_path / "adapter"), str(tmp_path / "merged"))
    batch = torch.tensor([[5, 6, 7, 8, 9, 10]])
    with torch.no_grad():
        base = AutoModelForCausalLM.from_pretrained(tiny_model_cfg.name_or_path)
        adapted = PeftModel.from_pretrained(base, tmp_path / "adapter")(input_ids=batch).logits
        merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")(input_ids=batch).logits
        plain = AutoModelForCausalLM.from_pretrained(tiny_model_cfg.name_or_path)(input_ids=batch).logits
    assert torch.allclose(adapted, merged, atol=1e-4)
    assert not torch.allclose(plain, merged, atol=1e-3)
