"""Teacher-forced log-likelihood of the reference answer given a variant's prompt (loss on answer tokens only)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from phi3ray.data.chat_template import template_messages
from phi3ray.models.generation import encode_chat
from phi3ray.names import END_TOKEN


def answer_token_ids(tokenizer: PreTrainedTokenizerBase, messages: list[dict], answer: str) -> tuple[list[int], int]:
    """(prompt + answer ids, number of answer tokens): the chat template renders the answer as the
    assistant's turn; the answer tokens are those after the generation prompt, up to <|end|>."""
    prompt = encode_chat(tokenizer, messages)
    full = tokenizer.apply_chat_template(
        template_messages(tokenizer, messages + [{"role": "assistant", "content": answer}]), tokenize=True,
        return_dict=False,
    )
    start = 0
    while start < min(len(prompt), len(full)) and prompt[start] == full[start]:
        start += 1
    end_id = tokenizer.convert_tokens_to_ids(END_TOKEN)
    stop = next((i for i in range(start, len(full)) if full[i] == end_id), len(full))
    return full[:stop], stop - start


@torch.inference_mode()
def reference_nll(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    conversations: Sequence[list[dict]],
    answers: Sequence[str],
    adapter_names: Sequence[str] | None = None,
) -> list[tuple[float, int]]:
    """Per row: (sum of -log p over the answer's tokens, number of answer tokens), one forward pass.

    Rows are left-padded so every answer ends at the last position; only the last K+1 positions'
    logits are computed (K = the longest answer), which keeps memory small for a 32k vocabulary.
    """
    rows = [answer_token_ids(tokenizer, conv, answer) for conv, answer in zip(conversations, answers)]
    width = max(len(ids) for ids, _ in rows)
    longest = max(1, max(n for _, n in rows))
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids, _ in rows])  # (B, T)
    attention_mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids, _ in rows])  # (B, T)
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)  # (B, T): as if each row were alone
    kwargs = {"adapter_names": list(adapter_names)} if adapter_names is not None and _is_peft(model) else {}
    device = model.device
    logits = model(
        input_ids=input_ids.to(device),
        attention_mask=attention_mask.to(device),
        position_ids=position_ids.to(device),
        logits_to_keep=longest + 1,
        **kwargs,
    ).logits  # (B, K+1, V)
    targets = input_ids[:, width - longest :].to(device)  # (B, K)
    nll = F.cross_entropy(logits[:, :-1].float().transpose(1, 2), targets, reduction="none")  # (B, K)
    results = []
    for row, (_, n) in enumerate(rows):
        results.append((float(nll[row, longest - n :].sum()) if n else 0.0, n))
    return results


def _is_peft(model: PreTrainedModel) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)
