"""The plain-language verdict: which variant wins on what, by how much, and whether it is significant."""

from __future__ import annotations

import math

from phi3ray.eval.scoring import METRICS, metric_spec
from phi3ray.eval.significance import ALPHA
from phi3ray.names import BASE_VARIANT, RAG_SUFFIX

QUALITY = [spec.key for spec in METRICS if spec.group == "quality"]


def _num(value: float | None) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def _signed(value: float | None) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:+.4f}"


def _significance(comparison: dict) -> str:
    p = comparison["p_value"]
    if p is None:
        return "not testable (no paired questions, or the metric is undefined for one side)"
    if p < ALPHA:
        return f"significant (p = {p:.4f})"
    return f"not significant (p = {p:.4f}; could be chance with {comparison['n']} questions)"


def _comparison(results: dict, variant: str, reference: str, metric: str) -> dict | None:
    for c in results["comparisons"]:
        if (c["variant"], c["reference"], c["metric"]) == (variant, reference, metric):
            return c
    return None


def describe_difference(results: dict, variant: str, reference: str, metric: str) -> str:
    """'pumps vs base on F1: +0.1234 (95% CI +0.05 to +0.20), significant (p = 0.0010)'."""
    c = _comparison(results, variant, reference, metric)
    if c is None or c["diff"] is None:
        return f"{variant} vs {reference} on {metric_spec(metric).label}: no paired data"
    spec = metric_spec(metric)
    if c["diff"] == 0:
        direction = "no change"
    elif spec.higher_is_better is None:
        direction = "higher" if c["diff"] > 0 else "lower"
    else:
        direction = "better" if (c["diff"] > 0) == spec.higher_is_better else "worse"
    return (
        f"{variant} vs {reference} on {spec.label}: {c['diff']:+.4f} "
        f"(95% CI {_signed(c['ci_low'])} to {_signed(c['ci_high'])}, {direction}), {_significance(c)}"
    )


def best_variant(results: dict, metric: str) -> str | None:
    spec = metric_spec(metric)
    if spec.higher_is_better is None:
        return None
    scored = [(v, m[metric]["value"]) for v, m in results["metrics"].items() if metric in m]
    scored = [(v, x) for v, x in scored if x is not None and not math.isnan(x)]
    if not scored:
        return None
    return (max if spec.higher_is_better else min)(scored, key=lambda item: item[1])[0]


def write_verdict(results: dict, primary: str = "f1") -> list[str]:
    """A few sentences: the winner per quality metric, then the four questions the matrix answers."""
    lines = []
    for metric in QUALITY:
        best = best_variant(results, metric)
        if best is None:
            continue
        label, value = metric_spec(metric).label, results["metrics"][best][metric]["value"]
        base_value = results["metrics"][BASE_VARIANT][metric]["value"]
        if best == BASE_VARIANT or value == base_value:
            lines.append(f"{label}: no variant beats the base model ({_num(base_value)}).")
        else:
            difference = describe_difference(results, best, BASE_VARIANT, metric)
            lines.append(f"{label}: {best} is best ({_num(value)}); {difference}.")
    names = [v["name"] for v in results["variants"]]
    adapters = [n for n in names if n != BASE_VARIANT and not n.endswith(RAG_SUFFIX)]
    label = metric_spec(primary).label
    if BASE_VARIANT + RAG_SUFFIX in names:
        difference = describe_difference(results, BASE_VARIANT + RAG_SUFFIX, BASE_VARIANT, primary)
        lines.append(f"Does RAG help the base model ({label})? {difference}.")
    for adapter in adapters:
        lines.append(f"Does fine-tuning help ({label})? " + describe_difference(results, adapter, BASE_VARIANT, primary) + ".")
        if adapter + RAG_SUFFIX in names:
            lines.append(
                f"Does fine-tuning add to RAG ({label})? "
                + describe_difference(results, adapter + RAG_SUFFIX, BASE_VARIANT + RAG_SUFFIX, primary)
                + "."
            )
            lines.append(
                f"Does RAG add to fine-tuning ({label})? "
                + describe_difference(results, adapter + RAG_SUFFIX, adapter, primary)
                + "."
            )
    lines += abstention_verdict(results)
    return lines


def abstention_verdict(results: dict) -> list[str]:
    """Which variant declines the unanswerable questions most often, and how precisely; [] without any."""
    best = best_variant(results, "abstain_recall")
    if best is None:
        return []
    recall = results["metrics"][best]["abstain_recall"]["value"]
    base = results["metrics"][BASE_VARIANT]["abstain_recall"]["value"]
    if best == BASE_VARIANT or recall == base:
        return [f"Abstention: no variant declines more unanswerable questions than the base model "
                f"(abstain recall {_num(base)})."]
    precision = results["metrics"][best]["abstain_precision"]["value"]
    difference = describe_difference(results, best, BASE_VARIANT, "abstain_recall")
    return [f"Abstention: {best} declines the most unanswerable questions (abstain recall {_num(recall)}, "
            f"precision {_num(precision)}); {difference}."]
