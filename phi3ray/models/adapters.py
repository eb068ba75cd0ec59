"""The base Phi-3 plus named LoRA adapters on one PeftModel, so one batch can mix adapters."""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from pathlib import Path

from peft import PeftModel
from transformers import PreTrainedModel

from phi3ray.config import ModelConfig
from phi3ray.errors import ModelLoadError, UnknownAdapterError
from phi3ray.models.base import load_base_model, load_tokenizer
from phi3ray.models.generation import BASE_ADAPTER

logger = logging.getLogger(__name__)


def fetch_adapter(uri: str, cache_dir: str = "~/.cache/phi3ray/adapters") -> str:
    """A local folder for an adapter given as a folder or an object-storage URI (s3://, gs://, ...)."""
    if "://" not in uri:
        path = os.path.abspath(os.path.expanduser(uri))
        if not os.path.isfile(os.path.join(path, "adapter_config.json")):
            raise ModelLoadError(uri, "not a peft adapter folder (no adapter_config.json)")
        return path
    import pyarrow.fs as pafs

    local = Path(os.path.expanduser(cache_dir)) / uri.replace("://", "/").strip("/")
    if not (local / "adapter_config.json").is_file():
        try:
            source_fs, source_path = pafs.FileSystem.from_uri(uri)
            local.mkdir(parents=True, exist_ok=True)
            pafs.copy_files(source_path, str(local), source_filesystem=source_fs)
        except Exception as err:
            raise ModelLoadError(uri, f"cannot download adapter: {err}") from err
    return str(local)


class AdapterSet:
    """Base model + adapters by name; keeps at most max_loaded adapters, evicting the least recently used.

    `configured` maps every adapter name the deployment may serve to its folder or URI; adapters
    beyond max_loaded are loaded on demand.
    """

    def __init__(self, model: PreTrainedModel, tokenizer, configured: dict[str, str], max_loaded: int):
        self.model = model  # a PeftModel once the first adapter is loaded
        self.tokenizer = tokenizer
        self.configured = dict(configured)
        self.max_loaded = max_loaded
        self._loaded: OrderedDict[str, str] = OrderedDict()  # name -> local folder, LRU order

    @classmethod
    def load(cls, model_cfg: ModelConfig, adapters: dict[str, str], max_loaded: int = 4) -> "AdapterSet":
        model = load_base_model(model_cfg)
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

    def ensure(self, name: str) -> str:
        """Make adapter `name` resident (loading and evicting as needed); return its peft name."""
        if name == BASE_ADAPTER:
            return name
        if name not in self.configured:
            raise UnknownAdapterError(name, self.names)
        if name in self._loaded:
            self._loaded.move_to_end(name)
            return name
        while len(self._loaded) >= self.max_loaded:
            evicted, _ = self._loaded.popitem(last=False)
            self.model.delete_adapter(evicted)
            logger.info("evicted adapter %s", evicted)
        folder = fetch_adapter(self.configured[name])
        try:
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(folder, adapter_name=name)
            else:
                self.model = PeftModel.from_pretrained(self.model, folder, adapter_name=name)
        except (OSError, ValueError, KeyError) as err:
            raise ModelLoadError(folder, f"adapter {name!r} does not fit this base model: {err}") from err
        self.model.eval()
        self._loaded[name] = folder
        logger.info("loaded adapter %s from %s", name, folder)
        return name
