"""Read training JSONL in three formats (chat, alpaca, qa), validate every row, return chat messages.

    {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}   # chat (OpenAI roles)
    {"instruction": "...", "input": "...", "output": "..."}                          # alpaca (input optional)
    {"question": "...", "answer": "...", "context": "..."}                           # qa (context optional)

Every bad row becomes a ``DataFormatError`` naming ``path:line`` and what is wrong; all of them are
raised at once as ``DataErrors`` (``on_error="raise"``) or skipped and counted (``on_error="skip"``).
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from dataclasses import dataclass, field

from phi3ray.config import DataConfig
from phi3ray.errors import DataErrors, DataFormatError
from phi3ray.storage import read_bytes

logger = logging.getLogger(__name__)

FORMATS = ("chat", "alpaca", "qa")
ROLES = ("system", "user", "assistant")


@dataclass
class Example:
    """One training conversation: optional system message, then user/assistant turns ending with the assistant."""

    messages: list[dict[str, str]]
    source: str  # "path:line" of the row it came from
    doc_ids: list[str] = field(default_factory=list)  # the row's gold documents, when it names them (RAG rows)


@dataclass
class ReadReport:
    examples: list[Example]
    skipped: list[DataFormatError] = field(default_factory=list)  # on_error=skip: the bad rows, counted
    formats: Counter = field(default_factory=Counter)  # rows read per format


def detect_format(row: dict) -> str | None:
    """chat | alpaca | qa from the row's keys; None when no format fits."""
    if "messages" in row:
        return "chat"
    if "instruction" in row or "output" in row:
        return "alpaca"
    if "question" in row or "answer" in row:
        return "qa"
    return None


def _text(row: dict, key: str, *, required: bool) -> str | None:
    value = row.get(key)
    if value is None:
        if required:
            raise ValueError(f"missing field {key!r}")
        return None
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise ValueError(f"field {key!r} is empty")
    return value


def chat_messages(row: dict) -> list[dict[str, str]]:
    """Validate a chat row: optional system first, then user/assistant alternating, ending with the assistant."""
    messages = row["messages"]
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list")
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise ValueError(f"messages[{i}] must be an object with 'role' and 'content'")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise ValueError(f"messages[{i}].role={role!r}: must be one of {', '.join(ROLES)}")
        if not isinstance(content, str):
            raise ValueError(f"messages[{i}].content must be a string, got {type(content).__name__}")
        if role == "assistant" and not content.strip():
            raise ValueError(f"messages[{i}]: the assistant's content is empty")
        out.append({"role": role, "content": content})
    turns = out[1:] if out[0]["role"] == "system" else out
    for i, message in enumerate(turns):
        expected = "user" if i % 2 == 0 else "assistant"
        if message["role"] != expected:
            index = i + (len(out) - len(turns))
            raise ValueError(
                f"messages[{index}].role={message['role']!r}: expected {expected!r} "
                "(an optional system message, then user and assistant turns alternating)"
            )
    if not turns or turns[-1]["role"] != "assistant":
        raise ValueError("the last message must be the assistant's answer (nothing to learn otherwise)")
    return out


def alpaca_messages(row: dict) -> list[dict[str, str]]:
    """instruction (+ input) as the user turn, output as the assistant's."""
    instruction = _text(row, "instruction", required=True)
    extra = _text(row, "input", required=False)
    output = _text(row, "output", required=True)
    user = f"{instruction}\n\n{extra}" if extra and extra.strip() else instruction
    return [{"role": "user", "content": user}, {"role": "assistant", "content": output}]


def qa_messages(row: dict) -> list[dict[str, str]]:
    """question (after the context, when given) as the user turn, answer as the assistant's."""
    question = _text(row, "question", required=True)
    answer = _text(row, "answer", required=True)
    context = _text(row, "context", required=False)
    user = f"Context:\n{context}\n\nQuestion: {question}" if context and context.strip() else question
    return [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]


CONVERTERS = {"chat": chat_messages, "alpaca": alpaca_messages, "qa": qa_messages}


def row_messages(row: object, fmt: str, system_prompt: str | None) -> list[dict[str, str]]:
    """Validate one parsed row in format fmt (or auto) and return its chat messages; ValueError says why not."""
    if not isinstance(row, dict):
        raise ValueError(f"a row must be a JSON object, got {type(row).__name__}")
    found = detect_format(row)
    if fmt == "auto":
        if found is None:
            raise ValueError("no known format: expected 'messages' (chat), 'instruction'/'output' (alpaca) "
                             "or 'question'/'answer' (qa)")
        fmt = found
    elif found != fmt:
        raise ValueError(f"data.format={fmt} but the row has keys {sorted(row)}")
    messages = CONVERTERS[fmt](row)
    if system_prompt and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages


def row_doc_ids(row: dict) -> list[str]:
    """The row's optional "doc_ids": the documents its answer comes from (RAG training rows use them as gold)."""
    doc_ids = row.get("doc_ids", [])
    if not isinstance(doc_ids, list) or not all(isinstance(d, str) and d for d in doc_ids):
        raise ValueError("'doc_ids' must be a list of document ids (strings)")
    return doc_ids


def read_file(path: str, fmt: str = "auto", system_prompt: str | None = None) -> tuple[list[Example], list[DataFormatError], Counter]:
    """Every valid row of one JSONL file, and a DataFormatError per bad row."""
    examples, errors, formats = [], [], Counter()
    try:
        lines = read_bytes(path).decode("utf-8").splitlines()  # a local path or s3:// / gs:// / file:// URI
    except FileNotFoundError:
        return [], [DataFormatError(path, 0, "no such file")], formats
    except UnicodeDecodeError as err:
        return [], [DataFormatError(path, 0, f"not UTF-8 text ({err.reason} at byte {err.start})")], formats
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            errors.append(DataFormatError(path, number, f"invalid JSON: {err.msg} (column {err.colno})"))
            continue
        try:
            messages = row_messages(row, fmt, system_prompt)
        except ValueError as err:
            errors.append(DataFormatError(path, number, str(err)))
            continue
        try:
            doc_ids = row_doc_ids(row)
        except ValueError as err:
            errors.append(DataFormatError(path, number, str(err)))
            continue
        examples.append(Example(messages, f"{path}:{number}", doc_ids))
        formats[fmt if fmt != "auto" else detect_format(row)] += 1
    if not examples and not errors:
        errors.append(DataFormatError(path, 0, "the file has no rows"))
    return examples, errors, formats


def read_examples(
    paths: list[str], fmt: str = "auto", system_prompt: str | None = None, on_error: str = "raise"
) -> ReadReport:
    """Read and validate every file; raise DataErrors with every bad row, or skip and count them."""
    report = ReadReport(examples=[])
    errors: list[DataFormatError] = []
    for path in paths:
        examples, bad, formats = read_file(path, fmt, system_prompt)
        report.examples += examples
        report.formats += formats
        errors += bad
    missing = [e for e in errors if e.line == 0]  # a missing or empty file is never skipped
    if errors and (on_error == "raise" or missing):
        raise DataErrors(missing or errors)
    if errors:
        report.skipped = errors
        logger.warning("skipped %d bad row(s) (data.on_error=skip), first: %s", len(errors), errors[0])
    if not report.examples:
        raise DataErrors([DataFormatError(", ".join(paths), 0, "no valid rows")])
    return report


def split_examples(examples: list[Example], eval_fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """A seeded random share of the rows for eval loss, the rest for training (order kept)."""
    if eval_fraction <= 0:
        return list(examples), []
    n_eval = max(1, round(len(examples) * eval_fraction))
    if n_eval >= len(examples):
        raise DataErrors([DataFormatError(examples[0].source.rsplit(":", 1)[0], 0,
                                          f"{len(examples)} row(s) cannot spare {n_eval} for eval (data.eval_fraction)")])
    held = set(random.Random(seed).sample(range(len(examples)), n_eval))
    train = [e for i, e in enumerate(examples) if i not in held]
    evals = [e for i, e in enumerate(examples) if i in held]
    return train, evals


def read_training_data(d: DataConfig) -> tuple[ReadReport, ReadReport | None]:
    """data.train_files and data.eval_files (None when eval rows are split off the training rows), checked
    row by row under data.on_error. The training driver reads them once and hands them to every worker."""
    train = read_examples(d.train_files, d.format, d.system_prompt, d.on_error)
    held = read_examples(d.eval_files, d.format, d.system_prompt, d.on_error) if d.eval_files else None
    return train, held
