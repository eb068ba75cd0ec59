"""The storage module: what needs no cloud bucket to check."""

import pytest

from phi3ray.storage import join, write_text

pytestmark = pytest.mark.fast


def test_write_text_makes_the_folder_a_file_goes_into(tmp_path):
    """The RAG rows are written into a run folder before training has made it."""
    dest = join(str(tmp_path / "runs" / "new-run"), "rag_rows.jsonl")
    write_text(dest, "row\n")
    assert (tmp_path / "runs" / "new-run" / "rag_rows.jsonl").read_text() == "row\n"
