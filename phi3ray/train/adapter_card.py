"""The adapter card: lineage of a trained adapter (base model, method, data hashes, steps, losses), as JSON and README."""

from __future__ import annotations

import dataclasses
import datetime
import json

import phi3ray
from phi3ray.config import TrainConfig
from phi3ray.storage import join, write_text
from phi3ray.train.summary import TrainSummary

CARD_FILE = "adapter_card.json"


def build_card(cfg: TrainConfig, data_hashes: dict[str, str], summary: TrainSummary, rag=None) -> dict:
    """Everything needed to tell where an adapter came from and how good it was when it was made.

    Args:
        rag: the RagRowsLineage of RAG-aware training rows (data.rag_context), None for plain rows.
    """
    t = cfg.training
    return {
        "phi3ray_version": phi3ray.__version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "base_model": {
            "name": cfg.model.name,
            "name_or_path": cfg.model.name_or_path,
            "revision": summary.base_revision or cfg.model.revision,
        },
        "method": dataclasses.asdict(cfg.method),
        "deepspeed": cfg.deepspeed.name,
        "data": {
            "name": cfg.data.name,
            "files": [{"path": path, "sha256": digest} for path, digest in data_hashes.items()],
            "format": cfg.data.format,
            "max_seq_len": cfg.data.max_seq_len,
            "packing": cfg.data.packing,
            "eval": "eval_files" if cfg.data.eval_files else f"eval_fraction={cfg.data.eval_fraction}",
            **{k: getattr(summary.data, k) for k in ("train_examples", "eval_examples", "skipped_rows", "truncated", "dropped")},
            "rag_context": None if rag is None else dataclasses.asdict(rag),
        },
        "training": {
            "steps": summary.global_step,
            "workers": summary.world_size,
            "per_device_batch_size": t.per_device_batch_size,
            "gradient_accumulation_steps": t.gradient_accumulation_steps,
            "learning_rate": t.learning_rate,
            "lr_scheduler": t.lr_scheduler,
            "precision": summary.precision,
            "seed": t.seed,
            "resumed_from_step": summary.resumed_from_step,
        },
        "results": {k: getattr(summary, k) for k in ("train_loss", "eval_loss_start", "eval_loss", "eval_perplexity")},
        "run": {"name": cfg.run.name, "storage_path": cfg.run.storage_path},
    }


def render_readme(card: dict) -> str:
    """A human-readable card; the JSON next to it is the source of truth."""
    base, method, results = card["base_model"], card["method"], card["results"]
    files = "\n".join(f"| `{f['path']}` | `{f['sha256']}` |" for f in card["data"]["files"])

    def num(x):
        return "n/a" if x is None else f"{x:.4f}"

    return f"""# {method['name'].upper()} adapter for {base['name']}

Trained with phi3ray {card['phi3ray_version']} on {card['created']} (run `{card['run']['name']}`).

Load it without phi3ray:

```python
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

base = AutoModelForCausalLM.from_pretrained("{base['name_or_path']}")
model = PeftModel.from_pretrained(base, "path/to/this/folder")
tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")
```

| base model | revision | method | rank | alpha | dropout | target modules | DeepSpeed |
|---|---|---|---|---|---|---|---|
| `{base['name_or_path']}` | {base['revision'] or 'n/a'} | {method['name']} | {method['rank']} | {method['alpha']} | {method['dropout']} | {', '.join(method['target_modules'])} | {card['deepspeed']} |

**Results** after {card['training']['steps']} steps on {card['training']['workers']} worker(s): train loss
{num(results['train_loss'])}, eval loss {num(results['eval_loss_start'])} before training →
{num(results['eval_loss'])} after (perplexity {num(results['eval_perplexity'])}).

**Data** ({card['data']['name']}, format {card['data']['format']}, max_seq_len {card['data']['max_seq_len']},
packing {card['data']['packing']}, {card['data']['eval']}):

| file | sha256 |
|---|---|
{files}
{_rag_lines(card["data"].get("rag_context"))}"""


def _rag_lines(rag: dict | None) -> str:
    if not rag:
        return ""
    index = rag["index"]
    return (
        f"\n**RAG-aware rows** (RAFT): {rag['rows_with_gold']} of {rag['rows']} rows show the gold chunk among "
        f"{rag['top_k']} sources (gold share {rag['gold_share']}, without gold: {rag['without_gold']}), retrieved from "
        f"collection `{index['collection']}` at {index['where']} ({index['objects']} chunks, ids sha256 "
        f"`{index['chunk_ids_sha256'][:16]}`).\n"
    )


def write_card(adapter_uri: str, card: dict) -> None:
    """adapter_card.json and README.md into the adapter folder (replacing peft's template README)."""
    write_text(join(adapter_uri, CARD_FILE), json.dumps(card, indent=2) + "\n")
    write_text(join(adapter_uri, "README.md"), render_readme(card))
