"""Render conversations with the tokenizer's own chat template (Phi-3's) and find each assistant reply in the text."""

from __future__ import annotations

from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from phi3ray.errors import DataFormatError
from phi3ray.names import END_TOKEN


def render(tokenizer: PreTrainedTokenizerBase, messages: list[dict], *, generation_prompt: bool = False) -> str:
    """The text the model sees for messages, exactly as Phi-3's chat template writes it."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


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
