"""AdapterSet: base + named adapters on one PeftModel, at most max_loaded resident, the rest loaded on demand."""

import json
from pathlib import Path

import pytest

from phi3ray.errors import AdapterRefusedError, ModelLoadError, UnknownAdapterError
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
    with pytest.raises(AdapterRefusedError, match="targets nope_proj, which this base does not have"):
        adapters.ensure("broken")


def _copy(folder: str, dest) -> str:
    import shutil

    shutil.copytree(folder, dest)
    return str(dest)


def test_adapters_that_do_not_fit_this_base_are_refused_naming_why(tiny_model_cfg, folders, tmp_path):
    """Another base (by its card, or by its shapes), another revision, a rank above max_lora_rank."""
    import torch
    from safetensors.torch import load_file, save_file

    adapters = AdapterSet.load(tiny_model_cfg, folders, max_loaded=2)
    adapters.max_rank = 4
    with pytest.raises(AdapterRefusedError, match="rank 8 is above this server's max_lora_rank 4"):
        adapters.prepare("a")
    adapters.max_rank = 0

    other_base = _copy(folders["a"], tmp_path / "other-base")
    card = {"base_model": {"name": "phi3-mini-128k", "name_or_path": "microsoft/Phi-3-mini-128k-instruct",
                           "revision": "abc"}}
    (Path(other_base) / "adapter_card.json").write_text(json.dumps(card))
    with pytest.raises(AdapterRefusedError, match=f"trained on phi3-mini-128k; this server serves {tiny_model_cfg.name}"):
        adapters.prepare("x", other_base)
    card["base_model"]["name"] = tiny_model_cfg.name
    (Path(other_base) / "adapter_card.json").write_text(json.dumps(card))
    adapters.base_revision = "def"
    with pytest.raises(AdapterRefusedError, match="trained on base revision abc; this server serves revision def"):
        adapters.prepare("x", other_base)

    wrong_shapes = _copy(folders["a"], tmp_path / "wrong-shapes")  # same names, a wider model's shapes
    weights = load_file(f"{wrong_shapes}/adapter_model.safetensors")
    save_file({k: torch.zeros(v.shape[0], v.shape[1] * 2) if "lora_A" in k else v for k, v in weights.items()},
              f"{wrong_shapes}/adapter_model.safetensors")
    adapters.configured["wide"] = wrong_shapes
    with pytest.raises(AdapterRefusedError, match="its weights do not fit this base"):
        adapters.ensure("wide")
    assert "wide" not in adapters.loaded and answer(adapters, "b")  # the set still serves


def test_a_prepared_adapter_installs_from_memory_on_the_models_thread(tiny_model_cfg, folders, tmp_path):
    """prepare (fetch, check, read) runs off the serving loop; ensure then only installs: no file is read."""
    import shutil

    roomy = AdapterSet.load(tiny_model_cfg, folders, max_loaded=3)
    expected = answer(roomy, "c")
    adapters = AdapterSet.load(tiny_model_cfg, {"a": folders["a"]}, max_loaded=2)
    moved = _copy(folders["c"], tmp_path / "c")
    adapters.configured["c"] = moved
    adapters.prepare("c")
    shutil.rmtree(moved)  # gone from disk: only the prepared copy in memory can serve it now
    assert answer(adapters, "c") == expected
    adapters.forget("c")
    with pytest.raises(UnknownAdapterError):
        adapters.ensure("c")


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


def test_a_prepare_that_finishes_after_the_name_changed_is_not_installed(tiny_model_cfg, folders, tmp_path):
    """prepare runs off the model's thread; a replace landing meanwhile (an adapter retrained to the same folder)
    wins: the old read is dropped, and the next use loads what the folder holds now."""
    import shutil

    roomy = AdapterSet.load(tiny_model_cfg, folders, max_loaded=3)
    expected_b = answer(roomy, "b")
    folder = _copy(folders["a"], tmp_path / "x")
    adapters = AdapterSet.load(tiny_model_cfg, {"x": folder}, max_loaded=2)
    adapters.replace("x", folder)  # x not resident now: its next use loads it
    checks = adapters._check_shapes

    def retrained_meanwhile(name, uri, weights):  # the model's thread acts while this prepare reads
        shutil.rmtree(folder)
        shutil.copytree(folders["b"], folder)
        adapters.replace("x", folder)
        return checks(name, uri, weights)

    adapters._check_shapes = retrained_meanwhile
    adapters.prepare("x")
    adapters._check_shapes = checks
    assert not adapters.prepared("x")  # the stale read was not kept
    assert answer(adapters, "x") == expected_b
