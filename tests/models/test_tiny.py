"""The tiny Phi-3 is a real Phi3ForCausalLM, loaded by the common loader, with Phi-3's tokens and template."""

import json

import pytest
import torch
from transformers import Phi3ForCausalLM

from phi3ray.models.base import load_base_model, load_tokenizer, stop_token_ids
from phi3ray.models.generation import Sampling, generate_chat
from phi3ray.models.tiny import ASSETS, CHAT_TEMPLATE

PHI3_SPECIALS = ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|endoftext|>"]


def test_the_model_ships_whole_in_the_package_under_10_mb_without_pump_text():
    names = {p.name for p in ASSETS.iterdir()}
    assert {"tokenizer.json", "tokenizer_config.json", "config.json", "model.safetensors", "generation_config.json"} <= names
    assert sum(p.stat().st_size for p in ASSETS.iterdir()) <= 10 * 2**20
    assert "pretrain.jsonl" not in names  # its pre-training text is made by phi3ray.models.reading, about nothing pump


def test_tokenizer_has_phi3_special_tokens_and_chat_template(tiny_model_cfg):
    tokenizer = load_tokenizer(tiny_model_cfg)
    for token in PHI3_SPECIALS:
        ids = tokenizer.encode(token, add_special_tokens=False)
        assert len(ids) == 1 and tokenizer.convert_ids_to_tokens(ids[0]) == token
    assert tokenizer.eos_token == "<|endoftext|>"
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    text = tokenizer.apply_chat_template(
        [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}],
        tokenize=False,
    )
    assert text == "<|system|>\nS<|end|>\n<|user|>\nQ<|end|>\n<|assistant|>\nA<|end|>\n<|endoftext|>"
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Q"}], tokenize=False, add_generation_prompt=True)
    assert prompt == "<|user|>\nQ<|end|>\n<|assistant|>\n"
    assert tokenizer.chat_template == CHAT_TEMPLATE


def test_loads_through_the_common_loader_as_transformers_phi3(tiny_model_cfg):
    model = load_base_model(tiny_model_cfg)
    assert type(model) is Phi3ForCausalLM
    assert model.config.model_type == "phi3"
    assert model.dtype == torch.float32
    # the fused projections that LoRA targets exist, as in the real Phi-3
    names = {n.split(".")[-1] for n, _ in model.named_modules()}
    assert {"qkv_proj", "o_proj", "gate_up_proj", "down_proj"} <= names


def test_weights_are_deterministic(tiny_model_cfg):
    from safetensors.torch import load_file

    folder = tiny_model_cfg.name_or_path
    stamp = json.loads(open(f"{folder}/phi3ray-tiny.json").read())
    weights = load_file(f"{folder}/model.safetensors")
    # fixed seed + fixed recipe: the embedding checksum is stable for a given asset digest
    assert stamp["recipe"] >= 1
    assert torch.isfinite(weights["model.embed_tokens.weight"]).all()


def test_generates_text_that_ends_at_end_token(tiny_model_cfg):
    model = load_base_model(tiny_model_cfg)
    tokenizer = load_tokenizer(tiny_model_cfg)
    end_id = tokenizer.convert_tokens_to_ids("<|end|>")
    assert end_id in stop_token_ids(tokenizer)
    conversations = [
        [{"role": "user", "content": "What is the rated speed of the VX-220?"}],
        [{"role": "user", "content": "Explain fault code E07 of the AquiDrive AD-7."}],
    ]
    out = generate_chat(model, tokenizer, conversations, [Sampling(max_new_tokens=200)] * 2)
    for completion in out:
        assert completion.finish_reason == "stop", completion
        assert completion.text.strip() and "<|end|>" not in completion.text
    # and the raw generation really emitted <|end|> as the last token
    ids = tokenizer.apply_chat_template(conversations[0], add_generation_prompt=True, tokenize=True, return_dict=False)
    raw = model.generate(torch.tensor([ids]), max_new_tokens=200, do_sample=False)
    assert raw[0, -1].item() in stop_token_ids(tokenizer)


def _copy_of(tiny_model_cfg, tmp_path):
    import shutil

    from phi3ray.models.base import model_path

    dest = tmp_path / "tiny-phi3"
    shutil.copytree(model_path(tiny_model_cfg), dest)
    return dest


def test_a_verified_folder_is_used_as_it_is(tiny_model_cfg, tmp_path):
    from phi3ray.models import tiny

    dest = _copy_of(tiny_model_cfg, tmp_path)
    before = (dest / "model.safetensors").stat().st_mtime_ns
    assert tiny._problem(dest, tiny._assets_digest()) is None
    tiny.ensure_tiny_phi3(str(dest))
    assert (dest / "model.safetensors").stat().st_mtime_ns == before


def test_a_stamped_folder_without_weights_is_rebuilt(tiny_model_cfg, tmp_path, monkeypatch, caplog):
    """The poisoned cache of a first run: config, tokenizer and stamp, but no model.safetensors."""
    from phi3ray.models import tiny

    dest = _copy_of(tiny_model_cfg, tmp_path)
    (dest / "model.safetensors").unlink()
    with caplog.at_level("WARNING", logger="phi3ray.models.tiny"):
        tiny.ensure_tiny_phi3(str(dest))
    assert "model.safetensors is missing" in caplog.text
    assert tiny._problem(dest, tiny._assets_digest()) is None
    assert type(Phi3ForCausalLM.from_pretrained(dest)) is Phi3ForCausalLM
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tiny-")]  # no temporary folder left behind


def test_a_package_without_weights_names_the_command_that_makes_them(tmp_path, monkeypatch):
    import shutil

    from phi3ray.errors import ModelLoadError
    from phi3ray.models import tiny

    assets = tmp_path / "assets"
    shutil.copytree(ASSETS, assets)
    (assets / "model.safetensors").unlink()
    monkeypatch.setattr(tiny, "ASSETS", assets)
    with pytest.raises(ModelLoadError, match="python -m phi3ray.models.tiny --pretrain"):
        tiny.ensure_tiny_phi3(str(tmp_path / "tiny-phi3"))
    assert not (tmp_path / "tiny-phi3").exists()


def test_a_weights_file_that_changed_is_caught(tiny_model_cfg, tmp_path):
    from phi3ray.models import tiny

    dest = _copy_of(tiny_model_cfg, tmp_path)
    with open(dest / "model.safetensors", "r+b") as f:
        f.truncate(1000)  # a copy cut short
    assert tiny._problem(dest, tiny._assets_digest()) == "model.safetensors does not match its stamp"


def test_a_distributed_worker_never_makes_it(tmp_path):
    """Under torch.distributed, transformers saves weights on rank 0 only: a worker must not build the cache."""
    import torch.distributed as dist

    from phi3ray.errors import ModelLoadError
    from phi3ray.models.tiny import ensure_tiny_phi3

    dist.init_process_group("gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1)
    try:
        with pytest.raises(ModelLoadError, match="python -m phi3ray.models.tiny"):
            ensure_tiny_phi3(str(tmp_path / "tiny-phi3"))
    finally:
        dist.destroy_process_group()
    assert not (tmp_path / "tiny-phi3").exists()


@pytest.mark.fast
def test_copy_batches_weigh_only_the_repeats_and_vary_their_length():
    from phi3ray.models import tiny

    batches = tiny._copy_batches(20, vocab=600, bos=1, seed=3)
    lengths = set()
    for ids, weights in batches:
        length = (ids.shape[1] - 1) // tiny.COPY_REPEATS
        lengths.add(length)
        assert (ids[:, 0] == 1).all() and ids[:, 1:].min() >= len(tiny.SPECIAL_TOKENS) and ids.max() < 600
        first = ids[:, 1 : 1 + length]
        for k in range(1, tiny.COPY_REPEATS):
            assert torch.equal(ids[:, 1 + k * length : 1 + (k + 1) * length], first)
        assert (weights[:, : 1 + length] == 0).all() and (weights[:, 1 + length :] == 1).all()
    assert len(lengths) > 3  # no fixed offset to copy from: only an induction head solves it
    again = tiny._copy_batches(20, vocab=600, bos=1, seed=3)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, again))  # seeded


@pytest.mark.fast
def test_lookup_batches_ask_every_key_among_near_misses_and_weigh_only_the_values():
    from phi3ray.models import tiny

    span = tiny.LOOKUP_KEY + tiny.LOOKUP_VALUE
    batches = tiny._lookup_batches(6, vocab=600, bos=1, seed=5)
    for ids, weights in batches:
        pairs = (ids.shape[1] - 1) // (2 * span)
        assert ids.shape[1] == 1 + 2 * pairs * span and (ids[:, 0] == 1).all() and ids[:, 1:].min() >= 8
        told = ids[:, 1 : 1 + pairs * span].reshape(len(ids), pairs, span)
        asked = ids[:, 1 + pairs * span :].reshape(len(ids), pairs, span)
        for row in range(len(ids)):
            table = {tuple(item[: tiny.LOOKUP_KEY].tolist()): item[tiny.LOOKUP_KEY :].tolist() for item in told[row]}
            assert len(table) == pairs  # every key is whole-unique
            for item in asked[row]:  # every key is asked once, and its value is the one told
                assert table.pop(tuple(item[: tiny.LOOKUP_KEY].tolist())) == item[tiny.LOOKUP_KEY :].tolist()
            prefixes = {k[:-1] for k in {tuple(item[: tiny.LOOKUP_KEY].tolist()) for item in told[row]}}
            assert len(prefixes) == pairs // 2  # keys come in near-miss pairs: only the last token tells them apart
        w = weights[:, 1 + pairs * span :].reshape(len(ids), pairs, span)
        assert (weights[:, : 1 + pairs * span] == 0).all() and (w[..., : tiny.LOOKUP_KEY] == 0).all()
        assert (w[..., tiny.LOOKUP_KEY :] == 1).all()
    assert len({ids.shape[1] for ids, _ in batches}) > 1
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, tiny._lookup_batches(6, vocab=600, bos=1, seed=5)))


@pytest.mark.fast
def test_spread_batches_ask_by_both_parts_of_a_key_said_apart_and_weigh_only_the_values():
    from phi3ray.models import tiny

    batches = tiny._spread_batches(4, vocab=600, bos=1, seed=9)
    orders = set()
    for ids, weights in batches:
        for row, w in zip(ids.tolist(), weights.tolist()):
            row = [t for t in row if t != 0]  # padding (random tokens are never 0)
            asked = [i for i, x in enumerate(w) if x == 1.0]
            cells = len(asked) // tiny.LOOKUP_VALUE
            told, questions = row[: len(row) - 5 * cells], row[len(row) - 5 * cells :]
            assert row[0] == 1 and asked == [len(told) + 5 * k + j for k in range(cells) for j in (3, 4)]
            assert len({questions[5 * k] for k in range(cells)}) == 1  # siblings share their first token
            for k in range(cells):
                entity, attribute, value = questions[5 * k : 5 * k + 2], questions[5 * k + 2], questions[5 * k + 3 : 5 * k + 5]
                at = next(i for i in range(len(told) - 1) if told[i : i + 2] == value)
                assert told[at - 1] in (attribute, entity[1])  # the value comes right after its key
                said = told[max(0, at - 5) : at]  # the cell: both parts of the key, at most 2 fillers apart
                e, a = next(i for i in range(len(said)) if said[i : i + 2] == entity), said.index(attribute)
                orders.add(e < a)
    assert orders == {True, False}  # entity first and attribute first both occur
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, tiny._spread_batches(4, vocab=600, bos=1, seed=9)))


@pytest.mark.fast
def test_a_stage_with_an_unknown_drill_is_refused_before_training():
    from phi3ray.models import tiny

    with pytest.raises(ValueError, match="unknown drill \\['X'\\]"):
        tiny._run_stage(None, None, tiny.Stage(3, 1e-3, seed=0, prompt_weight=0.1, pattern="RX"), "")


def test_pretraining_into_another_folder_makes_a_loadable_candidate_and_leaves_the_shipped_weights(tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM

    from phi3ray.models import tiny
    from phi3ray.storage import file_sha256

    shipped = file_sha256(ASSETS / "model.safetensors")
    monkeypatch.setattr(tiny, "PROBE_LESSONS", 2)
    monkeypatch.setattr(tiny, "PRETRAIN_THREADS", 1)  # as the suite's torch (tests/conftest.py)
    recipe = tiny.Recipe((tiny.Stage(5, 1e-3, seed=0, prompt_weight=0.1, pattern="ROCLS"),
                          tiny.Stage(2, 1e-3, seed=1, prompt_weight=0.0, pattern="C")),
                         tied=True, dims=(("num_hidden_layers", 2),))
    out = tiny.pretrain_weights(recipe, out=tmp_path / "cand", device="cpu")
    assert out == tmp_path / "cand" and file_sha256(ASSETS / "model.safetensors") == shipped
    assert {p.name for p in ASSETS.iterdir()} <= {p.name for p in out.iterdir()}  # a whole model folder
    model = AutoModelForCausalLM.from_pretrained(out)
    assert type(model) is Phi3ForCausalLM and model.generation_config.eos_token_id[-1] == 6  # <|end|> stops it
    assert model.config.tie_word_embeddings and model.lm_head.weight is model.model.embed_tokens.weight
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == tiny.TINY_DIMS["hidden_size"]
    # the folder holds the config its weights were made with, so a later stage continues from it (--from-stage)
    first = file_sha256(out / "model.safetensors")
    tiny.pretrain_weights(recipe, start=1, out=out, device="cpu")
    assert file_sha256(out / "model.safetensors") != first
    assert AutoModelForCausalLM.from_pretrained(out).config.num_hidden_layers == 2
