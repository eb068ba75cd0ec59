"""The base Phi-3 plus named LoRA adapters on one PeftModel, so one batch can mix adapters."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path

import torch
from peft import LoraConfig, PeftConfig, PeftModel, set_peft_model_state_dict
from transformers import PreTrainedModel

from phi3ray.config import MethodConfig, ModelConfig
from phi3ray.errors import AdapterRefusedError, ConfigValueError, ModelLoadError, UnknownAdapterError
from phi3ray.models.base import load_base_model, load_tokenizer
from phi3ray.names import BASE_ADAPTER
from phi3ray.storage import content_key, fetch_dir

logger = logging.getLogger(__name__)


def fetch_adapter(uri: str, content: str | None = None) -> str:
    """A local folder for an adapter given as a folder or an object-storage URI (s3://, gs://, ...); `content`: its
    content key when already read (fetch_content_key)."""
    try:
        return fetch_dir(uri, "adapter_config.json", content)
    except FileNotFoundError as err:
        raise ModelLoadError(uri, "not a peft adapter folder (no adapter_config.json)") from err
    except Exception as err:  # pyarrow: OSError, ArrowInvalid (unknown scheme), ArrowNotImplementedError (no gs://)
        raise ModelLoadError(uri, f"cannot download adapter: {str(err).splitlines()[0]}") from err


def fetch_content_key(uri: str) -> str:
    """phi3ray.storage.content_key of an adapter's folder, as a ModelLoadError when it cannot be listed."""
    try:
        return content_key(uri)
    except Exception as err:  # as fetch_adapter
        raise ModelLoadError(uri, f"cannot list adapter: {str(err).splitlines()[0]}") from err


CARD = "adapter_card.json"  # written next to the adapter by training (phi3ray.train.adapter_card)


def trained_revision(folder: str) -> str | None:
    """The base revision an adapter's card says it was trained on (None: no card, or a local base)."""
    return ((read_card(folder) or {}).get("base_model") or {}).get("revision")


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


@dataclasses.dataclass
class PreparedAdapter:
    """An adapter fetched, checked against the base and read into host memory: what installing it needs."""

    name: str
    uri: str
    folder: str
    config: LoraConfig
    weights: dict[str, torch.Tensor] = dataclasses.field(repr=False)
    card: dict | None = None
    content: str = ""  # phi3ray.storage.content_key of uri when it was fetched

    def info(self) -> dict:
        """What /v1/models shows of it: where from, its base, revision and training data (from its card)."""
        return adapter_info(self.uri, self.card)


def adapter_info(uri: str, card: dict | None) -> dict:
    base = (card or {}).get("base_model") or {}
    files = ((card or {}).get("data") or {}).get("files") or []
    data_hash = None
    if files:  # one hash for the training data: of each file's sha256, in order
        import hashlib

        data_hash = hashlib.sha256("".join(f["sha256"] for f in files).encode()).hexdigest()
    return {"root": uri, "base_model": base.get("name"), "base_revision": base.get("revision"),
            "data_sha256": data_hash}


def read_card(folder: str) -> dict | None:
    card = Path(folder) / CARD
    return json.loads(card.read_text(encoding="utf-8")) if card.is_file() else None


class AdapterSet:
    """Base model + adapters by name; keeps at most max_loaded adapters, evicting the least recently used.

    `configured` maps every adapter name the deployment may serve to its folder or URI (config, or added at run
    time); adapters beyond max_loaded are loaded on demand. Loading has two halves: `prepare` (fetch, check that it
    fits this base, read the weights into host memory) touches no model and may run on any thread, so a serving
    loop does it before the request reaches the model; `ensure` installs a prepared adapter (or prepares it there
    when nothing did) and must run where the model runs: one caller at a time. A lock guards the bookkeeping both
    sides touch, and a per-name generation (bumped by add/replace/forget) keeps a prepare that finished after the
    name changed from being installed.
    """

    def __init__(self, model: PreTrainedModel, tokenizer, configured: dict[str, str], max_loaded: int,
                 base_name: str | None = None, base_revision: str | None = None, max_rank: int = 0):
        if max_loaded < 1:
            raise ValueError(f"max_loaded={max_loaded}: must be >= 1")
        self.model = model  # a PeftModel once the first adapter is loaded
        self.tokenizer = tokenizer
        self.configured = dict(configured)
        self.max_loaded = max_loaded
        self.base_name, self.base_revision = base_name, base_revision  # what an adapter's card must name
        self.max_rank = max_rank  # 0: any rank
        self._loaded: OrderedDict[str, str] = OrderedDict()  # name -> local folder, LRU order
        self._prepared: dict[str, PreparedAdapter] = {}  # prepared off the model's thread, installed on first use
        self.cards: dict[str, dict | None] = {}  # name -> its card, once fetched
        self.loads = 0  # adapters loaded so far (the first ones included)
        self.evictions = 0  # adapters unloaded to make room
        self.load_seconds = 0.0  # time spent installing them on the model's thread
        self._lock = threading.Lock()
        self._generation: dict[str, int] = {}  # name -> bumped whenever what the name means changes
        # every linear layer of the base: (in_features, out_features), to check an adapter's shapes off the model
        self._linear = {name: (m.in_features, m.out_features) for name, m in model.named_modules()
                        if isinstance(getattr(m, "in_features", None), int)}
        self._module_names = {name.rsplit(".", 1)[-1] for name in self._linear}

    @classmethod
    def load(
        cls,
        model_cfg: ModelConfig,
        adapters: dict[str, str],
        max_loaded: int = 4,
        method: MethodConfig | None = None,
        allow_revision_mismatch: bool = False,
        max_rank: int = 0,
    ) -> AdapterSet:
        """Load the base (on the GPU when there is one; 4-bit when method.load_in_4bit) at the revision the adapters
        were trained on (pin_revision), and the first adapters."""
        folders = {name: fetch_adapter(uri) for name, uri in adapters.items()}
        model_cfg = pin_revision(model_cfg, folders, allow_revision_mismatch)
        device_map = {"": torch.cuda.current_device()} if torch.cuda.is_available() else None
        model = load_base_model(model_cfg, method, device_map=device_map)
        model.eval()
        tokenizer = load_tokenizer(model_cfg)
        adapter_set = cls(model, tokenizer, adapters, max_loaded, base_name=model_cfg.name,
                          base_revision=None if allow_revision_mismatch else model_cfg.revision, max_rank=max_rank)
        adapter_set.cards = {name: read_card(folder) for name, folder in folders.items()}
        for name in list(adapters)[:max_loaded]:
            adapter_set.ensure(name)
        return adapter_set

    @property
    def names(self) -> list[str]:
        with self._lock:
            return list(self.configured)

    @property
    def loaded(self) -> list[str]:
        with self._lock:
            return list(self._loaded)

    def shown(self) -> dict[str, dict]:
        """name -> what /v1/models shows of each adapter (its URI, and its card's base, revision, data hash)."""
        with self._lock:
            return {name: adapter_info(uri, self.cards.get(name)) for name, uri in self.configured.items()}

    def prepared(self, name: str) -> bool:
        with self._lock:
            return name in self._prepared or name in self._loaded

    def forgotten_resident(self) -> bool:
        """Whether an adapter no longer served still sits in the model (rows were using it when it was forgotten)."""
        with self._lock:
            return any(n not in self.configured for n in self._loaded)

    def _bump(self, name: str) -> None:  # under the lock
        self._generation[name] = self._generation.get(name, 0) + 1
        self._prepared.pop(name, None)

    def prepare(self, name: str, uri: str | None = None) -> PreparedAdapter:
        """Fetch adapter `name` (from `uri`, else its configured URI), refuse it unless it fits this base, and read
        its weights into host memory. Touches no model: any thread. Raises UnknownAdapterError, ModelLoadError
        (cannot fetch), AdapterRefusedError (does not fit)."""
        with self._lock:
            generation = self._generation.get(name, 0)
            if uri is None:
                if name not in self.configured:
                    raise UnknownAdapterError(name, list(self.configured))
                uri = self.configured[name]
        content = fetch_content_key(uri)
        folder = fetch_adapter(uri, content)
        try:
            config = PeftConfig.from_pretrained(folder)
        except (OSError, ValueError, TypeError, KeyError) as err:
            raise ModelLoadError(uri, f"unreadable adapter_config.json: {str(err).splitlines()[0]}") from err
        card = read_card(folder)
        self._check_fit(name, uri, config, card)
        weights = _read_weights(folder, uri)
        self._check_shapes(name, uri, weights)
        prepared = PreparedAdapter(name, uri, folder, config, weights, card, content)
        with self._lock:  # kept for install only if the name still means this URI (no add/replace/forget since)
            if self._generation.get(name, 0) == generation and self.configured.get(name) == uri:
                self._prepared[name] = prepared
                self.cards[name] = card
                while len(self._prepared) > self.max_loaded:
                    self._prepared.pop(next(iter(self._prepared)))
        return prepared

    def _check_fit(self, name: str, uri: str, config, card: dict | None) -> None:
        if not isinstance(config, LoraConfig):
            raise AdapterRefusedError(name, uri, f"a {config.peft_type} adapter; only LoRA adapters are served")
        rank = max([config.r, *(config.rank_pattern or {}).values()])
        if self.max_rank and rank > self.max_rank:
            raise AdapterRefusedError(name, uri, f"rank {rank} is above this server's max_lora_rank {self.max_rank}")
        targets = config.target_modules
        if not isinstance(targets, str):  # a regex is checked by the shapes
            missing = sorted({t.rsplit(".", 1)[-1] for t in targets or ()} - self._module_names)
            if missing:
                raise AdapterRefusedError(name, uri, f"targets {', '.join(missing)}, which this base does not have")
        base = (card or {}).get("base_model") or {}
        if self.base_name and base.get("name") and base["name"] != self.base_name:
            raise AdapterRefusedError(name, uri, f"trained on {base['name']}; this server serves {self.base_name}")
        if self.base_revision and base.get("revision") and base["revision"] != self.base_revision:
            raise AdapterRefusedError(name, uri, f"trained on base revision {base['revision']}; this server serves "
                                      f"revision {self.base_revision}")

    def _check_shapes(self, name: str, uri: str, weights: dict[str, torch.Tensor]) -> None:
        """Each LoRA matrix against the base layer it adapts: A is (r, in_features), B is (out_features, r)."""
        for key, tensor in weights.items():
            for part, axis, which in ((".lora_A.", 1, 0), (".lora_B.", 0, 1)):
                if part not in key:
                    continue
                layer = key.split(part)[0].removeprefix("base_model.model.")
                if layer not in self._linear:
                    raise AdapterRefusedError(name, uri, f"its weight {key} adapts {layer}, which this base does not "
                                              "have")
                want = self._linear[layer][which]
                if tensor.dim() != 2 or tensor.shape[axis] != want:
                    raise AdapterRefusedError(name, uri, f"its weights do not fit this base: {key} has shape "
                                              f"{tuple(tensor.shape)}, {layer} needs {want} on axis {axis}")

    def ensure(self, name: str, keep: tuple[str, ...] = ()) -> str:
        """Make adapter `name` resident (installing and evicting as needed); return its peft name. On the model's
        thread only.

        Args:
            keep: adapters that must not be evicted now (the others of the same batch).
        """
        if name == BASE_ADAPTER:
            return name
        with self._lock:
            if name in self._loaded:  # forgotten but still resident: rows in flight finish with it
                self._loaded.move_to_end(name)
                return name
            if name not in self.configured:
                raise UnknownAdapterError(name, list(self.configured))
            prepared = self._prepared.pop(name, None)
        if prepared is None:
            prepared = self.prepare(name)
            with self._lock:
                self._prepared.pop(name, None)
        self.install(prepared)
        self._evict(keep=(*keep, name))  # after loading, so the PeftModel never runs out of adapters
        return name

    def add(self, prepared: PreparedAdapter, keep: tuple[str, ...] = ()) -> None:
        """Serve a prepared adapter under its name from now on (loaded at run time; replaces one of that name),
        installed now; `keep`: adapters rows are using (not evicted). Model's thread only."""
        name = prepared.name
        with self._lock:
            previous = self.configured.get(name)
            self.configured[name] = prepared.uri
            self._bump(name)
            self.cards[name] = prepared.card
        try:
            self.install(prepared)
        except Exception:
            with self._lock:  # the name goes back to what it meant (the old adapter loads again on its next use)
                if previous is None:
                    self.configured.pop(name, None)
                else:
                    self.configured[name] = previous
            raise
        self._evict(keep=(*keep, name))

    def _evict(self, keep: tuple[str, ...]) -> None:
        for old in [n for n in self.loaded if n not in keep]:
            if len(self._loaded) <= self.max_loaded:
                break
            self._unload(old)
            self.evictions += 1
            logger.info("evicted adapter %s (LRU, max_loaded=%d)", old, self.max_loaded)

    def install(self, prepared: PreparedAdapter) -> None:
        """Put a prepared adapter into the model under its name (replacing one of that name). Model's thread only."""
        name = prepared.name
        start = time.perf_counter()
        if name in self._loaded:
            self._unload(name)
        try:
            if isinstance(self.model, PeftModel):
                self.model.add_adapter(name, prepared.config)
            else:
                self.model = PeftModel(self.model, prepared.config, adapter_name=name)
            result = set_peft_model_state_dict(self.model, prepared.weights, adapter_name=name)
        except (ValueError, KeyError, RuntimeError) as err:  # e.g. size mismatch: another base's adapter
            if isinstance(self.model, PeftModel) and name in self.model.peft_config:
                self.model.delete_adapter(name)
            raise AdapterRefusedError(name, prepared.uri, f"its weights do not fit this base: "
                                      f"{str(err).splitlines()[0][:300]}") from err
        missing = [k for k in getattr(result, "unexpected_keys", []) if ".lora_" in k]
        if missing:
            self.model.delete_adapter(name)
            raise AdapterRefusedError(name, prepared.uri, f"{len(missing)} of its weights match no layer of this "
                                      f"base, e.g. {missing[0]}")
        self.model.eval()
        with self._lock:
            self._loaded[name] = prepared.folder
        self.loads += 1
        self.load_seconds += time.perf_counter() - start
        logger.info("loaded adapter %s from %s", name, prepared.uri)

    def _unload(self, name: str) -> None:
        with self._lock:
            del self._loaded[name]
        self.model.delete_adapter(name)

    def ensure_all(self, names: list[str]) -> list[str]:
        """Make every adapter of one batch resident at once; at most max_loaded distinct adapters."""
        distinct = tuple(dict.fromkeys(n for n in names if n != BASE_ADAPTER))
        if len(distinct) > self.max_loaded:
            raise ValueError(f"{len(distinct)} adapters in one batch, but at most {self.max_loaded} fit")
        for name in distinct:
            self.ensure(name, keep=distinct)
        return list(names)

    def replace(self, name: str, uri: str) -> None:
        """Serve adapter `name` from `uri` from now on (a registry alias moved, a retrained adapter): unloaded if
        resident, loaded again on its next use. Model's thread only."""
        with self._lock:
            self.configured[name] = uri
            self._bump(name)
            self.cards.pop(name, None)  # read again when it is fetched
            resident = name in self._loaded
        if resident:
            self._unload(name)
            logger.info("adapter %s now from %s (unloaded; loads again on its next use)", name, uri)

    def forget(self, name: str, unload: bool = True) -> None:
        """Stop serving adapter `name` (unloaded at run time): unknown to new requests from now on; removed from the
        model now, or (unload=False: rows in flight still use it) by drop_forgotten later. Model's thread only."""
        with self._lock:
            self.configured.pop(name, None)
            self._bump(name)
            self.cards.pop(name, None)
            resident = name in self._loaded
        if resident and unload:
            self._unload(name)
            logger.info("adapter %s unloaded", name)

    def drop_forgotten(self, busy: set[str]) -> None:
        """Remove forgotten adapters that no row in flight (`busy`) uses any more. Model's thread only."""
        with self._lock:
            idle = [n for n in self._loaded if n not in self.configured and n not in busy]
        for name in idle:
            self._unload(name)
            logger.info("adapter %s unloaded", name)


def _read_weights(folder: str, uri: str) -> dict[str, torch.Tensor]:
    """The adapter's tensors on the host (adapter_model.safetensors, or peft's older adapter_model.bin)."""
    from safetensors.torch import load_file

    path = Path(folder)
    try:
        if (path / "adapter_model.safetensors").is_file():
            return load_file(str(path / "adapter_model.safetensors"))
        if (path / "adapter_model.bin").is_file():
            return torch.load(path / "adapter_model.bin", map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file
        raise ModelLoadError(uri, f"unreadable adapter weights: {err}") from err
    raise ModelLoadError(uri, "no adapter_model.safetensors in the adapter folder")
