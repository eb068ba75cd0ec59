"""The base Phi-3 plus named LoRA adapters on one PeftModel, so one batch can mix adapters."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections import OrderedDict
from pathlib import Path

import torch
from peft import PeftModel
from transformers import PreTrainedModel

from phi3ray.config import MethodConfig, ModelConfig
from phi3ray.errors import ConfigValueError, ModelLoadError, UnknownAdapterError
from phi3ray.models.base import load_base_model, load_tokenizer
from phi3ray.names import BASE_ADAPTER
from phi3ray.storage import fetch_dir

logger = logging.getLogger(__name__)


def fetch_adapter(uri: str) -> str:
    """A local folder for an adapter given as a folder or an object-storage URI (s3://, gs://, ...)."""
    try:
        return fetch_dir(uri, "adapter_config.json")
    except FileNotFoundError as err:
        raise ModelLoadError(uri, "not a peft adapter folder (no adapter_config.json)") from err
    except Exception as err:  # pyarrow: OSError, ArrowInvalid (unknown scheme), ArrowNotImplementedError (no gs://)
        raise ModelLoadError(uri, f"cannot download adapter: {err}") from err


CARD = "adapter_card.json"  # written next to the adapter by training (phi3ray.train.adapter_card)


def trained_revision(folder: str) -> str | None:
    """The base revision an adapter's card says it was trained on (None: no card, or a local base)."""
    card = Path(folder) / CARD
    if not card.is_file():
        return None
    return (json.loads(card.read_text(encoding="utf-8")).get("base_model") or {}).get("revision")


def pin_revision(model_cfg: ModelConfig, folders: dict[str, str], allow_mismatch: bool = False) -> ModelConfig:
    """model_cfg at the base revision its adapters were trained on: model.revision when set (an adapter trained
    on another one is refused, unless allow_mismatch), else the one revision their cards record (adapters that
    disagree are refused)."""
    revisions = {name: r for name, folder in folders.items() if (r := trained_revision(folder)) is not None}
    if model_cfg.revision is not None:
        other = next(((n, r) for n, r in revisions.items() if r != model_cfg.revision), None)
        if other is not None and allow_mismatch:
            logger.warning("adapter %r was trained on revision %r; evaluating base revision %r (allowed)",
                           other[0], other[1], model_cfg.revision)
        elif other is not None:
            raise ConfigValueError("model.revision", model_cfg.revision, f"adapter {other[0]!r} was trained on "
                                   f"revision {other[1]!r}; set model.revision={other[1]} or drop the adapter")
        return model_cfg
    distinct = sorted(set(revisions.values()))
    if len(distinct) > 1:
        shown = ", ".join(f"{n}: {r}" for n, r in sorted(revisions.items()))
        raise ConfigValueError("adapters", sorted(folders), f"trained on different base revisions ({shown}); "
                               "load them in separate runs or deployments, each with its model.revision")
    if distinct:
        logger.info("base %s pinned to revision %s (the adapters' cards)", model_cfg.name_or_path, distinct[0])
        return dataclasses.replace(model_cfg, revision=distinct[0])
    return model_cfg


class AdapterSet:
    """Base model + adapters by name; keeps at most max_loaded adapters, evicting the least recently used.

    `configured` maps every adapter name the deployment may serve to its folder or URI; adapters
    beyond max_loaded are loaded on demand. Not thread-safe: one caller at a time.
    """

    def __init__(self, model: PreTrainedModel, tokenizer, configured: dict[str, str], max_loaded: int):
        if max_loaded < 1:
            raise ValueError(f"max_loaded={max_loaded}: must be >= 1")
        self.model = model  # a PeftModel once the first adapter is loaded
        self.tokenizer = tokenizer
        self.configured = dict(configured)
        self.max_loaded = max_loaded
        self._loaded: OrderedDict[str, str] = OrderedDict()  # name -> local folder, LRU order
        self.loads = 0  # adapters loaded so far (the first ones included)
        self.evictions = 0  # adapters unloaded to make room
        self.load_seconds = 0.0  # time spent loading them

    @classmethod
    def load(
        cls,
        model_cfg: ModelConfig,
        adapters: dict[str, str],
        max_loaded: int = 4,
        method: MethodConfig | None = None,
        allow_revision_mismatch: bool = False,
    ) -> AdapterSet:
        """Load the base (on the GPU when there is one; 4-bit when method.load_in_4bit) at the revision the adapters
        were trained on (pin_revision), and the first adapters."""
        folders = {name: fetch_adapter(uri) for name, uri in adapters.items()}
        model_cfg = pin_revision(model_cfg, folders, allow_revision_mismatch)
        device_map = {"": torch.cuda.current_device()} if torch.cuda.is_available() else None
        model = load_base_model(model_cfg, method, device_map=device_map)
        model.eval()
        tokenizer = load_tokenizer(model_cfg)
        adapter_set = cls(model, tokenizer, adapters, max_loaded)
        for name in list(adapters)[:max_loaded]:
            adapter_set.ensure(name)
        return adapter_set

    @property
    def names(self) -> list[str]:
        return list(self.configured)

    @property
    def loaded(self) -> list[str]:
        return list(self._loaded)

    def ensure(self, name: str, keep: tuple[str, ...] = ()) -> str:
        """Make adapter `name` resident (loading and evicting as needed); return its peft name.

        Args:
            keep: adapters that must not be evicted now (the others of the same batch).
        """
        if name == BASE_ADAPTER:
            return name
        if name not in self.configured:
            raise UnknownAdapterError(name, self.names)
        if name in self._loaded:
            self._loaded.move_to_end(name)
            return name
        folder = fetch_adapter(self.configured[name])
        start = time.perf_counter()
        try:
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(folder, adapter_name=name)
            else:
                self.model = PeftModel.from_pretrained(self.model, folder, adapter_name=name)
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            raise ModelLoadError(folder, f"adapter {name!r} does not fit this base model: {err}") from err
        self.model.eval()
        self._loaded[name] = folder
        self.loads += 1
        self.load_seconds += time.perf_counter() - start
        logger.info("loaded adapter %s from %s", name, folder)
        # evict after loading, so the PeftModel never runs out of adapters
        for old in [n for n in self._loaded if n not in keep and n != name]:
            if len(self._loaded) <= self.max_loaded:
                break
            del self._loaded[old]
            self.model.delete_adapter(old)
            self.evictions += 1
            logger.info("evicted adapter %s (LRU, max_loaded=%d)", old, self.max_loaded)
        return name

    def ensure_all(self, names: list[str]) -> list[str]:
        """Make every adapter of one batch resident at once; at most max_loaded distinct adapters."""
        distinct = tuple(dict.fromkeys(n for n in names if n != BASE_ADAPTER))
        if len(distinct) > self.max_loaded:
            raise ValueError(f"{len(distinct)} adapters in one batch, but at most {self.max_loaded} fit")
        for name in distinct:
            self.ensure(name, keep=distinct)
        return list(names)

    def replace(self, name: str, uri: str) -> None:
        """Serve adapter `name` from another folder from now on (a registry alias moved): unloaded if resident,
        loaded again from `uri` on its next use."""
        self.configured[name] = uri
        if self._loaded.pop(name, None) is not None:
            self.model.delete_adapter(name)
            logger.info("adapter %s now from %s (unloaded; loads again on its next use)", name, uri)
