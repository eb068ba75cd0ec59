"""Leakage guard: held-out questions must not appear (after normalisation) in the training data."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from phi3ray.errors import ConfigValueError, LeakageError
from phi3ray.eval.heldout import HeldoutQuestion
from phi3ray.eval.metrics import normalize_answer

logger = logging.getLogger(__name__)


@dataclass
class Overlap:
    path: str
    line: int
    question_id: str
    question: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: held-out {self.question_id} {self.question!r}"


def training_prompts(row: object) -> Iterator[str]:
    """The user-side texts of one training row in any of the three formats.

    chat: every user turn of "messages"; alpaca: "instruction", and instruction + input;
    qa: "question".
    """
    if not isinstance(row, dict):
        return
    for message in row.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "user" and isinstance(message.get("content"), str):
            yield message["content"]
    instruction, extra = row.get("instruction"), row.get("input")
    if isinstance(instruction, str):
        yield instruction
        if isinstance(extra, str) and extra.strip():
            yield f"{instruction} {extra}"
            yield extra
    if isinstance(row.get("question"), str):
        yield row["question"]


def find_overlaps(questions: Sequence[HeldoutQuestion], train_files: Sequence[str]) -> list[Overlap]:
    """Every (training file line, held-out question) pair whose normalised texts are equal."""
    wanted: dict[str, list[HeldoutQuestion]] = {}
    for question in questions:
        wanted.setdefault(normalize_answer(question.question), []).append(question)
    overlaps: list[Overlap] = []
    for name in train_files:
        path = Path(name).expanduser()
        if not path.is_file():
            raise ConfigValueError("data.train_files", name, "no such file; the leakage check needs to read it")
        with path.open(encoding="utf-8") as lines:
            for line_no, text in enumerate(lines, start=1):
                try:
                    row = json.loads(text) if text.strip() else None
                except json.JSONDecodeError:
                    continue  # malformed training rows are the training reader's to report
                hits = {normalize_answer(prompt) for prompt in training_prompts(row)} & wanted.keys()
                for key in sorted(hits):
                    overlaps += [Overlap(str(path), line_no, q.id, q.question) for q in wanted[key]]
    return overlaps


def guard_leakage(questions: Sequence[HeldoutQuestion], train_files: Sequence[str], allow: bool) -> list[Overlap]:
    """Raise LeakageError listing every overlap unless allow; return the overlaps (logged when allowed)."""
    overlaps = find_overlaps(questions, train_files)
    if overlaps and not allow:
        raise LeakageError([str(o) for o in overlaps])
    for overlap in overlaps:
        logger.warning("leakage (allowed): %s", overlap)
    return overlaps
