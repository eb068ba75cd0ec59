"""Chat generation with Phi-3: batched (one adapter per row via peft's mixed-adapter batches) and streamed."""

from __future__ import annotations

from collections.abc import Callable

import torch
from transformers import LogitsProcessorList, PreTrainedModel, StoppingCriteriaList
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from phi3ray.models.base import stop_token_ids
from phi3ray.models.decoding import Completion, RowSampling, RowStops, RowText, Sampling
from phi3ray.names import BASE_ADAPTER
from phi3ray.rag.prompt import ABSTAIN, encode_chat


__all__ = ["Completion", "Sampling", "declined_completion", "encode_chat", "generate_chat", "generate_tokens"]


def _is_peft(model: PreTrainedModel) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


@torch.inference_mode()
def generate_tokens(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[list[int]],
    samplings: list[Sampling],
    adapter_names: list[str] | None = None,
    on_step: Callable[[list[str]], None] | None = None,
    interrupt: Callable[[int], str | None] | None = None,
) -> list[Completion]:
    """Answer several tokenized prompts in one generate call, each row with its own adapter and sampling.

    Rows are left-padded and each greedy row picks its own arg-max, so a row's greedy answer equals the
    answer it gets alone. A row stops at <|end|>/EOS, at one of its stop strings or at its own
    max_new_tokens; the call ends when every row has.

    Args:
        adapter_names: one per row (BASE_ADAPTER = no adapter); None uses the model as it is (with a
            PeftModel: its active adapter).
        on_step: called after every decoding step with each row's newly visible text.
        interrupt: called per unfinished row and step; a returned reason ends the row with that finish_reason.
    """
    if adapter_names is not None and not _is_peft(model) and set(adapter_names) != {BASE_ADAPTER}:
        raise ValueError(f"adapters {sorted(set(adapter_names))} asked of a model without adapters")
    width = max(len(p) for p in prompts)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])  # (B, T)
    attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])  # (B, T)
    stops = stop_token_ids(tokenizer)
    rows = [RowText(tokenizer, set(stops), s) for s in samplings]
    sample = any(not s.greedy for s in samplings)
    kwargs = dict(
        max_new_tokens=max(s.max_new_tokens for s in samplings),
        eos_token_id=stops,
        pad_token_id=pad,
        do_sample=sample,
        temperature=1.0 if sample else None,
        top_p=1.0 if sample else None,
        top_k=0 if sample else None,
        logits_processor=LogitsProcessorList([RowSampling(samplings, _vocab_size(model), model.device)]),
        stopping_criteria=StoppingCriteriaList([RowStops(rows, on_step, interrupt)]),
    )
    if adapter_names is not None and _is_peft(model):
        kwargs["adapter_names"] = list(adapter_names)
    seeds = [s.seed for s in samplings if s.seed is not None]
    if seeds:
        torch.manual_seed(seeds[0])
    device = model.device
    model.generate(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device), **kwargs)
    for row in rows:  # rows the loop left without a verdict ran into the shared max_new_tokens
        row.finish("length")
    return [row.completion(len(p)) for row, p in zip(rows, prompts)]


def _vocab_size(model: PreTrainedModel) -> int:
    return model.get_output_embeddings().weight.shape[0]


def generate_chat(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    conversations: list[list[dict]],
    samplings: list[Sampling],
    adapter_names: list[str] | None = None,
) -> list[Completion]:
    """Answer several conversations in one generate call; row i uses adapter_names[i] (BASE_ADAPTER = none).

    Each row keeps its own sampling settings (greedy and sampled rows may share a call); a seed, if
    any row has one, seeds the whole call. See generate_tokens.
    """
    prompts = [encode_chat(tokenizer, conv) for conv in conversations]
    return generate_tokens(model, tokenizer, prompts, samplings, adapter_names)


def declined_completion(tokenizer: PreTrainedTokenizerBase, prompt_tokens: int, sampling: Sampling) -> Completion:
    """The answer to a RAG prompt without sources (rag.prompt.declines), the model not run: prompt.ABSTAIN, held to
    sampling as a generated answer is: it ends before the first stop string, or after max_new_tokens tokens."""
    cuts = [ABSTAIN.index(stop) for stop in sampling.stop if stop and stop in ABSTAIN]
    text = ABSTAIN[: min(cuts)] if cuts else ABSTAIN
    ids = tokenizer(text, add_special_tokens=False).input_ids
    if len(ids) > sampling.max_new_tokens:
        ids = ids[: sampling.max_new_tokens]
        return Completion(tokenizer.decode(ids), prompt_tokens, len(ids), "length")
    return Completion(text, prompt_tokens, len(ids), "stop")
