"""Details of the real Phi-3 checkpoints that the tiny one does not have: pad == EOS in the hub's tokenizers,
Phi-3-medium's chat template without a system role."""

import json
import shutil
from pathlib import Path

import pytest

from phi3ray.config import ModelConfig
from phi3ray.data.chat_template import has_system_role, render, render_with_replies, template_messages
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
