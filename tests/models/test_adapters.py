"""AdapterSet: base + named adapters on one PeftModel, at most max_loaded resident, the rest loaded on demand."""

import json

import pytest

from phi3ray.errors import ModelLoadError, UnknownAdapterError
from phi3ray.models.adapters import AdapterSet, fetch_adapter
from phi3ray.models.generation import Sampling, generate_chat
from phi3ray.names import BASE_ADAPTER
from tests.support.random_adapters import make_random_adapters

CHAT = [{"role": "user", "content": "How do I replace the seal of the VX-220?"}]
GREEDY = Sampling(max_new_tokens=16)


@pytest.fixture(scope="module")
def folders(tiny_model_cfg, tmp_path_factory) -> dict[str, str]:
    return make_random_adapters(tiny_model_cfg, tmp_path_factory.mktemp("lru-adapters"), ["a", "b", "c"])


def answer(adapters: AdapterSet, name: str) -> str:
    adapters.ensure(name)
    return generate_chat(adapters.model, adapters.tokenizer, [CHAT], [GREEDY], [name])[0].text


def test_lru_keeps_max_loaded_and_reloads_on_demand_with_the_same_answers(tiny_model_cfg, folders):
    roomy = AdapterSet.load(tiny_model_cfg, folders, max_loaded=3)
    expected = {name: answer(roomy, name) for name in ("a", "b", "c", BASE_ADAPTER)}
    assert len(set(expected.values())) == 4

    tight = AdapterSet.load(tiny_model_cfg, folders, max_loaded=1)
    assert tight.loaded == ["a"] and tight.loads == 1
    for name in ("b", "a", "c", "c", "a"):
        assert answer(tight, name) == expected[name]
        assert tight.loaded == [name]
    assert tight.loads == 5  # b, a, c, a reloaded (c twice in a row stays resident)
    assert answer(tight, BASE_ADAPTER) == expected[BASE_ADAPTER]
    assert sorted(tight.model.peft_config) == ["a"]  # evicted adapters are really gone from the model


def test_ensure_all_keeps_a_batch_resident(tiny_model_cfg, folders):
    adapters = AdapterSet.load(tiny_model_cfg, folders, max_loaded=2)
    adapters.ensure_all(["c", BASE_ADAPTER, "a", "c"])
    assert sorted(adapters.loaded) == ["a", "c"]
    with pytest.raises(ValueError, match="3 adapters in one batch, but at most 2"):
        adapters.ensure_all(["a", "b", "c"])


def test_unknown_names_and_bad_folders_are_clear_errors(tiny_model_cfg, folders, tmp_path):
    adapters = AdapterSet.load(tiny_model_cfg, folders, max_loaded=1)
    with pytest.raises(UnknownAdapterError, match="unknown model 'nope'; available: a, b, c"):
        adapters.ensure("nope")
    with pytest.raises(ModelLoadError, match="no adapter_config.json"):
        fetch_adapter(str(tmp_path))
    with pytest.raises(ModelLoadError, match="cannot download adapter"):  # pyarrow's ArrowInvalid, not an OSError
        fetch_adapter("nosuchscheme://bucket/adapter")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "adapter_config.json").write_text(
        json.dumps({"peft_type": "LORA", "r": 4, "target_modules": ["nope_proj"]})
    )
    adapters.configured["broken"] = str(broken)
    with pytest.raises(ModelLoadError, match="does not fit this base model"):
        adapters.ensure("broken")


def test_a_4bit_base_serves_mixed_adapter_batches(tiny_model_cfg, folders):
    from bitsandbytes.nn import Linear4bit

    from phi3ray.config import MethodConfig

    adapters = AdapterSet.load(
        tiny_model_cfg, folders, max_loaded=2, method=MethodConfig(name="qlora", load_in_4bit=True)
    )
    assert isinstance(adapters.model.base_model.model.model.layers[0].self_attn.qkv_proj.base_layer, Linear4bit)
    alone = [answer(adapters, name) for name in ("a", BASE_ADAPTER)]
    together = generate_chat(adapters.model, adapters.tokenizer, [CHAT, CHAT], [GREEDY, GREEDY], ["a", BASE_ADAPTER])
    assert [c.text for c in together] == alone and alone[0] != alone[1]
