"""fit() on real Ray workers: LoRA + ZeRO-2/ZeRO-3 and QLoRA learn, the adapter loads in plain peft, runs resume.

Every run is the tiny Phi-3 on the sample data, 2 workers on CPU, a few steps (tests/train/conftest.py).
"""

import json
import shutil
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from phi3ray.errors import CheckpointError, ConfigValueError, DataErrors
from phi3ray.names import LORA_TARGETS
from phi3ray.storage import file_sha256
from phi3ray.train.driver import fit
from tests.train.conftest import short_run

PHI3_TARGETS = set(LORA_TARGETS)
PROMPT = [{"role": "user", "content": "What is the minimum continuous flow of the VX-100?"}]


def plain_logits(base_path: str, adapter_dir: str) -> torch.Tensor:
    """Logits of base + adapter loaded with transformers and peft only, as a user without phi3ray would."""
    tokenizer = AutoTokenizer.from_pretrained(adapter_dir)
    ids = tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_path), adapter_dir).eval()
    with torch.no_grad():
        return model(input_ids=ids["input_ids"]).logits  # (1, T, vocab)


def assert_learned(result, steps: int = 6) -> None:
    m = result.summary
    assert m.global_step == steps
    assert m.eval_loss < m.eval_loss_start - 0.05, (m.eval_loss_start, m.eval_loss)


def test_lora_zero2_learns_and_writes_adapter_checkpoints_and_card(lora_zero2):
    cfg, result = lora_zero2
    assert_learned(result)
    run = Path(result.run_dir)
    assert run == Path(cfg.run.storage_path) / "lora-zero2"
    assert sorted(p.name for p in run.glob("checkpoint-*")) == ["checkpoint-3", "checkpoint-6"]
    assert result.checkpoint_path == str(run / "checkpoint-6")
    for folder in (run / "adapter", run / "checkpoint-6"):  # standard peft layout
        assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in folder.iterdir()}
    shards = sorted(p.name for p in (run / "checkpoint-6" / "global_step6").iterdir())
    assert shards == ["mp_rank_00_model_states.pt", "zero_pp_rank_0_mp_rank_00_optim_states.pt",
                      "zero_pp_rank_1_mp_rank_00_optim_states.pt"]  # both workers' ZeRO-2 optimizer shards

    card = json.loads((run / "adapter" / "adapter_card.json").read_text())
    assert card["base_model"]["name_or_path"] == cfg.model.name_or_path
    assert card["method"]["name"] == "lora" and set(card["method"]["target_modules"]) == PHI3_TARGETS
    assert card["data"]["files"] == [{"path": "data/pumps/train.jsonl", "sha256": file_sha256("data/pumps/train.jsonl")}]
    assert card["training"]["steps"] == 6 and card["training"]["workers"] == 2
    assert card["results"]["eval_loss"] == result.summary.eval_loss
    assert card["results"]["eval_loss_start"] == result.summary.eval_loss_start
    assert card["phi3ray_version"] == "0.1.0"
    readme = (run / "adapter" / "README.md").read_text()
    assert "PeftModel.from_pretrained" in readme and file_sha256("data/pumps/train.jsonl") in readme


def test_adapter_loads_in_plain_peft_with_the_checkpoints_logits(lora_zero2):
    cfg, result = lora_zero2
    config = json.loads(Path(result.adapter_path, "adapter_config.json").read_text())
    assert set(config["target_modules"]) == PHI3_TARGETS and config["r"] == cfg.method.rank
    final = plain_logits(cfg.model.name_or_path, result.adapter_path)
    checkpoint = plain_logits(cfg.model.name_or_path, result.checkpoint_path)
    assert torch.allclose(final, checkpoint, atol=1e-5)
    tokenizer = AutoTokenizer.from_pretrained(cfg.model.name_or_path)
    ids = tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        base = AutoModelForCausalLM.from_pretrained(cfg.model.name_or_path).eval()(input_ids=ids["input_ids"]).logits
    assert (final - base).abs().max() > 1e-2  # the adapter changes the model


def test_lora_zero3_learns_and_gathers_the_adapter(ray_session, tmp_path):
    cfg = short_run(tmp_path, "lora-zero3", "deepspeed=zero3", "training.max_steps=4", "training.save_steps=4")
    result = fit(cfg)
    assert_learned(result, steps=4)
    weights = load_file(Path(result.adapter_path) / "adapter_model.safetensors")
    assert {name.split(".lora_")[0].rsplit(".", 1)[-1] for name in weights} == PHI3_TARGETS
    assert all(w.numel() > 0 and w.abs().sum() > 0 for name, w in weights.items() if "lora_B" in name)
    plain_logits(cfg.model.name_or_path, result.adapter_path)  # loads without phi3ray


def test_qlora_learns_on_a_4bit_base(ray_session, tmp_path):
    cfg = short_run(tmp_path, "qlora", "method=qlora", "training.save_steps=6")
    result = fit(cfg)
    assert_learned(result)
    card = json.loads(Path(result.adapter_path, "adapter_card.json").read_text())
    assert card["method"]["load_in_4bit"] and card["method"]["quant_type"] == "nf4"
    assert result.summary.model_bytes < 0.75 * 4 * sum(  # 4-bit base: well under the fp32 footprint
        p.numel() for p in AutoModelForCausalLM.from_pretrained(cfg.model.name_or_path).parameters())


def test_resume_continues_at_the_checkpoint_step_and_merges(lora_zero2, tmp_path):
    cfg, done = lora_zero2
    shutil.copytree(done.run_dir, tmp_path / "resumed")  # leave the shared run as it was
    cfg = short_run(tmp_path, "resumed", "training.resume=true", "training.max_steps=8", "training.save_steps=4",
                    "training.merge=true")
    result = fit(cfg)
    assert result.summary.resumed_from_step == 6
    assert result.summary.global_step == 8
    assert result.summary.steps_timed == 2  # only steps 7 and 8 ran
    assert result.checkpoint_path.endswith("checkpoint-8")
    state = json.loads(Path(result.checkpoint_path, "trainer_state.json").read_text())
    steps = [h["step"] for h in state["log_history"] if "loss" in h]
    assert steps == [1, 2, 3, 4, 5, 6, 7, 8]  # the first run's history, then the two new steps

    assert result.merged_path == f"{result.run_dir}/merged"  # training.merge=true: a plain transformers model
    tokenizer = AutoTokenizer.from_pretrained(result.merged_path)
    ids = tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        merged = AutoModelForCausalLM.from_pretrained(result.merged_path).eval()(input_ids=ids["input_ids"]).logits
    assert torch.allclose(merged, plain_logits(cfg.model.name_or_path, result.adapter_path), atol=1e-4)


def test_malformed_row_stops_the_run_with_file_and_line(tmp_path):
    good = Path("data/pumps/train.jsonl").read_text().splitlines()[:20]
    bad = tmp_path / "train.jsonl"
    bad.write_text("\n".join(good[:7] + ['{"messages": [{"role": "user", "content": "hi"}]}'] + good[7:]) + "\n")
    cfg = short_run(tmp_path, "bad-data", f"data.train_files=[{bad}]")
    with pytest.raises(DataErrors) as info:
        fit(cfg)
    assert str(info.value.errors[0]) == (
        f"{bad}:8: the last message must be the assistant's answer (nothing to learn otherwise)")


def test_run_folder_rules(lora_zero2, tmp_path):
    cfg, done = lora_zero2
    with pytest.raises(CheckpointError, match="training.resume=true but the run folder holds no checkpoint"):
        fit(short_run(tmp_path, "never-ran", "training.resume=true"))
    with pytest.raises(ConfigValueError, match=r"already holds checkpoints \(latest step 6\)"):
        fit(short_run(cfg.run.storage_path, "lora-zero2"))


def test_qlora_with_zero3_on_cpu_is_rejected_before_training(tmp_path):
    cfg = short_run(tmp_path, "q3", "method=qlora", "deepspeed=zero3", "method.quant_storage=bfloat16")
    with pytest.raises(ConfigValueError, match="QLoRA with ZeRO-3 needs GPU workers"):
        fit(cfg)
