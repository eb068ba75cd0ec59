"""Score every answer, then aggregate per variant (bootstrap CIs) and compare each variant with its reference.

Unanswerable questions (HeldoutQuestion.answerable false) have no right wording: their reference is the
abstention sentence, so EM, F1, ROUGE-L and the reference perplexity would reward echoing that one sentence
and punish any other way of declining, and they have no key terms. These metrics, and "cites a source" (a
right refusal cites nothing), are NaN for unanswerable questions, so the NaN-skipping aggregates cover the
answerable questions only. What counts on unanswerable questions is whether a variant abstains
(phi3ray.rag.prompt.is_abstention on its answer), measured over all questions by:

- abstain_rate: the share of questions the variant abstained on.
- abstain_precision: of the questions it abstained on, the share that are unanswerable (NaN: no abstention).
- abstain_recall: of the unanswerable questions, the share it abstained on (NaN: no unanswerable question).
- answered_accuracy: of the answerable questions it did not abstain on, the share it got right: every key
  term present (key-term recall 1), or token F1 >= CORRECT_F1 for a question without key terms (NaN: it
  answered none). Abstaining on an answerable question is counted by precision, not here.

Precision and recall are ratios over the question set, not means of per-question values: each answer's
`abstention_case` encodes (abstained, unanswerable) as ABSTAINED * abstained + UNANSWERABLE * unanswerable,
and their statistics count the cases in each bootstrap resample, so the CI reflects how many abstentions
and unanswerable questions a resample happens to hold. A resample without an abstention has no precision
(one without an unanswerable question no recall): a variant's interval leaves such resamples out
(_defined_resamples); a paired comparison must keep both variants' resamples aligned, so its interval is
n/a when any resample is undefined, and it is not tested at all when either variant's value is undefined.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from phi3ray.eval import metrics
from phi3ray.eval.heldout import KINDS
from phi3ray.eval.significance import (
    Comparison,
    Estimate,
    Statistic,
    bootstrap,
    exp_mean_statistic,
    mean_statistic,
    paired_comparison,
)
from phi3ray.eval.variants import QuestionPrompts, Variant
from phi3ray.eval.worker import AnswerRecord
from phi3ray.names import BASE_VARIANT, RAG_SUFFIX
from phi3ray.rag.prompt import cited_numbers, is_abstention
from phi3ray.rag.quality import recall_at_k, reciprocal_rank

NAN = float("nan")
ABSTAINED, UNANSWERABLE = 1, 2  # the bits of a per-question abstention_case
CORRECT_F1 = 0.5  # an answer to a question without key terms is right from this token F1 on
ANSWERABLE_ONLY = ("exact_match", "f1", "rouge_l", "key_terms", "perplexity", "cites")  # NaN when unanswerable


def _share(hits: np.ndarray, of: np.ndarray) -> np.ndarray:
    """hits / of, NaN where of is 0."""
    return np.where(of > 0, hits / np.where(of > 0, of, 1), NAN)


def abstain_precision_statistic(cases: np.ndarray) -> np.ndarray:
    """Of the abstentions in each (resampled) set of abstention_cases, the share on unanswerable questions."""
    abstained = (cases.astype(int) & ABSTAINED) > 0
    unanswerable = (cases.astype(int) & UNANSWERABLE) > 0
    return _share((abstained & unanswerable).sum(axis=-1), abstained.sum(axis=-1))


def abstain_recall_statistic(cases: np.ndarray) -> np.ndarray:
    """Of the unanswerable questions in each (resampled) set of abstention_cases, the share abstained on."""
    abstained = (cases.astype(int) & ABSTAINED) > 0
    unanswerable = (cases.astype(int) & UNANSWERABLE) > 0
    return _share((abstained & unanswerable).sum(axis=-1), unanswerable.sum(axis=-1))


@dataclass(frozen=True)
class MetricSpec:
    key: str  # the name in results.json, the report and gate.metric
    label: str  # column heading
    higher_is_better: bool | None  # None: neither direction is better (how often a variant abstains)
    statistic: Statistic  # over per-question values
    rag_only: bool = False  # defined only for +rag variants
    group: str = "quality"  # quality | abstention | citations | speed: the report's table
    score: str | None = None  # the per-question score it aggregates, when not named key

    @property
    def score_key(self) -> str:
        return self.score or self.key


METRICS = (
    MetricSpec("exact_match", "EM", True, mean_statistic),
    MetricSpec("f1", "F1", True, mean_statistic),
    MetricSpec("rouge_l", "ROUGE-L", True, mean_statistic),
    MetricSpec("key_terms", "Key terms", True, mean_statistic),
    # per question: mean -log p per reference token; aggregated: exp(mean) = geometric-mean perplexity
    MetricSpec("perplexity", "Ref. perplexity", False, exp_mean_statistic),
    MetricSpec("abstain_rate", "Abstains", None, mean_statistic, group="abstention", score="abstained"),
    MetricSpec("abstain_precision", "Abstain precision", True, abstain_precision_statistic, group="abstention",
               score="abstention_case"),
    MetricSpec("abstain_recall", "Abstain recall", True, abstain_recall_statistic, group="abstention",
               score="abstention_case"),
    MetricSpec("answered_accuracy", "Answered accuracy", True, mean_statistic, group="abstention",
               score="answered_correct"),
    MetricSpec("cites", "Cites a source", True, mean_statistic, rag_only=True, group="citations"),
    MetricSpec("citation_valid", "Valid citations", True, mean_statistic, rag_only=True, group="citations"),
    MetricSpec("citation_gold", "Gold citations", True, mean_statistic, rag_only=True, group="citations"),
    MetricSpec("latency_s", "Latency (s)", False, mean_statistic, group="speed"),
    MetricSpec("tokens_per_s", "Tokens/s", True, mean_statistic, group="speed"),
)
METRIC_KEYS = tuple(spec.key for spec in METRICS)
SCORE_KEYS = tuple(dict.fromkeys(spec.score_key for spec in METRICS))  # what score_answer returns
RETRIEVAL = ("recall_at_k", "mrr", "declined")


def metric_spec(key: str) -> MetricSpec:
    return next(spec for spec in METRICS if spec.key == key)


def score_answer(record: AnswerRecord, prompt: QuestionPrompts, rag: bool) -> dict[str, float]:
    """Every per-question score of one answer (SCORE_KEYS); `perplexity` here is the mean NLL, whose
    exp() over questions the aggregate is, and `abstention_case` the input of abstain precision/recall."""
    question = prompt.question
    tokens = record.reference_tokens
    text = metrics.strip_citations(record.answer)  # every variant's text is scored without [n] markers
    abstained = is_abstention(record.answer)
    scores = {
        "exact_match": metrics.exact_match(text, question.answer),
        "f1": metrics.token_f1(text, question.answer),
        "rouge_l": metrics.rouge_l(text, question.answer),
        "key_terms": metrics.key_term_recall(text, question.key_terms),
        "perplexity": record.reference_nll / tokens if tokens else NAN,
        "cites": NAN,
        "citation_valid": NAN,
        "citation_gold": NAN,
        "latency_s": record.latency_s,
        "tokens_per_s": record.completion_tokens / record.latency_s if record.latency_s > 0 else NAN,
        "abstained": float(abstained),
        "abstention_case": float(ABSTAINED * abstained + UNANSWERABLE * (not question.answerable)),
        "answered_correct": NAN,
    }
    if rag:
        numbers = [source["number"] for source in prompt.sources]
        docs = [source["doc_id"] for source in prompt.sources]
        scores.update(metrics.citation_scores(cited_numbers(record.answer), numbers, docs, question.doc_ids))
    if not question.answerable:
        scores.update(dict.fromkeys(ANSWERABLE_ONLY, NAN))
    elif not abstained:
        right = scores["key_terms"] == 1.0 if question.key_terms else scores["f1"] >= CORRECT_F1
        scores["answered_correct"] = float(right)
    return scores


def retrieval_scores(prompt: QuestionPrompts, k: int) -> dict[str, float]:
    """recall@k and reciprocal rank over the retrieved chunks' doc ids (rag.quality's; NaN without gold ids), and
    whether the search left no source (1.0: the +rag variants answer prompt.ABSTAIN without running the model)."""
    gold = prompt.question.doc_ids
    declined = float(prompt.declined)
    if not gold:
        return {"recall_at_k": NAN, "mrr": NAN, "declined": declined}
    return {
        "recall_at_k": recall_at_k(prompt.retrieved_doc_ids, gold, k),
        "mrr": reciprocal_rank(prompt.retrieved_doc_ids, gold),
        "declined": declined,
    }


@dataclass
class KindScores:
    """One variant's scores on the questions of one kind (HeldoutQuestion.kind): mean and 95% bootstrap CI."""

    variant: str
    kind: str  # one of heldout.KINDS
    questions: int
    f1: Estimate  # NaN for unanswerable questions, as in the overall table
    key_terms: Estimate
    abstain_rate: Estimate


BY_KIND = ("f1", "key_terms", "abstain_rate")  # the metrics KindScores holds


@dataclass
class Summary:
    metrics: dict[str, dict[str, dict]]  # variant -> metric -> Estimate as a dict
    comparisons: list[dict]  # one per (variant, reference, metric): Comparison as a dict
    retrieval: dict[str, dict] | None  # recall_at_k / mrr / declined -> Estimate as a dict, and k
    by_kind: list[KindScores] = field(default_factory=list)  # per variant, per kind present, in KINDS order


def summarize(
    variants: Sequence[Variant],
    scores: dict[str, list[dict[str, float]]],
    retrieval: list[dict[str, float]] | None,
    k: int,
    samples: int,
    seed: int,
    kinds: Sequence[str] | None = None,
) -> Summary:
    """Aggregate per variant and compare each variant with base; a +rag variant also with base+rag, its own
    adapter without RAG, and every earlier adapter's +rag variant (two adapters behind the same retrieval).

    Args:
        scores: variant name -> per-question score dicts, all in the same question order.
        kinds: each question's kind, in that order, for the per-kind breakdown (None: no breakdown).
    """
    table: dict[str, dict[str, dict]] = {}
    for variant in variants:
        rows = scores[variant.name]
        table[variant.name] = {
            spec.key: asdict(_estimate(rows, spec, samples, seed))
            for spec in METRICS
            if variant.rag or not spec.rag_only
        }
    comparisons = []
    for variant in variants:
        references = [BASE_VARIANT] if variant.name != BASE_VARIANT else []
        if variant.rag and variant.reference != variant.name:
            references.append(variant.reference)  # adapter+rag vs base+rag: does the adapter add to RAG?
        if variant.rag and variant.adapter_variant not in (BASE_VARIANT, variant.name):
            references.append(variant.adapter_variant)  # adapter+rag vs adapter: does RAG add to the adapter?
        earlier = variants[: variants.index(variant)]
        # adapter+rag vs an earlier adapter's +rag (the RAG-trained adapter vs the plain one, both behind RAG)
        references += [v.name for v in earlier if v.rag and variant.rag and BASE_VARIANT not in (v.adapter_variant,
                                                                                              variant.adapter_variant)]
        for reference in references:
            for spec in METRICS:
                if spec.rag_only and not reference.endswith(RAG_SUFFIX):
                    continue
                result = paired_comparison(
                    [r[spec.score_key] for r in scores[reference]],
                    [r[spec.score_key] for r in scores[variant.name]],
                    samples,
                    seed,
                    spec.statistic,
                )
                if math.isnan(result.diff):  # a ratio undefined for either variant: nothing to test
                    result = Comparison(NAN, NAN, NAN, NAN, result.n)
                comparisons.append(
                    {"variant": variant.name, "reference": reference, "metric": spec.key, **asdict(result),
                     "significant": bool(result.significant)}
                )
    retrieval_summary = None
    if retrieval is not None:
        retrieval_summary = {"k": k}
        for key in RETRIEVAL:
            retrieval_summary[key] = asdict(bootstrap([r[key] for r in retrieval], samples, seed))
    by_kind = summarize_by_kind(variants, scores, kinds, samples, seed) if kinds is not None else []
    return Summary(table, comparisons, retrieval_summary, by_kind)


def summarize_by_kind(
    variants: Sequence[Variant], scores: dict[str, list[dict[str, float]]], kinds: Sequence[str], samples: int,
    seed: int,
) -> list[KindScores]:
    """BY_KIND metrics of every variant on the questions of each kind present (in KINDS order)."""
    out = []
    for variant in variants:
        rows = scores[variant.name]
        if len(rows) != len(kinds):
            raise ValueError(f"{len(kinds)} question kinds for {len(rows)} scored answers of {variant.name}")
        for kind in [k for k in KINDS if k in kinds]:
            subset = [row for row, row_kind in zip(rows, kinds) if row_kind == kind]
            estimates = {key: _estimate(subset, metric_spec(key), samples, seed) for key in BY_KIND}
            out.append(KindScores(variant.name, kind, len(subset), **estimates))
    return out


def _estimate(rows: list[dict[str, float]], spec: MetricSpec, samples: int, seed: int) -> Estimate:
    return bootstrap([r[spec.score_key] for r in rows], samples, seed, _defined_resamples(spec.statistic))


def _defined_resamples(statistic: Statistic) -> Statistic:
    """statistic, leaving the resamples it is undefined on (NaN) out of a bootstrap interval.

    Abstain precision is undefined on a resample without an abstention; the interval is then conditional
    on there being one, instead of lost to a single NaN. (Not for paired tests: there both variants'
    resamples must stay aligned.)
    """

    def over_defined(values: np.ndarray) -> np.ndarray:
        result = np.asarray(statistic(values))
        if result.ndim == 0:  # the statistic of the whole set, not of resamples
            return result
        defined = result[~np.isnan(result)]
        return defined if defined.size else result

    return over_defined
