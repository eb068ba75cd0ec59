"""Details of the real Phi-3 checkpoints that the tiny one does not have: pad == EOS in the hub's tokenizers,
Phi-3-medium's chat template without a system role, hub revisions that move."""

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from phi3ray.config import ModelConfig
from phi3ray.data.chat_template import has_system_role, render, render_with_replies, template_messages
from phi3ray.errors import ConfigValueError
from phi3ray.models.adapters import pin_revision
from phi3ray.models.base import load_tokenizer, model_path
from phi3ray.rag.prompt import encode_chat

# microsoft/Phi-3-medium-4k-instruct's chat_template: user and assistant turns only, a system message vanishes
MEDIUM_TEMPLATE = (
    "{% for message in messages %}{% if (message['role'] == 'user') %}"
    "{{'<|user|>' + '\n' + message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}"
    "{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + '\n'}}{% endif %}{% endfor %}"
)
SYSTEM = "Answer from the pump manuals only."
CHAT = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Max flow of the VX-100?"},
        {"role": "assistant", "content": "120 m3/h."}]


def tokenizer_copy(tiny_model_cfg, tmp_path: Path, **config_changes) -> ModelConfig:
    """The tiny tokenizer in a folder of its own, tokenizer_config.json changed as given."""
    folder = tmp_path / "tok"
    shutil.copytree(model_path(tiny_model_cfg), folder)
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    config.update(config_changes)
    config_file.write_text(json.dumps(config))
    return ModelConfig(name="copy", name_or_path=str(folder))


@pytest.mark.fast
def test_pad_token_equal_to_eos_is_replaced(tiny_model_cfg, tmp_path):
    cfg = tokenizer_copy(tiny_model_cfg, tmp_path, pad_token="<|endoftext|>")  # as the hub's Phi-3 tokenizers ship
    tokenizer = load_tokenizer(cfg)
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert tokenizer.pad_token == tokenizer.unk_token == "<unk>"


@pytest.mark.fast
def test_system_prompt_opens_the_first_user_turn_where_the_template_has_no_system_role(tiny_model_cfg):
    tokenizer = load_tokenizer(tiny_model_cfg)
    assert has_system_role(tokenizer)
    assert template_messages(tokenizer, CHAT) is CHAT  # the tiny (mini) template writes <|system|>
    tokenizer.chat_template = MEDIUM_TEMPLATE
    assert not has_system_role(tokenizer)
    assert SYSTEM not in tokenizer.apply_chat_template(CHAT, tokenize=False)  # the template alone drops it
    text = render(tokenizer, CHAT[:2], generation_prompt=True)
    assert text == f"<|user|>\n{SYSTEM}\n\nMax flow of the VX-100?<|end|>\n<|assistant|>\n"
    assert tokenizer.decode(encode_chat(tokenizer, CHAT[:2])) .startswith(f"<|user|>\n{SYSTEM}")  # eval/serving
    full, spans = render_with_replies(tokenizer, CHAT)  # training rows: the reply is still found
    assert SYSTEM in full and full[spans[0][0]:spans[0][1]] == "120 m3/h.<|end|>"
    assert template_messages(tokenizer, CHAT[:1]) == [{"role": "user", "content": SYSTEM}]


def adapter_with_card(root: Path, name: str, revision: str | None) -> str:
    folder = root / name
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{}")
    (folder / "adapter_card.json").write_text(json.dumps({"base_model": {"name_or_path": "x", "revision": revision}}))
    return str(folder)


@pytest.mark.fast
def test_the_base_loads_at_the_revision_the_adapters_were_trained_on(tmp_path):
    base = ModelConfig(name="m", name_or_path="microsoft/Phi-3-mini-4k-instruct")
    a, b = adapter_with_card(tmp_path, "a", "c0ffee"), adapter_with_card(tmp_path, "b", "c0ffee")
    assert pin_revision(base, {"a": a, "b": b}).revision == "c0ffee"
    assert pin_revision(base, {"a": adapter_with_card(tmp_path, "local", None)}).revision is None
    with pytest.raises(ConfigValueError, match="trained on different base revisions \\(a: c0ffee, z: beef\\)"):
        pin_revision(base, {"a": a, "z": adapter_with_card(tmp_path, "z", "beef")})
    with pytest.raises(ConfigValueError, match="adapter 'a' was trained on revision 'c0ffee'; set model.revision=c0ffee"):
        pin_revision(dataclasses.replace(base, revision="main"), {"a": a})


@pytest.mark.fast
def test_evaluation_and_serving_load_the_pinned_revision(tmp_path, monkeypatch):
    """AdapterSet.load (the Generator's and the evaluation actors' loader) passes the pinned revision on."""
    import phi3ray.models.adapters as adapters

    seen = {}

    def load_base_model(cfg, method=None, device_map=None):
        seen["revision"] = cfg.revision
        raise RuntimeError("stop here")

    monkeypatch.setattr(adapters, "load_base_model", load_base_model)
    base = ModelConfig(name="m", name_or_path="microsoft/Phi-3-mini-4k-instruct")
    with pytest.raises(RuntimeError, match="stop here"):
        adapters.AdapterSet.load(base, {"a": adapter_with_card(tmp_path, "a", "c0ffee")})
    assert seen == {"revision": "c0ffee"}
