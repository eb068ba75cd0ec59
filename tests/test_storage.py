"""The storage module: what needs no cloud bucket to check."""

import pytest

from phi3ray.storage import join, write_text

pytestmark = pytest.mark.fast


def test_write_text_makes_the_folder_a_file_goes_into(tmp_path):
    """The RAG rows are written into a run folder before training has made it."""
    dest = join(str(tmp_path / "runs" / "new-run"), "rag_rows.jsonl")
    write_text(dest, "row\n")
    assert (tmp_path / "runs" / "new-run" / "rag_rows.jsonl").read_text() == "row\n"


def test_read_bytes_and_sha256_take_uris_and_local_paths_alike(tmp_path):
    """file:// resolves to pyarrow's LocalFileSystem, the same call that serves s3:// and gs://."""
    import hashlib

    from phi3ray.storage import file_sha256, read_bytes

    (tmp_path / "rows.jsonl").write_bytes(b'{"a": 1}\n')
    for where in (str(tmp_path / "rows.jsonl"), f"file://{tmp_path}/rows.jsonl"):
        assert read_bytes(where) == b'{"a": 1}\n'
        assert file_sha256(where) == hashlib.sha256(b'{"a": 1}\n').hexdigest()
    with pytest.raises(FileNotFoundError):
        read_bytes(f"file://{tmp_path}/missing.jsonl")


def test_a_folder_rewritten_at_the_same_uri_is_fetched_again_and_an_unchanged_one_is_not(tmp_path, monkeypatch):
    """A retrained adapter written over the same s3:// URI must be served with its new weights, not the cached
    copy of the old ones (the cache is keyed by the folder's listing: paths, sizes, modification times)."""
    import os
    import time

    from phi3ray.storage import fetch_dir

    monkeypatch.setenv("PHI3RAY_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "bucket" / "adapter"
    source.mkdir(parents=True)
    (source / "adapter_config.json").write_text("{}")
    (source / "weights.bin").write_bytes(b"old weights")
    uri = f"file://{source}"

    first = fetch_dir(uri, "adapter_config.json")
    assert open(os.path.join(first, "weights.bin"), "rb").read() == b"old weights"
    assert fetch_dir(uri, "adapter_config.json") == first  # unchanged: the same copy

    (source / "weights.bin").write_bytes(b"new weights!")  # retrained: same URI, other content
    os.utime(first, (time.time() - 700, time.time() - 700))  # fetched 11 minutes ago
    second = fetch_dir(uri, "adapter_config.json")
    assert second != first and open(os.path.join(second, "weights.bin"), "rb").read() == b"new weights!"
    assert not os.path.exists(first)  # the stale copy is gone (a younger one might still be read by a replica)
    with pytest.raises(FileNotFoundError):
        fetch_dir(f"file://{tmp_path / 'bucket'}", "adapter_config.json")
