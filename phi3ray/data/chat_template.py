"""Render conversations with the tokenizer's own chat template (Phi-3's) and find each assistant reply in the text.

``template_messages`` is the one place a conversation is fitted to the template: Phi-3-medium's template has
no system role and drops a system message without a word, so there the system prompt opens the first user turn.
Every renderer (training rows, evaluation and serving prompts, perplexity) goes through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from phi3ray.errors import DataFormatError
from phi3ray.names import END_TOKEN

if TYPE_CHECKING:  # free of transformers at import: phi3ray.rag.prompt (the Serve Ingress's) imports this module
    from transformers.tokenization_utils_base import PreTrainedTokenizerBase


_PROBE = "phi3ray-system-probe-7f3a"
_has_system_role: dict[str, bool] = {}  # chat template text -> whether it renders a system message


def has_system_role(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether the tokenizer's chat template writes a system message's content (a template may also refuse one)."""
    template = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else repr(tokenizer.chat_template)
    if template not in _has_system_role:
        probe = [{"role": "system", "content": _PROBE}, {"role": "user", "content": "x"}]
        try:
            _has_system_role[template] = _PROBE in tokenizer.apply_chat_template(probe, tokenize=False)
        except Exception:  # jinja's raise_exception("System role not supported") and the like
            _has_system_role[template] = False
    return _has_system_role[template]


def template_messages(tokenizer: PreTrainedTokenizerBase, messages: list[dict]) -> list[dict]:
    """messages as this template can take them: unchanged, or with a leading system message folded into the
    first user turn (system prompt, blank line, the user's text) where the template has no system role."""
    if not messages or messages[0].get("role") != "system" or has_system_role(tokenizer):
        return messages
    system, rest = messages[0]["content"], [dict(m) for m in messages[1:]]
    first_user = next((i for i, m in enumerate(rest) if m.get("role") == "user"), None)
    if first_user is None:
        return [{"role": "user", "content": system}, *rest]
    rest[first_user]["content"] = f"{system}\n\n{rest[first_user]['content']}"
    return rest


def render(tokenizer: PreTrainedTokenizerBase, messages: list[dict], *, generation_prompt: bool = False) -> str:
    """The text the model sees for messages, exactly as Phi-3's chat template writes it."""
    return tokenizer.apply_chat_template(
        template_messages(tokenizer, messages), tokenize=False, add_generation_prompt=generation_prompt
    )


def render_with_replies(
    tokenizer: PreTrainedTokenizerBase, messages: list[dict], source: str = "<row>"
) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character span of every assistant reply, its closing <|end|> included.

    A reply's span starts where the template's generation prompt (``<|assistant|>\\n``) ends, so that
    the spans hold exactly what the model has to produce at inference time.
    """
    text = render(tokenizer, messages)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = render(tokenizer, messages[:i], generation_prompt=True)
        reply = message["content"] + END_TOKEN
        if not text.startswith(prompt) or not text[len(prompt):].startswith(reply):
            path, _, line = source.rpartition(":")
            raise DataFormatError(
                path or source, int(line) if line.isdigit() else 0,
                f"the chat template does not render assistant turn {i} as '<|assistant|>\\n' + content + "
                f"'{END_TOKEN}' after its prompt; is this a Phi-3 tokenizer?",
            )
        spans.append((len(prompt), len(prompt) + len(reply)))
    return text, spans
