"""Leakage guard: held-out questions must not appear in the training data, as copies or paraphrases.

The training files are the evaluation config's data.train_files plus every file the adapters' cards say they were
trained on. Checked per held-out question: its normalised text equals a training prompt (exact); its embedding
(the retriever's embedder) has cosine >= leakage_similarity with a training prompt (paraphrase); at least
leakage_answer_share of its reference answer's word n-grams sit in one training answer (answer). A paraphrase or an
answer overlap of a question whose row says in_train_facts: true is expected (the set measures whether training
taught that fact) and reported, not fatal. Also reported: which reference answers sit verbatim in the RAG documents
(expected: that is retrieval's job; a reader then knows which wins are retrieval and which memorisation).
Every finding names file:line on both sides.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from phi3ray.errors import ConfigValueError, LeakageError
from phi3ray.eval.heldout import HeldoutQuestion
from phi3ray.eval.metrics import normalize_answer
from phi3ray.storage import expand_path, file_sha256, is_file, read_text

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


def json_rows(path: str) -> Iterator[tuple[int, dict]]:
    """(line number, row) of every JSON object line of a JSONL file (local or URI); malformed lines are the
    readers' to report, the guard passes over them."""
    for line_no, text in enumerate(read_text(path).splitlines(), start=1):
        try:
            row = json.loads(text) if text.strip() else None
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            yield line_no, row


def find_overlaps(questions: Sequence[HeldoutQuestion], train_files: Sequence[str]) -> list[Overlap]:
    """Every (training file line, held-out question) pair whose normalised texts are equal."""
    wanted: dict[str, list[HeldoutQuestion]] = {}
    for question in questions:
        wanted.setdefault(normalize_answer(question.question), []).append(question)
    overlaps: list[Overlap] = []
    for name in train_files:
        path = expand_path(name)
        if not is_file(path):
            raise ConfigValueError("data.train_files", name, "no such file; the leakage check needs to read it")
        for line_no, row in json_rows(path):
            hits = {normalize_answer(prompt) for prompt in training_prompts(row)} & wanted.keys()
            for key in sorted(hits):
                overlaps += [Overlap(path, line_no, q.id, q.question) for q in wanted[key]]
    return overlaps


def guard_leakage(questions: Sequence[HeldoutQuestion], train_files: Sequence[str], allow: bool) -> list[Overlap]:
    """Raise LeakageError listing every overlap unless allow; return the overlaps (logged when allowed)."""
    overlaps = find_overlaps(questions, train_files)
    if overlaps and not allow:
        raise LeakageError([str(o) for o in overlaps])
    for overlap in overlaps:
        logger.warning("leakage (allowed): %s", overlap)
    return overlaps


@dataclass
class Finding:
    """One suspicious (training row, held-out question) pair, file:line on both sides."""

    kind: str  # exact | paraphrase | answer
    path: str  # training file
    line: int
    heldout: str  # held-out file:line
    question_id: str
    question: str
    detail: str  # what matched: the training text and cosine, or the n-gram share
    expected: bool = False  # the held-out row says the training data teaches this fact (in_train_facts: true)

    def __str__(self) -> str:
        note = " [expected: in_train_facts]" if self.expected else ""
        return f"{self.path}:{self.line}: held-out {self.question_id} {self.question!r} ({self.heldout}): " \
               f"{self.kind}, {self.detail}{note}"


def heldout_lines(path: str) -> dict[str, int]:
    """Held-out id -> line number (ids as read_heldout gives them: the row's id, or line-N)."""
    return {str(row.get("id") or f"line-{line_no}"): line_no for line_no, row in json_rows(path)}


def training_targets(row: object) -> Iterator[str]:
    """The answer-side texts of one training row: assistant turns, alpaca "output", qa "answer"."""
    if not isinstance(row, dict):
        return
    for message in row.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "assistant" and isinstance(message.get("content"), str):
            yield message["content"]
    for key in ("output", "answer"):
        if isinstance(row.get(key), str):
            yield row[key]


def _rows(train_files: Sequence[str]) -> Iterator[tuple[str, int, dict]]:
    for name in train_files:
        path = expand_path(name)
        for line_no, row in json_rows(path):
            yield path, line_no, row


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = normalize_answer(text).split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _identifiers(text: str) -> set[str]:
    """The words with a digit (VX-220, E21, P27): a question about another one is another question."""
    return {word for word in normalize_answer(text).split() if any(c.isdigit() for c in word)}


_PROMPT_VECTORS: dict[tuple, object] = {}  # (embedder, training files and hashes) -> their prompts' vectors


def find_paraphrases(questions: Sequence[HeldoutQuestion], train_files: Sequence[str], embedder, threshold: float,
                     where: dict[str, str]) -> list[Finding]:
    """Held-out questions whose embedding has cosine >= threshold with a training prompt (the closest one each)."""
    prompts = [(path, line, prompt) for path, line, row in _rows(train_files) for prompt in training_prompts(row)]
    if not prompts or not questions:
        return []
    key = (id(embedder), tuple((f, file_sha256(expand_path(f))) for f in train_files))
    if key not in _PROMPT_VECTORS:  # the training side once per process (a test session evaluates many times)
        _PROMPT_VECTORS.clear()
        _PROMPT_VECTORS[key] = embedder.embed([p for *_, p in prompts])  # (P, D)
    similarity = embedder.embed([q.question for q in questions]) @ _PROMPT_VECTORS[key].T  # (Q, P) cosines
    found = []
    for i, question in enumerate(questions):
        close = [j for j in similarity[i].argsort()[::-1] if similarity[i, j] >= threshold]
        ids = _identifiers(question.question)
        same = [j for j in close if not ids or not _identifiers(prompts[j][2]) or _identifiers(prompts[j][2]) == ids]
        text = normalize_answer(question.question)
        same = [j for j in same if normalize_answer(prompts[j][2]) != text]  # exact copies: find_overlaps
        if same:
            j = int(same[0])
            path, line, prompt = prompts[j]
            found.append(Finding("paraphrase", path, line, where[question.id], question.id, question.question,
                                 f"cosine {similarity[i, j]:.3f} with {prompt!r}", bool(question.in_train_facts)))
    return found


def find_answer_overlaps(questions: Sequence[HeldoutQuestion], train_files: Sequence[str], n: int, share: float,
                         where: dict[str, str]) -> list[Finding]:
    """Held-out questions with >= share of their reference answer's word n-grams in one training answer."""
    grams = {q.id: _ngrams(q.answer, n) for q in questions}
    best: dict[str, tuple[float, str, int]] = {}
    for path, line, row in _rows(train_files):
        target = set().union(*(_ngrams(t, n) for t in training_targets(row)))
        for qid, wanted in grams.items():
            if wanted and target:
                part = len(wanted & target) / len(wanted)
                if part > best.get(qid, (0.0,))[0]:
                    best[qid] = (part, path, line)
    return [Finding("answer", best[q.id][1], best[q.id][2], where[q.id], q.id, q.question,
                    f"{best[q.id][0]:.0%} of the reference answer's {n}-grams", bool(q.in_train_facts))
            for q in questions if q.id in best and best[q.id][0] >= share]


def answers_in_documents(questions: Sequence[HeldoutQuestion], patterns: Sequence[str]) -> dict[str, str]:
    """Held-out id -> the RAG document holding its reference answer verbatim (normalised), for answers of 3+ words."""
    from phi3ray.rag.documents import find_documents, read_documents

    texts = []
    for path in find_documents(list(patterns)):
        documents, _ = read_documents(path)
        texts += [(d.source, normalize_answer(" ".join(f"{s.heading} {s.text}" for s in d.sections)))
                  for d in documents]
    found = {}
    for question in questions:
        answer = normalize_answer(question.answer)
        if len(answer.split()) >= 3:
            source = next((src for src, text in texts if answer in text), None)
            if source is not None:
                found[question.id] = source
    return found


def card_train_files(lineage: dict) -> list[str]:
    """The training files the adapters' cards name (as given at training time), each checked to be here."""
    files = []
    for adapter in lineage.get("adapters", []):
        card = (adapter.get("cards") or {}).get("adapter_card.json") or {}
        for entry in (card.get("data") or {}).get("files", []):
            path = expand_path(entry["path"])
            if not is_file(path):
                raise ConfigValueError(f"adapters.{adapter['name']}", entry["path"], "its card says it was trained "
                                       "on this file, which is not here; the leakage guard reads it (run from the "
                                       "training checkout, or check_leakage=false)")
            if entry.get("sha256") and file_sha256(path) != entry["sha256"]:
                logger.warning("leakage guard: %s changed since adapter %s was trained on it", path, adapter["name"])
            files.append(path)
    return files


def guard(settings, questions: Sequence[HeldoutQuestion], lineage: dict) -> dict:
    """Run every check; raise LeakageError on a copy, or an unexpected paraphrase or answer overlap, unless
    allow_leakage; return what results.json records (findings as file:line <-> file:line lines)."""
    train_files = list(dict.fromkeys([*(expand_path(f) for f in settings.data.train_files),
                                      *card_train_files(lineage)]))
    for name in train_files:
        if not is_file(name):
            raise ConfigValueError("data.train_files", name, "no such file; the leakage check needs to read it")
    lines = heldout_lines(settings.data.heldout_file)
    where = {q.id: f"{settings.data.heldout_file}:{lines.get(q.id, '?')}" for q in questions}
    findings = [Finding("exact", o.path, o.line, where[o.question_id], o.question_id, o.question, "same text")
                for o in find_overlaps(questions, train_files)]
    if settings.leakage_similarity is not None:
        from phi3ray.rag.embedder import shared_embedder

        embedder = shared_embedder(settings.retriever.embedder)
        findings += find_paraphrases(questions, train_files, embedder, settings.leakage_similarity, where)
    findings += find_answer_overlaps(questions, train_files, settings.leakage_ngram, settings.leakage_answer_share,
                                     where)
    in_documents = answers_in_documents(questions, settings.data.documents) if settings.data.documents else {}
    leaks = [f for f in findings if not f.expected]
    if leaks and not settings.allow_leakage:
        raise LeakageError([str(f) for f in leaks])
    for finding in leaks:
        logger.warning("leakage (allowed): %s", finding)
    expected = [f for f in findings if f.expected]
    for finding in expected:
        logger.debug("leakage (expected): %s", finding)
    if expected:  # one line, not one per question: the report lists them
        logger.info("leakage check: %d expected overlap(s) with the training data (held-out rows marked "
                    "in_train_facts), listed in the report", len(expected))
    return {
        "checked": True,
        "train_files": train_files,
        "overlaps": [str(f) for f in leaks],  # the unexpected ones (allow_leakage=true let them through)
        "expected": [str(f) for f in expected],
        "answers_in_rag_documents": {qid: source for qid, source in in_documents.items()},
    }
