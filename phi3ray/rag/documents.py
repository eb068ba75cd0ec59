"""Read documents for RAG: markdown, plain text, HTML, PDF and JSONL records, into titled sections."""

from __future__ import annotations

import glob
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from phi3ray.errors import ConfigValueError, DocumentReadError
from phi3ray.storage import find_files, is_uri, read_bytes

SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".text": "text", ".html": "html",
            ".htm": "html", ".pdf": "pdf", ".jsonl": "jsonl"}  # fmt: skip
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_HTML_BLOCKS = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "tr", "pre", "blockquote"]
_TEXT_HEADING = re.compile(r"^[A-Z][A-Za-z&/ -]{0,50}$")  # "Summary", "Action" in a plain-text bulletin


@dataclass
class Section:
    """A run of text under one heading ("" for the text before the first heading)."""

    heading: str
    text: str


@dataclass
class Document:
    doc_id: str  # file stem, or the record's id for JSONL
    title: str
    source: str  # path, URL or the record's own citation
    sections: list[Section] = field(default_factory=list)


def find_documents(patterns: list[str]) -> list[str]:
    """Expand globs (** allowed) and folders into a sorted list of files; raise if nothing matches.

    A folder contributes the files of the known types (SUFFIXES) under it; a glob contributes every
    file it matches, so that a file of another type is reported rather than silently skipped.
    """
    paths: set[str] = set()
    for pattern in patterns:
        if is_uri(pattern):  # s3:// gs:// file://: listed through pyarrow.fs (phi3ray.storage)
            found = find_files(pattern)
            folder = not glob.has_magic(pattern) and found != [pattern]
            paths.update(p for p in found if not folder or Path(p).suffix.lower() in SUFFIXES)
            continue
        full = os.path.expanduser(os.path.expandvars(pattern))  # relative stays relative: sources are stable
        # across machines and `ray job submit` working dirs, and cite as the user wrote them
        if os.path.isdir(full):
            found = glob.glob(os.path.join(full, "**", "*"), recursive=True)
            paths.update(p for p in found if os.path.isfile(p) and Path(p).suffix.lower() in SUFFIXES)
        else:
            paths.update(p for p in glob.glob(full, recursive=True) if os.path.isfile(p))
    if not paths:
        raise ConfigValueError("data.documents", patterns, "no file matches these folders or globs")
    return sorted(paths)


def read_documents(path: str) -> tuple[list[Document], list[DocumentReadError]]:
    """Parse one file into documents (one, or one per JSONL record) and the errors met on the way.

    A file that cannot be parsed at all gives no documents and one error; a bad JSONL record gives
    an error naming path:line while the other records are kept.
    """
    kind = SUFFIXES.get(Path(path).suffix.lower())
    if kind is None:
        return [], [DocumentReadError(path, f"unsupported file type; known: {', '.join(sorted(SUFFIXES))}")]
    errors: list[DocumentReadError] = []
    try:
        if kind == "pdf":
            docs = [_read_pdf(path)]
        else:
            text = read_bytes(path).decode("utf-8-sig")  # a local path or a URI
            docs = _read_jsonl(path, text, errors) if kind == "jsonl" else [_READERS[kind](path, text)]
    except UnicodeDecodeError as err:
        return [], [DocumentReadError(path, f"not UTF-8 text ({err.reason} at byte {err.start})")]
    except Exception as err:  # pypdf and bs4 raise many types for damaged files
        return [], [DocumentReadError(path, f"cannot parse: {type(err).__name__}: {str(err)[:200]}")]
    has_text = [any(s.text.strip() for s in doc.sections) for doc in docs]
    kept = [doc for doc, ok in zip(docs, has_text) if ok]
    errors += [DocumentReadError(path, f"document {d.doc_id!r} has no text") for d, ok in zip(docs, has_text) if not ok]
    if not docs and not errors:
        errors.append(DocumentReadError(path, "no records"))
    return kept, errors


def split_markdown(text: str) -> tuple[str | None, list[Section]]:
    """Split markdown on headings: (the first '# ' title or None, sections with their heading path)."""
    title, sections, path = None, [], []  # path: the open headings, e.g. ["Bearings", "Oil"]
    lines: list[str] = []
    in_fence = False

    def close() -> None:
        body = "\n".join(lines).strip()
        if body:
            sections.append(Section(" / ".join(h for _, h in path), body))
        lines.clear()

    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match is None:
            lines.append(line)
            continue
        level, heading = len(match.group(1)), match.group(2).strip()
        if level == 1 and title is None and not sections and not "".join(lines).strip():
            title = heading
            continue
        close()
        path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, heading)]
    close()
    return title, sections


def humanize(stem: str) -> str:
    """A title from a file name: 'field-notes-vxs-80' -> 'Field notes vxs 80'."""
    words = re.sub(r"[-_]+", " ", stem).strip()
    return words[:1].upper() + words[1:]


def _read_markdown(path: str, text: str) -> Document:
    title, sections = split_markdown(text)
    stem = Path(path).stem
    return Document(stem, title or humanize(stem), path, sections)


def _read_text(path: str, text: str) -> Document:
    """Plain text: a short first line without end punctuation is the title; a short capitalised line opening a
    paragraph is a heading."""
    stem = Path(path).stem
    lines = text.strip().splitlines()
    title = humanize(stem)
    if lines and len(lines[0].strip()) <= 120 and lines[0].strip()[-1:] not in ".!?:;,":
        title, lines = lines[0].strip(), lines[1:]
    sections: list[Section] = []
    heading, body = "", []
    for para in re.split(r"\n\s*\n", "\n".join(lines)):
        para_lines = para.strip().splitlines()
        if len(para_lines) > 1 and _TEXT_HEADING.match(para_lines[0].strip()):
            if "".join(body).strip():
                sections.append(Section(heading, "\n\n".join(body).strip()))
            heading, body = para_lines[0].strip(), ["\n".join(para_lines[1:])]
        else:
            body.append(para.strip())
    if "".join(body).strip():
        sections.append(Section(heading, "\n\n".join(body).strip()))
    return Document(stem, title, path, sections)


def _read_html(path: str, text: str) -> Document:
    """HTML to markdown-like text (headings, paragraphs, list items, table rows), then split as markdown."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "nav", "header", "footer", "noscript"]):
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    blocks: list[str] = []
    for el in (soup.body or soup).find_all([*_HTML_BLOCKS, "div"]):
        if el.name == "div" and el.find(_HTML_BLOCKS + ["div"]) is not None:
            continue  # a container: its children are read one by one
        if el.name == "tr":
            cells = [c.get_text(" ", strip=True) for c in el.find_all(["td", "th"])]
            blocks.append("| " + " | ".join(cells) + " |")
        elif el.name[0] == "h":
            blocks.append("\n" + "#" * int(el.name[1]) + " " + el.get_text(" ", strip=True) + "\n")
        elif el.find_parent(["li", "blockquote", "tr", "pre"]) is None:  # nested text is in its parent already
            words = " ".join(el.get_text(" ", strip=True).split())
            blocks.append(("- " if el.name == "li" else "") + words + ("" if el.name == "li" else "\n"))
    md_title, sections = split_markdown("\n".join(blocks))
    stem = Path(path).stem
    return Document(stem, title or md_title or humanize(stem), path, sections)


def _read_pdf(path: str) -> Document:
    """A PDF, one section per page ('page N'), title from its metadata or its first line."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(read_bytes(path)), strict=False)
    pages = [(page.extract_text() or "").strip() for page in reader.pages]
    meta_title = (reader.metadata.title if reader.metadata else None) or ""
    first_line = next((p.splitlines()[0].strip() for p in pages if p), "")
    stem = Path(path).stem
    title = meta_title.strip() or first_line[:120] or humanize(stem)
    sections = [Section(f"page {i}", text) for i, text in enumerate(pages, start=1) if text]
    return Document(stem, title, path, sections)


def _read_jsonl(path: str, text: str, errors: list[DocumentReadError]) -> list[Document]:
    """One document per record: text (required), id/doc_id, title, source/url; other keys are ignored."""
    docs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            errors.append(DocumentReadError(f"{path}:{number}", f"invalid JSON: {err.msg}"))
            continue
        if not isinstance(record, dict) or not str(record.get("text") or "").strip():
            errors.append(DocumentReadError(f"{path}:{number}", "a record needs a non-empty 'text'"))
            continue
        doc_id = str(record.get("doc_id") or record.get("id") or f"{Path(path).stem}-{number}")
        title, sections = split_markdown(str(record["text"]))
        title = str(record.get("title") or title or doc_id)
        source = str(record.get("source") or record.get("url") or f"{path}:{number}")
        docs.append(Document(doc_id, title, source, sections))
    return docs


_READERS = {"markdown": _read_markdown, "text": _read_text, "html": _read_html}
