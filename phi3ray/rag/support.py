"""Do the retrieved sources hold what the question asks? A lexical support check that means the same for every query.

Retrieval always returns its top_k chunks, and an on-topic question the documents do not answer ("What RAL
colour is a VX-220 painted?") retrieves chunks as similar to it as an answerable one does: the VX-220's
manuals. What they lack is the question's specific terms. So:

    coverage(question, sources) = sum of idf(t) over the question's terms t that a source holds
                                  / sum of idf(t) over all the question's terms

with idf the BM25 inverse document frequency of t in the collection (Weaviate counts the chunks holding it):
a term rare in the corpus ("RAL", "E31", "600") weighs much, one on every page ("pump") next to nothing, and
a term no chunk holds weighs most. The question's terms are its words as Weaviate's word tokenizer splits
them, codes kept whole ("VX-300", "E31"), less English function words; a chunk holds a term when it holds a
word of the same Porter2 stem ("bearings" ~ "bearing") or, for words, one whose embedding is close to the
term's ("weigh" ~ "weight", "max" ~ "maximum"): questions and manuals rarely use the same words. A chunk's
words are those of its heading line and text, what the embedder saw. Each word is embedded once per Retriever
(a bounded cache, ~1.5 KB a word).

An identifier is held or not, never in part: a question naming one (a model, part or fault code: "VX-600",
"E31") that none of the sources mentions has coverage 0. The idf share alone would let "What is the rated flow
of the VX-600?" pass on sources about the VX-300's rated flow. Retriever.search puts a chunk about each
identifier the question names among the sources when the collection (within the search's filters) has one, so
a missing identifier mostly means that the documents never mention it.

The score is absolute: a share of the question's own terms, comparable across queries, unlike the hybrid
score (normalised per query). retriever.min_coverage is the floor under the coverage of all the chunks a
search found: below it the search returns none. bench/abstention.py chooses it on the training questions
(answerable, so it bounds how often an answerable question loses its sources) and reports it on held-out ones.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable

import numpy as np
import snowballstemmer

# a code ("VX-300", "AD-7", "E31", "7313") is one term; other words split as Weaviate's word tokenizer splits them
# (any letters, not only ASCII; stems and function words are English)
_TOKEN = re.compile(r"[^\W\d_]+-?\d[^\W_]*|\d[^\W_]*|[^\W\d_]+")
SIMILAR = 0.65  # cosine of two words' embeddings at which one stands for the other ("weigh" ~ "weight": 0.91)

# Function words and the words a question is phrased with; they say nothing about what a source must contain.
# The last line: what Weaviate's word tokenizer leaves of contractions ("doesn't": "doesn", "t") and of a "re-"
# prefix ("re-checked": "re", "checked"); kept as terms, no chunk holds them and they weigh the most.
FUNCTION_WORDS = frozenset("""
a about above after again against all also am an and any are as at be been before being below between both but by
can could did do does doing done during each either else ever few for from further had has have having he her here
hers him his how i if in into is it its itself just let me more most my no nor not of off on once only or other our
out over own please same she should so some such than that the their them then there these they this those through
to too under until up upon us very was we were what when where whether which while who whom whose why will with
would you your yours
tell explain describe give find know need say says said want like get got use using used
much many often long
don doesn didn isn aren wasn weren won wouldn shouldn couldn haven hasn hadn mustn needn ll ve re
""".split())


def tokens(text: str) -> list[str]:
    """text's words and codes, lower-case, a code without its hyphen ("VX-300" -> "vx300")."""
    return [t.replace("-", "") for t in _TOKEN.findall(text.lower())]


def terms(text: str) -> list[str]:
    """The distinct content terms of text, in order: function words and 1-letter words left out."""
    seen: dict[str, None] = {}
    for word in tokens(text):
        if len(word) > 1 and word not in FUNCTION_WORDS:
            seen.setdefault(word, None)
    return list(seen)


def is_code(term: str) -> bool:
    return any(ch.isdigit() for ch in term)


def is_identifier(term: str) -> bool:
    """A code that names one thing, letters then digits: a model, part or fault code ("vx300", "e31", "gr80"), not
    a quantity ("60hz", "2900rpm") or a number."""
    return len(term) >= 3 and is_code(term) and term[0].isalpha()


def identifiers(text: str) -> list[str]:
    """The identifiers text names, in order ("What does E31 mean on the AD-7?" -> ["e31", "ad7"])."""
    return [t for t in terms(text) if is_identifier(t)]


def holds(identifier: str, text: str) -> bool:
    """Whether text names identifier, exactly ("VX-300" and "VX300" name vx300; "VX-3000" and "VX 300" do not)."""
    return identifier in tokens(text)


def missing_identifiers(question_terms: Iterable[str], texts: Iterable[str]) -> list[str]:
    """The identifiers among question_terms that none of texts holds: sources that never mention E31 do not
    answer a question about it, however much else of the question they hold."""
    return _unheld_identifiers(question_terms, {word for text in texts for word in tokens(text)})


def _unheld_identifiers(question_terms: Iterable[str], held: set[str]) -> list[str]:
    return [t for t in question_terms if is_identifier(t) and t not in held]


def weaviate_forms(term: str) -> list[list[str]]:
    """The word lists Weaviate's word tokenizer (split at anything not a letter or digit) may have made of a term:
    our tokens drop a code's hyphen, so "VX-300A" ["vx", "300a"] and "VX300A" ["vx300a"] are both asked for."""
    split = re.fullmatch(r"([^\W\d_]+)(\d[^\W_]*)", term)
    return [list(split.groups()), [term]] if split else [[term]]


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Porter2 (Snowball English) stem of a lower-case word ("bearings" -> "bear", "replaced" -> "replac");
    codes (part numbers, model and fault codes, quantities) compare exactly."""
    return word if is_code(word) else _STEMMER.stemWord(word)


_STEMMER = snowballstemmer.stemmer("english")


def bm25_idf(document_frequency: int, documents: int) -> float:
    """BM25's inverse document frequency (always > 0; a term no chunk holds weighs the most)."""
    return math.log(1.0 + (documents - document_frequency + 0.5) / (document_frequency + 0.5))


class WordVectors:
    """Embeddings of single words, each computed once: whether a text holds a word that stands for a term."""

    MAX_WORDS = 200_000  # ~300 MB of MiniLM vectors at most; question terms come from users, so it is bounded

    def __init__(self, embed: Callable[[list[str]], np.ndarray]):
        self.embed = embed  # texts -> (N, D) unit rows
        self.vectors: dict[str, np.ndarray] = {}

    def matrix(self, words: Iterable[str]) -> np.ndarray | None:
        """The embeddings of words that are not codes, one row each; None when there is none."""
        words = [w for w in words if not is_code(w)]
        if not words:
            return None
        self._embed_missing(words)
        return np.stack([self.vectors[w] for w in words])

    def similar(self, term: str, matrix: np.ndarray | None) -> bool:
        """Whether one of matrix's words has an embedding within SIMILAR of term's (a code never)."""
        if is_code(term) or matrix is None:
            return False
        self._embed_missing([term])
        return bool((matrix @ self.vectors[term]).max() >= SIMILAR)

    def _embed_missing(self, words: list[str]) -> None:
        missing = [w for w in dict.fromkeys(words) if w not in self.vectors]
        if not missing:
            return
        if len(self.vectors) + len(missing) > self.MAX_WORDS:
            self.vectors.clear()
        self.vectors.update(zip(missing, self.embed(missing)))


def coverage(
    question_terms: Iterable[str], texts: Iterable[str], weight: Callable[[str], float],
    vectors: WordVectors | None = None,
) -> float:
    """The weighted share of question_terms that texts hold, together: a term counts when one of them has a
    word of its stem or (vectors given) a word similar in meaning ("weight" for "weigh"); a code only exactly.
    0.0 when an identifier of the question is in none of texts (missing_identifiers); 1.0 when the question has
    no terms."""
    question_terms = list(question_terms)
    vocabularies = [set(tokens(text)) for text in texts]  # each text read once
    if _unheld_identifiers(question_terms, set().union(*vocabularies)):  # missing_identifiers
        return 0.0
    stems = [{stem(word) for word in words} for words in vocabularies]
    matrices: list[np.ndarray | None] | None = None  # embedded only when a term is not held by its stem
    total = found = 0.0
    for term in question_terms:
        w = weight(term)
        total += w
        if any(stem(term) in held for held in stems):
            found += w
        elif vectors is not None and not is_code(term):
            if matrices is None:
                matrices = [vectors.matrix(words) for words in vocabularies]
            if any(vectors.similar(term, m) for m in matrices):
                found += w
    return found / total if total > 0 else 1.0
