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
