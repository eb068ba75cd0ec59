"""Tokenize conversations with loss only on the assistant's tokens, and fit them to max_seq_len.

Labels are the input ids on every token of an assistant reply (its ``<|end|>`` included) and -100
everywhere else: system prompt, user turns, the ``<|assistant|>`` headers, newlines between turns and
the final EOS. Examples longer than max_seq_len are truncated or dropped, and counted either way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from phi3ray.data.chat_template import render_with_replies
from phi3ray.data.readers import Example

logger = logging.getLogger(__name__)

IGNORE = -100  # label of tokens the loss skips (PyTorch cross-entropy's ignore_index)


@dataclass
class Tokenized:
    input_ids: list[int]
    labels: list[int]  # input id where the assistant speaks, IGNORE elsewhere
    source: str  # "path:line"


@dataclass
class TokenStats:
    examples: int = 0  # examples kept
    truncated: int = 0  # cut to max_seq_len (data.overflow=truncate)
    dropped: int = 0  # longer than max_seq_len (data.overflow=drop) or nothing left to learn after the cut
    tokens: int = 0  # tokens kept
    trained_tokens: int = 0  # tokens with a label

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


def tokenize_example(tokenizer: PreTrainedTokenizerBase, example: Example) -> Tokenized:
    """Token ids of the rendered conversation, labelled only inside assistant replies."""
    text, spans = render_with_replies(tokenizer, example.messages, example.source)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
    labels = [IGNORE] * len(ids)
    span = 0
    for t, (start, end) in enumerate(offsets):
        while span < len(spans) and spans[span][1] <= start:
            span += 1
        if span < len(spans) and start < spans[span][1] and end > spans[span][0]:
            labels[t] = ids[t]
    return Tokenized(ids, labels, example.source)


def fit_length(row: Tokenized, max_len: int, overflow: str) -> tuple[Tokenized | None, str]:
    """(row, "kept") | (cut row, "truncated") | (None, "dropped")."""
    if len(row.input_ids) <= max_len:
        return row, "kept"
    if overflow == "drop":
        return None, "dropped"
    cut = Tokenized(row.input_ids[:max_len], row.labels[:max_len], row.source)
    if all(label == IGNORE for label in cut.labels):
        return None, "dropped"  # the prompt alone fills max_seq_len: nothing to learn
    return cut, "truncated"


def tokenize_examples(
    tokenizer: PreTrainedTokenizerBase, examples: list[Example], max_len: int, overflow: str
) -> tuple[list[Tokenized], TokenStats]:
    """Tokenize, mask and fit every example; count what was truncated or dropped."""
    fitted = (fit_length(tokenize_example(tokenizer, example), max_len, overflow) for example in examples)
    return count_fitted(fitted, max_len, overflow)


def count_fitted(
    fitted: Iterable[tuple[Tokenized | None, str]], max_len: int, overflow: str
) -> tuple[list[Tokenized], TokenStats]:
    """The kept rows of fit_length's results, in order, and the counts (shared by phi3ray.train.sequences)."""
    rows, stats = [], TokenStats()
    for row, what in fitted:
        if row is None:
            stats.dropped += 1
            continue
        stats.truncated += what == "truncated"
        stats.examples += 1
        stats.tokens += len(row.input_ids)
        stats.trained_tokens += sum(label != IGNORE for label in row.labels)
        rows.append(row)
    if stats.truncated or stats.dropped:
        logger.info(
            "max_seq_len=%d: %d example(s) truncated, %d dropped (data.overflow=%s)",
            max_len, stats.truncated, stats.dropped, overflow,
        )
    return rows, stats
