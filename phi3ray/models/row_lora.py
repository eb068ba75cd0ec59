"""Per-row LoRA in one gathered matmul (the S-LoRA/Punica idea, in plain torch): every resident adapter's A and B
of a layer stacked into one tensor, a row index picking each row's pair, two batched matmuls per layer.

peft's mixed-adapter forward (``adapter_names``) splits the batch by adapter in Python at every LoRA layer and
step (a list of indices per adapter, a gather, a scatter-add): on the tiny Phi-3 that was two thirds of a decode
step with 16 rows over 4 adapters, and on an H100 a mixed batch ran slower than one generate per adapter. Here the
split is one index tensor per forward; base rows point at a zero slot. Ranks may differ (padded with zeros).

Covers peft's plain ``lora.Linear`` layers (a bf16/float base); a model with any other LoRA layer (4-bit bases'
``lora.bnb.Linear4bit``, DoRA, embeddings, modules_to_save) is left to peft's own mixed forward
(``RowLora.supported`` says which).
"""

from __future__ import annotations

import torch
from peft import PeftModel
from peft.tuners.lora import LoraLayer
from peft.tuners.lora.layer import Linear as LoraLinear
from peft.utils.other import AuxiliaryTrainingWrapper

from phi3ray.names import BASE_ADAPTER


class RowLora:
    """Installed on a PeftModel: set ``rows(names)`` before each forward; ``refresh(adapters)`` after a load/unload."""

    def __init__(self, model: PeftModel):
        self.model = model
        self.slots: dict[str, int] = {BASE_ADAPTER: 0}
        self.index: torch.Tensor | None = None  # (B,) each row's slot, for the forward about to run
        self._layers: list[LoraLinear] = []

    @staticmethod
    def supported(model: PeftModel) -> bool:
        for module in model.modules():
            if isinstance(module, AuxiliaryTrainingWrapper):
                return False
            if isinstance(module, LoraLayer):
                if type(module) is not LoraLinear or module.lora_variant or module.lora_embedding_A:
                    return False
                if any(getattr(module, "lora_bias", {}).values()):  # B with a bias: not stacked here
                    return False
                if any(getattr(module, "use_dora", {}).get(n) for n in module.lora_A):
                    return False
        return True

    def refresh(self, names: list[str]) -> None:
        """Stack the resident adapters `names` (slot 0 is the base) into every LoRA layer, patching new layers."""
        self.slots = {BASE_ADAPTER: 0, **{name: i + 1 for i, name in enumerate(names)}}
        self._layers = [m for m in self.model.modules() if isinstance(m, LoraLinear)]
        for layer in self._layers:
            _stack(layer, names)
            if not getattr(layer, "_phi3ray_row_lora", False):
                layer.forward = _row_forward.__get__(layer)  # this instance only; peft's class stays as it is
                layer._phi3ray_row_lora = True
            layer._phi3ray_rows = self

    def rows(self, names: list[str], device: torch.device) -> None:
        slots = [self.slots[n] for n in names]
        self.index = torch.tensor(slots, device=device) if any(slots) else None  # None: base rows only

    def uninstall(self) -> None:
        """Give every patched layer peft's own forward back."""
        for layer in self._layers:
            if getattr(layer, "_phi3ray_row_lora", False):
                del layer.forward, layer._phi3ray_row_lora, layer._phi3ray_rows, layer._phi3ray_stack
        self._layers = []


def _stack(layer: LoraLinear, names: list[str]) -> None:
    present = [n for n in names if n in layer.lora_A]
    if not present:
        layer._phi3ray_stack = None
        return
    ref = layer.lora_A[present[0]].weight
    rank = max(layer.lora_A[n].weight.shape[0] for n in present)
    a = torch.zeros(len(names) + 1, rank, layer.in_features, dtype=ref.dtype, device=ref.device)
    b = torch.zeros(len(names) + 1, layer.out_features, rank, dtype=ref.dtype, device=ref.device)
    scale = torch.zeros(len(names) + 1, dtype=ref.dtype, device=ref.device)
    for slot, name in enumerate(names, start=1):
        if name not in layer.lora_A:  # this adapter does not target this layer
            continue
        r = layer.lora_A[name].weight.shape[0]
        a[slot, :r] = layer.lora_A[name].weight
        b[slot, :, :r] = layer.lora_B[name].weight
        scale[slot] = layer.scaling[name]
    layer._phi3ray_stack = (a, b * scale[:, None, None])  # the scale folded into B


def _row_forward(self: LoraLinear, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    if "adapter_names" in kwargs:  # a caller routing through peft's mixed batch (generate_tokens): peft's forward
        return LoraLinear.forward(self, x, *args, **kwargs)
    result = self.base_layer(x, *args, **kwargs)
    stack, rows = self._phi3ray_stack, self._phi3ray_rows.index
    if stack is None or rows is None:
        return result
    a, b = stack
    rows_x = x if x.dim() == 3 else x[:, None, :]  # (B, T, in); a (B, in) input is one token per row
    h = torch.matmul(rows_x.to(a.dtype), a[rows].transpose(-1, -2))  # (B, T, in) x (B, in, r) -> (B, T, r)
    lora = torch.matmul(h, b[rows].transpose(-1, -2))  # (B, T, r) x (B, r, out) -> (B, T, out)
    return result + lora.reshape(result.shape).to(result.dtype)
