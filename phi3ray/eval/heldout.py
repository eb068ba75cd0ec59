"""Read the held-out question set: JSONL rows with question, answer and optional doc_ids and key_terms."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from phi3ray.errors import ConfigValueError, DataErrors, DataFormatError


@dataclass
class HeldoutQuestion:
    id: str  # the row's "id", or "line-N"
    question: str
    answer: str  # the reference answer
    doc_ids: list[str] = field(default_factory=list)  # gold documents (for recall@k, MRR, citations)
    key_terms: list[str] = field(default_factory=list)  # strings a correct answer must contain


def _string_list(row: dict, key: str) -> list[str]:
    value = row.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key!r} must be a list of strings")
    return value


def _parse(row: object, line: int) -> HeldoutQuestion:
    if not isinstance(row, dict):
        raise ValueError("each line must be a JSON object")
    for key in ("question", "answer"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise ValueError(f"{key!r} must be a non-empty string")
    return HeldoutQuestion(
        id=str(row.get("id", f"line-{line}")),
        question=row["question"],
        answer=row["answer"],
        doc_ids=_string_list(row, "doc_ids"),
        key_terms=_string_list(row, "key_terms"),
    )


def read_heldout(path: str | None, max_questions: int = -1) -> list[HeldoutQuestion]:
    """Every question of the file (or the first max_questions); all bad lines are reported at once."""
    if not path:
        raise ConfigValueError("data.heldout_file", path, "evaluation needs a held-out JSONL file")
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigValueError("data.heldout_file", path, f"no such file (looked in {file.resolve().parent})")
    questions: list[HeldoutQuestion] = []
    errors: list[DataFormatError] = []
    for line_no, text in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            questions.append(_parse(json.loads(text), line_no))
        except (json.JSONDecodeError, ValueError) as err:
            errors.append(DataFormatError(str(file), line_no, str(err)))
    if errors:
        raise DataErrors(errors)
    if not questions:
        raise ConfigValueError("data.heldout_file", path, "the file has no questions")
    seen: set[str] = set()
    duplicates = sorted({q.id for q in questions if q.id in seen or seen.add(q.id)})
    if duplicates:
        raise ConfigValueError("data.heldout_file", path, f"duplicate ids: {', '.join(duplicates[:10])}")
    return questions[:max_questions] if max_questions > 0 else questions
