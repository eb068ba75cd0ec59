"""Score every answer, then aggregate per variant (bootstrap CIs) and compare each variant with its reference."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from phi3ray.eval import metrics
from phi3ray.eval.significance import (
    Statistic,
    bootstrap,
    exp_mean_statistic,
    mean_statistic,
    paired_comparison,
)
from phi3ray.eval.variants import QuestionPrompts, Variant
from phi3ray.eval.worker import AnswerRecord
from phi3ray.names import BASE_VARIANT, RAG_SUFFIX
from phi3ray.rag.prompt import cited_numbers
from phi3ray.rag.quality import recall_at_k, reciprocal_rank

NAN = float("nan")


@dataclass(frozen=True)
class MetricSpec:
    key: str  # the name in results.json, the report and gate.metric
    label: str  # column heading
    higher_is_better: bool
    statistic: Statistic  # over per-question values
    rag_only: bool = False  # defined only for +rag variants
    group: str = "quality"  # quality | citations | speed: the report's table


METRICS = (
    MetricSpec("exact_match", "EM", True, mean_statistic),
    MetricSpec("f1", "F1", True, mean_statistic),
    MetricSpec("rouge_l", "ROUGE-L", True, mean_statistic),
    MetricSpec("key_terms", "Key terms", True, mean_statistic),
    # per question: mean -log p per reference token; aggregated: exp(mean) = geometric-mean perplexity
    MetricSpec("perplexity", "Ref. perplexity", False, exp_mean_statistic),
    MetricSpec("cites", "Cites a source", True, mean_statistic, rag_only=True, group="citations"),
    MetricSpec("citation_valid", "Valid citations", True, mean_statistic, rag_only=True, group="citations"),
    MetricSpec("citation_gold", "Gold citations", True, mean_statistic, rag_only=True, group="citations"),
    MetricSpec("latency_s", "Latency (s)", False, mean_statistic, group="speed"),
    MetricSpec("tokens_per_s", "Tokens/s", True, mean_statistic, group="speed"),
)
METRIC_KEYS = tuple(spec.key for spec in METRICS)
RETRIEVAL = ("recall_at_k", "mrr")


def metric_spec(key: str) -> MetricSpec:
    return next(spec for spec in METRICS if spec.key == key)


def score_answer(record: AnswerRecord, prompt: QuestionPrompts, rag: bool) -> dict[str, float]:
    """Every metric of one answer; `perplexity` here is the per-question statistic input (mean NLL)."""
    question = prompt.question
    tokens = record.reference_tokens
    text = metrics.strip_citations(record.answer)  # every variant's text is scored without [n] markers
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
    }
    if rag:
        numbers = [source["number"] for source in prompt.sources]
        docs = [source["doc_id"] for source in prompt.sources]
        scores.update(metrics.citation_scores(cited_numbers(record.answer), numbers, docs, question.doc_ids))
    return scores


def retrieval_scores(prompt: QuestionPrompts, k: int) -> dict[str, float]:
    """recall@k and reciprocal rank over the retrieved chunks' doc ids (rag.quality's); NaN without gold ids."""
    gold = prompt.question.doc_ids
    if not gold:
        return {"recall_at_k": NAN, "mrr": NAN}
    return {
        "recall_at_k": recall_at_k(prompt.retrieved_doc_ids, gold, k),
        "mrr": reciprocal_rank(prompt.retrieved_doc_ids, gold),
    }


@dataclass
class Summary:
    metrics: dict[str, dict[str, dict]]  # variant -> metric -> Estimate as a dict
    comparisons: list[dict]  # one per (variant, reference, metric): Comparison as a dict
    retrieval: dict[str, dict] | None  # recall_at_k / mrr -> Estimate as a dict, and k


def summarize(
    variants: Sequence[Variant],
    scores: dict[str, list[dict[str, float]]],
    retrieval: list[dict[str, float]] | None,
    k: int,
    samples: int,
    seed: int,
) -> Summary:
    """Aggregate per variant and compare each variant with base (and +rag variants with base+rag too).

    Args:
        scores: variant name -> per-question score dicts, all in the same question order.
    """
    table: dict[str, dict[str, dict]] = {}
    for variant in variants:
        rows = scores[variant.name]
        table[variant.name] = {
            spec.key: asdict(bootstrap([r[spec.key] for r in rows], samples, seed, spec.statistic))
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
        for reference in references:
            for spec in METRICS:
                if spec.rag_only and not reference.endswith(RAG_SUFFIX):
                    continue
                result = paired_comparison(
                    [r[spec.key] for r in scores[reference]],
                    [r[spec.key] for r in scores[variant.name]],
                    samples,
                    seed,
                    spec.statistic,
                )
                comparisons.append(
                    {"variant": variant.name, "reference": reference, "metric": spec.key, **asdict(result),
                     "significant": bool(result.significant)}
                )
    retrieval_summary = None
    if retrieval is not None:
        retrieval_summary = {"k": k}
        for key in RETRIEVAL:
            retrieval_summary[key] = asdict(bootstrap([r[key] for r in retrieval], samples, seed))
    return Summary(table, comparisons, retrieval_summary)
