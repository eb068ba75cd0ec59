"""Reserved names and tokens, in one torch-free module: config, data, models, eval and serve all import it.

The Serve Ingress imports it too, which is why it must not import torch or transformers.
"""

from __future__ import annotations

from collections.abc import Iterable

BASE_ADAPTER = "__base__"  # the adapter slot that means "the base model, no adapter" (peft mixed batches, Serve, eval)
BASE_VARIANT = "base"  # the evaluation's name of the base model's variants: base, base+rag
RAG_SUFFIX = "+rag"  # a variant answered with retrieved sources: base+rag, <adapter>+rag
END_TOKEN = "<|end|>"  # Phi-3 closes every chat turn with it
LORA_TARGETS = ("qkv_proj", "o_proj", "gate_up_proj", "down_proj")  # Phi-3's fused projections (no q/k/v_proj)


def adapter_name_problem(name: str, taken: Iterable[str] = ()) -> str | None:
    """Why name cannot name an adapter (a reserved name, one in taken, a '+'), or None when it can."""
    if name in {BASE_ADAPTER, BASE_VARIANT, *taken}:
        return f"an adapter cannot take a name of the base ({', '.join(sorted({BASE_ADAPTER, BASE_VARIANT, *taken}))})"
    if "+" in name:
        return f"an adapter's name must not contain '+' (the evaluation names its RAG variant <name>{RAG_SUFFIX})"
    if "." in name or not name:
        return "an adapter's name must be non-empty and without '.' (peft keys its layers by it)"
    return None
