"""The gathered per-row LoRA gives the logits of peft's own mixed-adapter forward, ranks and targets differing,
and steps aside for what it does not cover."""

from __future__ import annotations

import torch
from peft import LoraConfig, PeftModel, get_peft_model

from phi3ray.models.adapters import AdapterSet
from phi3ray.models.base import load_base_model
from phi3ray.models.row_lora import RowLora
from phi3ray.names import BASE_ADAPTER
from tests.support.random_adapters import make_random_adapters


def test_gathered_rows_match_peft_mixed_batch_logits(tiny_model_cfg, tmp_path):
    folders = make_random_adapters(tiny_model_cfg, tmp_path, ["r8"], rank=8)
    folders |= make_random_adapters(tiny_model_cfg, tmp_path / "b", ["r4"], rank=4)
    torch.manual_seed(5)  # a third adapter on two projections only: layers it does not target add nothing
    narrow = get_peft_model(load_base_model(tiny_model_cfg),
                            LoraConfig(r=2, lora_alpha=8, target_modules=["o_proj", "down_proj"], init_lora_weights=False))
    narrow.save_pretrained(tmp_path / "narrow")
    folders["narrow"] = str(tmp_path / "narrow")
    adapters = AdapterSet.load(tiny_model_cfg, folders, max_loaded=3)
    model = adapters.model
    names = ["r8", BASE_ADAPTER, "r4", "narrow", "r8", BASE_ADAPTER]
    ids = torch.randint(10, 4000, (len(names), 12), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = model(input_ids=ids, adapter_names=names).logits
        rows = RowLora(model)
        rows.refresh(adapters.loaded)
        rows.rows(names, ids.device)
        got = model(input_ids=ids).logits
        assert torch.allclose(got, expected, atol=1e-5, rtol=1e-4), (got - expected).abs().max()
        assert not torch.allclose(got[0], got[1], atol=1e-3)  # the adapters do change the answer
        assert torch.equal(model(input_ids=ids, adapter_names=names).logits, expected)  # peft's route still works
        rows.uninstall()
        assert "forward" not in vars(model.base_model.model.model.layers[0].self_attn.o_proj)


def test_a_dora_adapter_is_left_to_peft(tiny_model_cfg):
    dora = get_peft_model(load_base_model(tiny_model_cfg),
                          LoraConfig(r=4, target_modules=["o_proj"], use_dora=True, init_lora_weights=False))
    plain = get_peft_model(load_base_model(tiny_model_cfg), LoraConfig(r=4, target_modules=["o_proj"]))
    assert isinstance(dora, PeftModel) and not RowLora.supported(dora) and RowLora.supported(plain)
