"""A small LoRA adapter for the tiny Phi-3, trained here with peft on the sample training rows (seconds)."""

import json
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model

from phi3ray.models.base import load_base_model, load_tokenizer
from phi3ray.names import LORA_TARGETS

ROOT = Path(__file__).resolve().parents[2]
STEPS = 40  # optimizer steps
BATCH = 8  # conversations per step
ROWS = 160  # sample training rows used


def _tokenize(tokenizer, messages: list[dict]) -> tuple[list[int], list[int]]:
    """The whole conversation; labels only on the last assistant turn (the rest is -100)."""
    prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=True, return_dict=False)
    full = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False)
    return full, [-100] * len(prompt) + full[len(prompt):]


@pytest.fixture(scope="session")
def trained_adapter(tiny_model_cfg, tmp_path_factory) -> str:
    """Folder of a peft LoRA adapter (r=8 on all Phi-3 projections) after STEPS steps on data/pumps/train.jsonl."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on 2 shared cores, a second thread makes the tiny model ~10x slower
    tokenizer = load_tokenizer(tiny_model_cfg)
    model = get_peft_model(
        load_base_model(tiny_model_cfg),
        LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, task_type="CAUSAL_LM",
                   target_modules=list(LORA_TARGETS)),
    )
    lines = (ROOT / "data/pumps/train.jsonl").read_text().splitlines()[:ROWS]
    rows = [_tokenize(tokenizer, json.loads(line)["messages"]) for line in lines]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    model.train()
    for step in range(STEPS):
        batch = [rows[(step * BATCH + i) % len(rows)] for i in range(BATCH)]
        width = max(len(ids) for ids, _ in batch)
        ids = torch.tensor([ids + [tokenizer.pad_token_id] * (width - len(ids)) for ids, _ in batch])  # (B, T)
        labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in batch])  # (B, T)
        mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in batch])  # (B, T)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    torch.set_num_threads(threads)
    out = tmp_path_factory.mktemp("adapter") / "pumps"
    model.save_pretrained(out)
    return str(out)
