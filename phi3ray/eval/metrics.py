"""Per-answer metrics: exact match, token F1, ROUGE-L, key terms, citations (retrieval: phi3ray.rag.quality).

Answers are compared after SQuAD's normalisation (lowercase, punctuation and the articles a/an/the
removed, whitespace collapsed). A metric that does not apply to an answer (no key terms given, no
citation made) is NaN and left out of the aggregates.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence

NAN = float("nan")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_CITATIONS = re.compile(r"\s*\[\d+(?:\s*[,;]\s*\d+)*\]")  # [1], [1, 3], [2;4]
_DOTS = str.maketrans({"⋅": "·", "•": "·", "∙": "·"})  # dot operator, bullet, bullet operator -> middle dot


def _is_punctuation(char: str) -> bool:
    return char in string.punctuation or unicodedata.category(char).startswith("P")


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, drop punctuation (ASCII and Unicode), drop articles, collapse spaces."""
    text = "".join(c for c in text.lower() if not _is_punctuation(c))
    return " ".join(_ARTICLES.sub(" ", text).split())


def strip_citations(text: str) -> str:
    """The answer without its [n] source markers, so citing is not penalised by the text metrics."""
    return _CITATIONS.sub("", text)


def answer_tokens(text: str) -> list[str]:
    return normalize_answer(text).split()


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1; when either side normalises to nothing it is 1 if both do, else 0."""
    pred, ref = answer_tokens(prediction), answer_tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (dynamic programming, one row at a time)."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 (LCS-based, beta = 1) over normalised tokens; empty sides as in token_f1."""
    pred, ref = answer_tokens(prediction), answer_tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    lcs = lcs_length(pred, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def _fold(text: str) -> str:
    """Case- and Unicode-form-insensitive text for term matching: NFKC (m³ -> m3), casefold, one space."""
    return " ".join(unicodedata.normalize("NFKC", text).translate(_DOTS).casefold().split())


def contains_term(answer: str, term: str) -> bool:
    """Whether term occurs in answer (case-insensitive), not as part of a longer word or number.

    "2 h" is found in "after 2 h." but not in "12 h" or "2 hours"; "110 N·m" matches "110 n⋅m".
    """
    needle = _fold(term)
    if not needle:
        return False
    start = r"(?<![\w.])" if needle[0].isalnum() else ""
    end = r"(?![\w])(?!\.\d)" if needle[-1].isalnum() else ""
    return re.search(start + re.escape(needle) + end, _fold(answer)) is not None


def key_term_recall(answer: str, key_terms: Sequence[str]) -> float:
    """Share of the key terms the answer contains; NaN when there are none to check."""
    if not key_terms:
        return NAN
    return sum(contains_term(answer, term) for term in key_terms) / len(key_terms)


def citation_scores(
    cited: Sequence[int], source_numbers: Sequence[int], source_docs: Sequence[str], gold_doc_ids: Sequence[str]
) -> dict[str, float]:
    """cites: 1 if any source is cited; citation_valid: share of cited numbers that are real sources;
    citation_gold: share of the valid citations whose chunk comes from a gold document.

    Args:
        source_docs: the doc_id of each source, aligned with source_numbers.
    """
    numbers = sorted(set(cited))
    doc_of = dict(zip(source_numbers, source_docs))
    valid = [n for n in numbers if n in doc_of]
    scores = {"cites": float(bool(numbers)), "citation_valid": NAN, "citation_gold": NAN}
    if numbers:
        scores["citation_valid"] = len(valid) / len(numbers)
    if valid and gold_doc_ids:
        gold = set(gold_doc_ids)
        scores["citation_gold"] = sum(doc_of[n] in gold for n in valid) / len(valid)
    return scores


def perplexity(nll_sum: float, tokens: int) -> float:
    """exp(mean negative log-likelihood per token); NaN for no tokens."""
    return math.exp(nll_sum / tokens) if tokens else NAN
