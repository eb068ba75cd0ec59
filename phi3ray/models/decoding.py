"""Per-row decoding inside one batched generate: sampling settings, stop tokens and strings, visible text."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from transformers import LogitsProcessor, StoppingCriteria
from transformers.tokenization_utils_base import PreTrainedTokenizerBase


@dataclass
class Sampling:
    """Decoding settings of one request (temperature 0 = greedy)."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()  # the answer ends before the first of these strings
    seed: int | None = None  # seeds the torch RNG of the generate call this row runs in
    logit_bias: dict[int, float] = field(default_factory=dict)  # token id -> added to its logit (OpenAI's)

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


@dataclass
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # stop | length, or what interrupted the row (timeout | cancelled)


class RowText:
    """One row's answer as its tokens arrive: the decoded text, where it stops, and what may be shown yet.

    Text that could still turn into a stop string, or that ends in a partial UTF-8 character, is held
    back, so the pieces returned by `push` always add up to the final `text`.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, stop_ids: set[int], sampling: Sampling):
        self.tokenizer = tokenizer
        self.stop_ids = stop_ids
        self.sampling = sampling
        self.tokens: list[int] = []
        self.text = ""
        self.shown = 0  # characters of text already handed out
        self.finish_reason: str | None = None
        self.ended_by_token = False

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None

    @property
    def completion_tokens(self) -> int:
        return len(self.tokens) + (1 if self.ended_by_token else 0)

    def push(self, token: int) -> str:
        """Add the next generated token; return the newly visible text (may be empty)."""
        if self.finished:
            return ""
        if token in self.stop_ids:
            self.ended_by_token = True
            return self.finish("stop")
        self.tokens.append(token)
        full = self.tokenizer.decode(self.tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        cut = _first_stop(full, self.sampling.stop, since=max(0, self.shown - _longest(self.sampling.stop)))
        if cut is not None:
            self.text = full[:cut]
            return self.finish("stop")
        self.text = full
        if len(self.tokens) >= self.sampling.max_new_tokens:
            return self.finish("length")
        visible = len(full) - _held_back(full, self.sampling.stop)
        if full.endswith("\ufffd"):  # a multi-byte character is not complete yet
            visible = min(visible, len(full) - 1)
        return self._reveal(visible)

    def finish(self, reason: str) -> str:
        """End the row (if not ended yet) and return whatever text was still held back."""
        if self.finished:
            return ""
        self.finish_reason = reason
        return self._reveal(len(self.text))

    def _reveal(self, upto: int) -> str:
        if upto <= self.shown:
            return ""
        piece = self.text[self.shown : upto]
        self.shown = upto
        return piece

    def completion(self, prompt_tokens: int) -> Completion:
        return Completion(self.text, prompt_tokens, self.completion_tokens, self.finish_reason or "length")


def _longest(stop: tuple[str, ...]) -> int:
    return max((len(s) for s in stop), default=0)


def _first_stop(text: str, stop: tuple[str, ...], since: int) -> int | None:
    cuts = [i for i in (text.find(s, since) for s in stop if s) if i >= 0]
    return min(cuts) if cuts else None


def _held_back(text: str, stop: tuple[str, ...]) -> int:
    """Characters at the end of text that begin some stop string (they may still complete it)."""
    held = 0
    for s in stop:
        for k in range(min(len(s) - 1, len(text)), held, -1):
            if text.endswith(s[:k]):
                held = k
                break
    return held


MIN_TEMPERATURE = 1e-3


class RowSampling(LogitsProcessor):
    """Each row's own logit bias, temperature and top-p; greedy rows keep only their arg-max.

    With this processor one `generate(do_sample=True)` serves greedy and sampled rows together, and a
    greedy row picks exactly the token it would pick in a greedy generate of its own.
    """

    def __init__(self, samplings: list[Sampling], vocab_size: int, device: torch.device):
        rows = len(samplings)
        self.bias = None
        if any(s.logit_bias for s in samplings):
            self.bias = torch.zeros(rows, vocab_size, device=device)  # (B, V)
            for i, s in enumerate(samplings):
                for token, value in s.logit_bias.items():
                    self.bias[i, token] = value
        self.greedy = torch.tensor([s.greedy for s in samplings], device=device)  # (B,)
        # a temperature near 0 would turn the logits into inf and the probabilities into NaN: such a row is all but
        # greedy, and MIN_TEMPERATURE keeps it finite
        self.temperature = torch.tensor([[max(s.temperature, MIN_TEMPERATURE) if not s.greedy else 1.0]
                                         for s in samplings], device=device)
        self.top_p = torch.tensor([[s.top_p] for s in samplings], device=device)  # (B, 1)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.bias is not None:
            scores = scores + self.bias.to(scores.dtype)
        if bool(self.greedy.all()):
            return scores
        scores = scores / self.temperature
        if bool((self.top_p < 1.0).any()):
            ordered, order = scores.sort(dim=-1, descending=True)  # (B, V)
            probs = ordered.softmax(dim=-1)
            drop = probs.cumsum(dim=-1) - probs > self.top_p  # the best token is always kept
            scores = scores.scatter(-1, order, ordered.masked_fill(drop, float("-inf")))
        best = scores.argmax(dim=-1, keepdim=True)  # (B, 1)
        only_best = torch.full_like(scores, float("-inf")).scatter(-1, best, 0.0)
        return torch.where(self.greedy[:, None], only_best, scores)


class RowStops(StoppingCriteria):
    """Feeds each step's tokens to the rows' RowText, reports every step's new text, and ends rows.

    Args:
        on_step: called with one string per row after every decoding step (may be empty strings).
        interrupt: called for each unfinished row; a returned reason (e.g. "timeout") ends that row.
    """

    def __init__(
        self,
        rows: list[RowText],
        on_step: Callable[[list[str]], None] | None = None,
        interrupt: Callable[[int], str | None] | None = None,
    ):
        self.rows = rows
        self.on_step = on_step
        self.interrupt = interrupt

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        tokens = input_ids[:, -1].tolist()  # (B,)
        pieces = [row.push(token) for row, token in zip(self.rows, tokens)]
        if self.interrupt is not None:
            for i, row in enumerate(self.rows):
                reason = None if row.finished else self.interrupt(i)
                if reason is not None:
                    pieces[i] += row.finish(reason)
        if self.on_step is not None:
            self.on_step(pieces)
        return torch.tensor([row.finished for row in self.rows], device=input_ids.device)
