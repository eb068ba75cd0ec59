"""The tiny Phi-3: transformers' own Phi3ForCausalLM with small dimensions, for tests and the quick start.

Its config, tokenizer (Phi-3's special tokens and chat template) and a small chat-format corpus live
in ``phi3ray/assets/tiny-phi3`` (regenerate with ``scripts/make_tiny_assets.py``). The weights are not
committed: ``ensure_tiny_phi3`` makes them on first use, deterministically (fixed seed, a short
pre-training on the corpus so that answers end at ``<|end|>``), into a local folder that is then
loaded exactly like ``microsoft/Phi-3-mini-4k-instruct``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import torch
from filelock import FileLock
from tqdm.auto import tqdm

from phi3ray.errors import ModelLoadError
from phi3ray.storage import file_sha256

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


STAMP = "phi3ray-tiny.json"  # written last: the assets digest and the sha256 of every file it vouches for


def ensure_tiny_phi3(dest: str) -> str:
    """Make the tiny Phi-3 folder at dest unless a verified one is there; return dest. Safe across processes.

    The folder is made by one process, outside any torch.distributed group (transformers writes weights
    only on rank 0 once one is up), in a temporary folder; it must load and generate before it is stamped
    and moved into place. A stamped folder whose files do not match the stamp is rebuilt, with a warning.
    Ray Train workers only read it: the training driver makes it before any worker starts.
    """
    dest_path = Path(dest)
    digest = _assets_digest()
    if _problem(dest_path, digest) is None:
        return dest
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        raise ModelLoadError(
            dest, "the tiny Phi-3 is missing or incomplete and a distributed worker must not make it; "
            "make it first, in one process: python -m phi3ray.models.tiny"
        )
    dest_path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dest_path) + ".lock"):
        problem = _problem(dest_path, digest)
        if problem is None:
            return dest
        if dest_path.exists():
            logger.warning("rebuilding the tiny Phi-3 in %s: %s", dest, problem)
        tmp = Path(tempfile.mkdtemp(dir=dest_path.parent, prefix=".tiny-"))
        try:
            with _no_transformers_bars():  # our one pre-training bar, not "Writing model shards" / "Loading weights"
                _make(tmp)
                _check_generates(tmp)
            files = {p.name: file_sha256(p) for p in sorted(tmp.iterdir()) if p.is_file()}
            (tmp / STAMP).write_text(json.dumps({"digest": digest, "recipe": RECIPE_VERSION, "files": files}, indent=1))
            if dest_path.exists():
                shutil.rmtree(dest_path)
            os.replace(tmp, dest_path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


@contextlib.contextmanager
def _no_transformers_bars():
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _problem(folder: Path, digest: str) -> str | None:
    """Why folder is not a complete tiny Phi-3 of these assets, or None when every stamped file checks out."""
    stamp = folder / STAMP
    if not stamp.is_file():
        return "no stamp"
    try:
        recorded = json.loads(stamp.read_text())
    except ValueError:
        return "unreadable stamp"
    if recorded.get("digest") != digest:
        return "made from other assets or recipe"
    files = recorded.get("files") or {}
    if "model.safetensors" not in files:
        return "stamp vouches for no weights"
    for name, sha in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if file_sha256(path) != sha:
            return f"{name} does not match its stamp"
    return None


def _check_generates(folder: Path) -> None:
    """The folder loads as transformers would load it and greedily generates a few tokens."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (folder / "model.safetensors").is_file():
        raise ModelLoadError(str(folder), "the freshly made tiny Phi-3 has no model.safetensors")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "How often is the oil checked?"}],
        add_generation_prompt=True, return_tensors="pt", return_dict=True,
    )
    out = model.generate(**ids, max_new_tokens=4, do_sample=False)
    if out.shape[1] <= ids["input_ids"].shape[1]:
        raise ModelLoadError(str(folder), "the freshly made tiny Phi-3 generates nothing")


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
    bar = tqdm(range(PRETRAIN_STEPS), desc="making the tiny Phi-3 (once)", unit="step", mininterval=2.0)
    for step in bar:
        idx = torch.randint(0, n_blocks, (PRETRAIN_BATCH,), generator=generator)
        batch = blocks[idx]  # (B, T)
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 25 == 0 or step == PRETRAIN_STEPS - 1:
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    model.eval()


if __name__ == "__main__":
    # python -m phi3ray.models.tiny: make (or verify) the tiny Phi-3 of conf/model/tiny.yaml once, before any worker reads it.
    from phi3ray.config import load_config
    from phi3ray.storage import expand_path

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    print(ensure_tiny_phi3(expand_path(load_config("train", ["model=tiny"]).model.name_or_path)))
