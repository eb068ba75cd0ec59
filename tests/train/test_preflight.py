"""The driver's preflight: the real Phi-3 sizes on the meta device, LoRA targets, chat template, combinations."""

import pytest
from transformers import Phi3Config

from phi3ray.data.readers import Example, ReadReport
from phi3ray.errors import ConfigValueError, DataErrors
from phi3ray.models.lora import check_targets
from phi3ray.train.preflight import check_chat_template, preflight
from tests.train.conftest import short_run

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no weights

ROW = [{"role": "user", "content": "Max flow of the VX-100?"}, {"role": "assistant", "content": "120 m3/h."}]
DATA = (ReadReport([Example(ROW, "train.jsonl:1")]), None)
# (overrides, refusal or None): the matrix of method x deepspeed x precision x device
MATRIX = [
    ([], None),
    (["deepspeed=zero3"], None),
    (["deepspeed=none"], None),
    (["method=qlora"], None),
    (["method=qlora", "deepspeed=zero3"], "QLoRA with ZeRO-3 needs GPU workers .*; set scaling.use_gpu=true"),
    (["method=qlora", "deepspeed=zero3", "scaling.use_gpu=true"], None),
    (["method=qlora", "deepspeed=zero3", "scaling.use_gpu=true", "method.quant_storage=uint8"],
     "quant_storage must equal method.compute_dtype"),
    (["training.precision=fp16"], "fp16 mixed precision needs GPU workers"),
    (["training.precision=fp16", "scaling.use_gpu=true"], None),
    (["method.target_modules=[q_proj,v_proj]"], "q_proj, v_proj not in Phi3ForCausalLM; its projections are "
                                                 "down_proj, gate_up_proj, o_proj, qkv_proj"),
]


@pytest.mark.parametrize("overrides,refusal", MATRIX, ids=[" ".join(o) or "defaults" for o, _ in MATRIX])
def test_preflight_accepts_exactly_the_combinations_that_run(tmp_path, overrides, refusal):
    def build():
        return short_run(tmp_path, "p", *overrides)

    if refusal is None:
        preflight(build(), DATA)
        return
    with pytest.raises(ConfigValueError, match=refusal) as info:
        preflight(build(), DATA)
    assert "\n" not in str(info.value)  # one line


def test_phi3_mini_sized_model_on_the_meta_device_has_the_fused_targets(tmp_path):
    """Phi-3-mini's own dimensions (3.8B parameters) cost nothing on the meta device."""
    import torch
    from transformers import AutoModelForCausalLM

    mini = Phi3Config(hidden_size=3072, intermediate_size=8192, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=32, vocab_size=32064)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(mini)
    assert 3.7e9 < sum(p.numel() for p in model.parameters()) < 3.9e9
    check_targets(model, short_run(tmp_path, "p").method)


def test_a_row_the_chat_template_cannot_render_is_refused_with_its_line(tmp_path, monkeypatch):
    cfg = short_run(tmp_path, "p")
    assert check_chat_template(cfg, DATA) == 1
    import phi3ray.data.chat_template as chat_template

    monkeypatch.setattr(chat_template, "END_TOKEN", "<|eot_id|>")  # a template that ends replies otherwise
    with pytest.raises(DataErrors, match="train.jsonl:1: the chat template does not render assistant turn 1"):
        check_chat_template(cfg, DATA)


def test_a_node_local_run_folder_is_refused_on_a_cluster_of_several_nodes(tmp_path):
    from phi3ray.train.driver import check_storage_reach

    local = short_run(tmp_path, "reach")
    check_storage_reach(local, nodes=1)  # one node: its own folder is everyone's
    with pytest.raises(ConfigValueError, match=r"run.storage_path=.*is a folder of this node, but the Ray cluster "
                                               r"has 3 nodes.*use s3://.*run.shared_storage=true"):
        check_storage_reach(local, nodes=3)
    check_storage_reach(short_run(tmp_path, "reach", "run.shared_storage=true"), nodes=3)  # NFS/EFS, say so
    bucket = short_run(tmp_path, "reach")
    bucket.run.storage_path = "s3://bucket/runs"
    check_storage_reach(bucket, nodes=3)
