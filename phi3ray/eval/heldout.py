"""Read the held-out question set: JSONL rows with question, answer and optional doc_ids, key_terms,
answerable and in_train_facts.

A question's kind says what it tests, so the report can break scores down by it: "taught" (the fact is
also in the training data: can fine-tuning recall it?), "documents" (only in the documents: can retrieval
find it?), "unanswerable" (nothing holds the answer: does the model say so?) or "unlabelled".
"""

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
    answerable: bool = True  # False: no source holds the answer, the right reply is an abstention
    in_train_facts: bool | None = None  # whether the training data teaches the fact; None: not labelled

    @property
    def kind(self) -> str:
        """One of KINDS: unanswerable, taught, documents or unlabelled."""
        if not self.answerable:
            return "unanswerable"
        if self.in_train_facts is None:
            return "unlabelled"
        return "taught" if self.in_train_facts else "documents"


KINDS = ("taught", "documents", "unanswerable", "unlabelled")  # the order tables list them in


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
    answerable = row.get("answerable", True)
    if not isinstance(answerable, bool):
        raise ValueError(f"'answerable' must be true or false, not {answerable!r}")
    in_train_facts = row.get("in_train_facts")
    if in_train_facts is not None and not isinstance(in_train_facts, bool):
        raise ValueError(f"'in_train_facts' must be true, false or null, not {in_train_facts!r}")
    question = HeldoutQuestion(
        id=str(row.get("id", f"line-{line}")),
        question=row["question"],
        answer=row["answer"],
        doc_ids=_string_list(row, "doc_ids"),
        key_terms=_string_list(row, "key_terms"),
        answerable=answerable,
        in_train_facts=in_train_facts,
    )
    if not answerable:
        # nothing can be gold for a question no source answers, and no term can mark its answer right
        given = [key for key in ("doc_ids", "key_terms") if getattr(question, key)]
        given += ["in_train_facts"] if in_train_facts is not None else []
        if given:
            raise ValueError(f"an unanswerable question ('answerable': false) has no {', '.join(given)}")
    return question


def read_heldout(path: str | None, max_questions: int = -1) -> list[HeldoutQuestion]:
    """Every question of the file, or max_questions of them (see spread); all bad lines are reported at once."""
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
    if 0 < max_questions < len(questions):
        return spread(questions, max_questions)
    return questions


def spread(questions: list[HeldoutQuestion], n: int) -> list[HeldoutQuestion]:
    """n of questions, in file order: each kind gets its share of n (largest remainders; at least one when n allows
    every kind one), taken evenly over that kind's questions. Even spacing over the whole file would not do: the
    sample alternates documents and taught questions, so every second question is all of one kind."""
    groups = {kind: [q for q in questions if q.kind == kind] for kind in KINDS}
    groups = {kind: group for kind, group in groups.items() if group}
    quota = {kind: n * len(group) / len(questions) for kind, group in groups.items()}
    seats = {kind: int(q) for kind, q in quota.items()}
    for kind in sorted(groups, key=lambda k: seats[k] - quota[k])[: n - sum(seats.values())]:  # largest remainders
        seats[kind] += 1
    if n >= len(groups):
        for kind in [k for k in groups if not seats[k]]:  # a small kind rounded to none: one from the largest share
            seats[max(seats, key=seats.get)] -= 1
            seats[kind] = 1
    chosen = {id(group[(2 * i + 1) * len(group) // (2 * seats[kind])])  # centred in each of seats[kind] equal parts
              for kind, group in groups.items() for i in range(seats[kind])}
    return [q for q in questions if id(q) in chosen]
