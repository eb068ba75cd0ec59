"""Chat generation with Phi-3: batched (one adapter per row via peft's mixed-adapter batches) and streamed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, TextIteratorStreamer
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from phi3ray.models.base import stop_token_ids

BASE_ADAPTER = "__base__"  # peft's name for "no adapter" inside a mixed batch


@dataclass
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # stop | length


@dataclass
class Sampling:
    """Decoding settings of one request (temperature 0 = greedy)."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None


def encode_chat(tokenizer: PreTrainedTokenizerBase, messages: list[dict]) -> list[int]:
    """Phi-3 chat template with the assistant prompt appended."""
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)


def _generate_kwargs(tokenizer, sampling: Sampling) -> dict:
    kwargs = dict(
        max_new_tokens=sampling.max_new_tokens,
        eos_token_id=stop_token_ids(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        do_sample=sampling.temperature > 0,
    )
    if sampling.temperature > 0:
        kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p)
    else:
        kwargs.update(temperature=None, top_p=None, top_k=None)
    return kwargs


def _is_peft(model: PreTrainedModel) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def _cut_at_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    cuts = [text.index(s) for s in stop if s and s in text]
    return (text[: min(cuts)], True) if cuts else (text, False)


@torch.inference_mode()
def generate_chat(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    conversations: list[list[dict]],
    samplings: list[Sampling],
    adapter_names: list[str] | None = None,
) -> list[Completion]:
    """Answer several conversations in one generate call; row i uses adapter_names[i] (BASE_ADAPTER = none).

    Rows are left-padded, so each row's greedy answer equals the answer it gets alone. Rows with
    different sampling settings should be grouped by the caller; max_new_tokens may differ per row.
    """
    prompts = [encode_chat(tokenizer, conv) for conv in conversations]
    width = max(len(p) for p in prompts)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])  # (B, T)
    attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])  # (B, T)
    first = samplings[0]
    kwargs = _generate_kwargs(tokenizer, first)
    kwargs["max_new_tokens"] = max(s.max_new_tokens for s in samplings)
    if adapter_names is not None and _is_peft(model):
        kwargs["adapter_names"] = adapter_names
    elif adapter_names is not None and set(adapter_names) != {BASE_ADAPTER}:
        raise ValueError(f"adapters {sorted(set(adapter_names))} asked of a model without adapters")
    if first.seed is not None:
        torch.manual_seed(first.seed)
    device = model.device
    out = model.generate(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device), **kwargs)
    new_tokens = out[:, width:].tolist()  # (B, new)
    stops = set(kwargs["eos_token_id"])
    results = []
    for prompt, tokens, sampling in zip(prompts, new_tokens, samplings):
        tokens = tokens[: sampling.max_new_tokens]
        ended = next((i for i, t in enumerate(tokens) if t in stops), None)
        body = tokens if ended is None else tokens[:ended]
        text, stopped = _cut_at_stop(tokenizer.decode(body, skip_special_tokens=True), sampling.stop)
        finish = "stop" if ended is not None or stopped else "length"
        used = len(body) + (1 if ended is not None else 0)
        results.append(Completion(text, len(prompt), used, finish))
    return results


def stream_chat(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    messages: list[dict],
    sampling: Sampling,
    adapter_name: str | None = None,
) -> Iterator[str]:
    """Yield the answer's text as it is generated, with the given adapter (None = base)."""
    prompt = encode_chat(tokenizer, messages)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    kwargs = _generate_kwargs(tokenizer, sampling)
    if adapter_name is not None and adapter_name != BASE_ADAPTER:
        kwargs["adapter_names"] = [adapter_name]
    elif _is_peft(model):
        kwargs["adapter_names"] = [BASE_ADAPTER]
    if sampling.seed is not None:
        torch.manual_seed(sampling.seed)
    input_ids = torch.tensor([prompt], device=model.device)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with torch.inference_mode():
                model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), streamer=streamer, **kwargs)
        except BaseException as err:  # surfaced to the consumer below
            errors.append(err)
            streamer.end()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    emitted = ""
    for piece in streamer:
        candidate = emitted + piece
        cut, stopped = _cut_at_stop(candidate, sampling.stop)
        if cut[len(emitted):]:
            yield cut[len(emitted):]
        emitted = cut
        if stopped:
            break
    thread.join()
    if errors:
        raise errors[0]
