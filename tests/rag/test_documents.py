"""Reading markdown, plain text, HTML, PDF and JSONL into titled sections; unreadable files are reported."""

from pathlib import Path

import pytest

from phi3ray.errors import ConfigValueError
from phi3ray.rag.documents import find_documents, read_documents

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast

ROOT = Path(__file__).resolve().parents[2]
EXTRA = ROOT / "data/pumps/extra"


def read_one(path: Path):
    docs, errors = read_documents(str(path))
    assert errors == []
    assert len(docs) == 1
    return docs[0]


def test_markdown_title_and_sections():
    doc = read_one(ROOT / "data/pumps/docs/vx-220-seal-replacement.md")
    assert (doc.doc_id, doc.title) == ("vx-220-seal-replacement", "Vortex VX-220 Mechanical Seal Replacement")
    assert [s.heading for s in doc.sections][:3] == ["", "Parts and tools", "Removing the old seal"]
    assert doc.source.endswith("data/pumps/docs/vx-220-seal-replacement.md")


def test_markdown_without_title_line_falls_back_to_the_file_name():
    doc = read_one(EXTRA / "field-notes-vxs-80.md")
    assert doc.title == "Field notes vxs 80"
    assert "Oil checks" in [s.heading for s in doc.sections]


def test_plain_text_bulletin_has_a_title_and_headings():
    doc = read_one(EXTRA / "bulletin-2024-07.txt")
    assert doc.title == "AQUILON PUMPWORKS - SERVICE BULLETIN SB-2024-07"
    assert [s.heading for s in doc.sections] == ["", "Summary", "Action", "Warranty"]
    assert "revision C" in doc.sections[2].text


def test_html_headings_paragraphs_and_table_rows():
    doc = read_one(EXTRA / "quick-reference.html")
    assert doc.title == "AquiDrive AD-7 Quick Reference"
    sections = {s.heading: s.text for s in doc.sections}
    assert set(sections) == {"", "Before you open the drive", "Common fault codes", "Key settings"}
    assert "| E12 | Dry-run protection |" in sections["Common fault codes"]
    assert "P10 minimum frequency: 25 Hz default, 30 Hz for VXM-4." in sections["Key settings"]
    assert "font-family" not in "".join(sections.values())


def test_pdf_pages_and_metadata_title():
    doc = read_one(EXTRA / "commissioning-checklist.pdf")
    assert doc.title == "Vortex Commissioning Checklist"
    assert [s.heading for s in doc.sections] == ["page 1"]
    assert "Vibration below 2.8 mm/s" in doc.sections[0].text


def test_jsonl_records_are_documents_with_their_own_ids():
    docs, errors = read_documents(str(EXTRA / "parts-catalog.jsonl"))
    assert errors == [] and len(docs) == 10
    assert docs[0].doc_id == "AQ-SEAL-100-S"
    assert docs[0].title == "Mechanical seal kit for Vortex VX-100"
    assert docs[0].source == "Aquilon Parts Catalogue 2024, page 12"


def test_bad_jsonl_records_are_reported_by_line_and_the_rest_kept(tmp_path):
    path = tmp_path / "records.jsonl"
    lines = ['{"id": "a", "text": "Pump A."}', "{broken", '{"id": "c", "title": "no text"}', '{"id": "d", "text": "D"}']
    path.write_text("\n".join(lines) + "\n")
    docs, errors = read_documents(str(path))
    assert [d.doc_id for d in docs] == ["a", "d"]
    assert [e.path for e in errors] == [f"{path}:2", f"{path}:3"]


@pytest.mark.parametrize(
    "name,content,why",
    [
        ("corrupt.pdf", b"%PDF-1.4\n this is not a pdf at all", "cannot parse"),
        ("empty.md", b"", "has no text"),
        ("blank.txt", b"  \n\n ", "has no text"),
        ("latin1.txt", "Pumpe für Wasser".encode("latin-1"), "not UTF-8"),
        ("slides.pptx", b"PK", "unsupported file type"),
    ],
)
def test_unreadable_files_give_an_error_naming_the_path(tmp_path, name, content, why):
    path = tmp_path / name
    path.write_bytes(content)
    docs, errors = read_documents(str(path))
    assert docs == []
    assert len(errors) == 1 and errors[0].path == str(path) and why in errors[0].why


def test_find_documents_expands_folders_and_globs(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a/one.md").write_text("# One\n\ntext")
    (tmp_path / "a/logo.png").write_bytes(b"\x89PNG")  # a folder gives only the known types
    (tmp_path / "two.txt").write_text("text")
    assert find_documents([str(tmp_path / "a"), str(tmp_path / "*.txt")]) == [
        str(tmp_path / "a/one.md"),
        str(tmp_path / "two.txt"),
    ]
    with pytest.raises(ConfigValueError, match="data.documents"):
        find_documents([str(tmp_path / "*.pdf")])


def test_html_text_in_plain_divs_is_kept(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(
        "<html><body><div class='wrap'><h1>Pump Notes</h1><div>Check the oil weekly.</div>"
        "<div><div>Replace the seal every 8000 h.</div></div><p>Vent the casing.</p></div></body></html>"
    )
    doc = read_one(path)
    assert doc.title == "Pump Notes"
    paragraphs = doc.sections[0].text.split("\n\n")
    assert paragraphs == ["Check the oil weekly.", "Replace the seal every 8000 h.", "Vent the casing."]


def test_plain_text_starting_with_a_sentence_keeps_it_as_text(tmp_path):
    path = tmp_path / "note-on-pumps.txt"
    path.write_text("Check the pump daily.\nLook for leaks.\n")
    doc = read_one(path)
    assert doc.title == "Note on pumps"
    assert doc.sections[0].text == "Check the pump daily.\nLook for leaks."


def test_documents_at_uris_are_found_and_read_through_pyarrow(tmp_path):
    """s3:// and gs:// folders and globs go through pyarrow.fs; a file:// URI (LocalFileSystem) stands in for them."""
    import shutil

    (tmp_path / "docs/sub").mkdir(parents=True)
    shutil.copy(ROOT / "data/pumps/docs/glossary.md", tmp_path / "docs/sub/glossary.md")
    shutil.copy(EXTRA / "commissioning-checklist.pdf", tmp_path / "docs/checklist.pdf")
    (tmp_path / "docs/logo.png").write_bytes(b"\x89PNG")  # a folder gives only the known types
    folder = f"file://{tmp_path}/docs"
    assert find_documents([folder]) == [f"{folder}/checklist.pdf", f"{folder}/sub/glossary.md"]
    assert find_documents([f"{folder}/**/*.md"]) == [f"{folder}/sub/glossary.md"]
    for uri, local in ((f"{folder}/sub/glossary.md", ROOT / "data/pumps/docs/glossary.md"),
                       (f"{folder}/checklist.pdf", EXTRA / "commissioning-checklist.pdf")):
        (doc,), errors = read_documents(uri)
        (same,), _ = read_documents(str(local))
        assert errors == [] and doc.source == uri and doc.sections == same.sections and doc.title == same.title
    with pytest.raises(ConfigValueError, match="data.documents"):
        find_documents([f"{folder}/*.txt"])
