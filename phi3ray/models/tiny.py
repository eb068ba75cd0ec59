"""The tiny Phi-3: transformers' own Phi3ForCausalLM with small dimensions, for tests and the quick start.

Its config, tokenizer (Phi-3's special tokens and chat template) and a small chat-format corpus live
in ``phi3ray/assets/tiny-phi3`` (regenerate with ``scripts/make_tiny_assets.py``). The weights are not
committed: ``ensure_tiny_phi3`` makes them on first use, deterministically (fixed seed, a short
pre-training on the corpus so that answers end at ``<|end|>``), into a local folder that is then
loaded exactly like ``microsoft/Phi-3-mini-4k-instruct``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import torch
from filelock import FileLock

logger = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "tiny-phi3"
RECIPE_VERSION = 1  # bump when the pre-training recipe below changes
PRETRAIN_STEPS = 300  # optimizer steps of the first-use pre-training
PRETRAIN_BLOCK = 128  # tokens per training sequence
PRETRAIN_BATCH = 16  # sequences per step
PRETRAIN_LR = 3e-3

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>", "<|user|>"]
# Phi-3-mini-4k-instruct's chat template (tokenizer_config.json, June 2024 update).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)
TINY_DIMS = dict(
    hidden_size=128,  # d_model
    intermediate_size=384,  # MLP width (gate_up_proj is 2x this)
    num_hidden_layers=4,
    num_attention_heads=4,  # head dim 32
    num_key_value_heads=4,
    max_position_embeddings=1024,
    original_max_position_embeddings=1024,
)


def build_tokenizer(texts: list[str], vocab_size: int = 4096):
    """Train a byte-level BPE on texts and wrap it with Phi-3's special tokens and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="<|endoftext|>",
        unk_token="<unk>",
        pad_token="<unk>",  # Phi-3 pads with <unk> (id 0); never EOS, so EOS keeps its loss
        model_max_length=TINY_DIMS["max_position_embeddings"],
        padding_side="left",
        chat_template=CHAT_TEMPLATE,
    )
    return tokenizer


def tiny_config(tokenizer):
    """A Phi3Config with TINY_DIMS and the tokenizer's special ids."""
    from transformers import Phi3Config

    return Phi3Config(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        sliding_window=None,
        rope_scaling=None,
        **TINY_DIMS,
    )


def _assets_digest() -> str:
    digest = hashlib.sha256(f"recipe={RECIPE_VERSION}".encode())
    for path in sorted(ASSETS.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def ensure_tiny_phi3(dest: str) -> str:
    """Make the tiny Phi-3 folder at dest if it is missing or stale; return dest. Safe across processes."""
    dest_path = Path(dest)
    stamp = dest_path / "phi3ray-tiny.json"
    digest = _assets_digest()
    dest_path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dest_path) + ".lock"):
        if stamp.exists() and json.loads(stamp.read_text()).get("digest") == digest:
            return dest
        logger.info("making the tiny Phi-3 in %s (once)", dest)
        tmp = Path(tempfile.mkdtemp(dir=dest_path.parent, prefix=".tiny-"))
        _make(tmp)
        (tmp / stamp.name).write_text(json.dumps({"digest": digest, "recipe": RECIPE_VERSION}))
        if dest_path.exists():
            shutil.rmtree(dest_path)
        os.replace(tmp, dest_path)
    return dest


def _make(out: Path) -> None:
    from transformers import AutoTokenizer, GenerationConfig, Phi3ForCausalLM

    for name in os.listdir(ASSETS):
        if name != "pretrain.jsonl":
            shutil.copy(ASSETS / name, out / name)
    tokenizer = AutoTokenizer.from_pretrained(out)
    config = tiny_config(tokenizer)
    torch.manual_seed(0)
    model = Phi3ForCausalLM(config)
    _pretrain(model, tokenizer)
    end_id = tokenizer.convert_tokens_to_ids("<|end|>")
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=[tokenizer.eos_token_id, end_id],
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(out)


def _pretrain(model, tokenizer) -> None:
    """A few hundred steps of next-token prediction on chat-format rows, so answers end at <|end|>."""
    rows = [json.loads(line) for line in (ASSETS / "pretrain.jsonl").read_text().splitlines() if line.strip()]
    stream: list[int] = []
    for row in rows:
        stream += tokenizer.apply_chat_template(row["messages"], tokenize=True, return_dict=False)
    n_blocks = len(stream) // PRETRAIN_BLOCK
    blocks = torch.tensor(stream[: n_blocks * PRETRAIN_BLOCK]).view(n_blocks, PRETRAIN_BLOCK)  # (N, T)
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=PRETRAIN_LR, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, PRETRAIN_LR, total_steps=PRETRAIN_STEPS)
    model.train()
    for step in range(PRETRAIN_STEPS):
        idx = torch.randint(0, n_blocks, (PRETRAIN_BATCH,), generator=generator)
        batch = blocks[idx]  # (B, T)
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 50 == 0 or step == PRETRAIN_STEPS - 1:
            logger.info("tiny pre-training step %d/%d loss %.3f", step + 1, PRETRAIN_STEPS, loss.item())
    model.eval()
