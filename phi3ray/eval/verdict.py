"""The plain-language verdict: which variant wins on what, by how much, and whether it is significant."""

from __future__ import annotations

import math
from dataclasses import dataclass

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


def chosen_adapter(results: dict, primary: str, gate_adapter: str | None = None) -> str | None:
    """The adapter the headline speaks for: the gate's, else the one whose best use (with RAG when the +rag
    variants ran) scores best on the primary metric; None without adapters."""
    names = [v["name"] for v in results["variants"]]
    adapters = [n for n in names if n != BASE_VARIANT and not n.endswith(RAG_SUFFIX)]
    if gate_adapter in adapters or not adapters:
        return gate_adapter
    combined = [a + RAG_SUFFIX if a + RAG_SUFFIX in names else a for a in adapters]
    best = best_variant({"metrics": {v: results["metrics"][v] for v in combined}}, primary)
    return adapters[combined.index(best)] if best else adapters[0]


@dataclass
class Finding:
    """One headline question and its answer: 'Does RAG help? No — on F1, base+rag 0.1 vs base 0.2: ...'."""

    question: str
    answer: str  # Yes | No | Not shown (not significant) | Cannot tell | Higher | Lower | Not evaluated
    detail: str

    def __str__(self) -> str:
        return f"{self.question} {self.answer} — {self.detail}."


def _answer(c: dict | None, metric: str) -> str:
    """The answer a paired difference gives: Yes / No when significant, else Not shown; Cannot tell untested."""
    if c is None or c["diff"] is None or c["p_value"] is None:
        return "Cannot tell"
    if c["p_value"] >= ALPHA or c["diff"] == 0:
        return "Not shown"
    better = metric_spec(metric).higher_is_better
    if better is None:
        return "Higher" if c["diff"] > 0 else "Lower"
    return "Yes" if (c["diff"] > 0) == better else "No"


def _effect(results: dict, variant: str, reference: str, metric: str) -> str:
    """'pumps 0.3000 vs base 0.2000: +0.1000 (95% CI +0.0500 to +0.1500, p = 0.0010)'."""
    c = _comparison(results, variant, reference, metric)
    values = (f"{variant} {_num(results['metrics'][variant][metric]['value'])} vs "
              f"{reference} {_num(results['metrics'][reference][metric]['value'])}")
    if c is None or c["diff"] is None:
        return f"{values}: no paired data"
    p = "p n/a" if c["p_value"] is None else f"p = {c['p_value']:.4f}"
    return f"{values}: {c['diff']:+.4f} (95% CI {_signed(c['ci_low'])} to {_signed(c['ci_high'])}, {p})"


def headline(results: dict, primary: str = "f1", gate_adapter: str | None = None) -> list[Finding]:
    """Three findings, one per question a decision rests on: does RAG help, does the adapter, does the
    combination beat both (RAG alone and the adapter alone)? Each on the primary metric, with the paired
    difference, its 95% CI and p; Yes / No only when significant (p < ALPHA)."""
    names = [v["name"] for v in results["variants"]]
    label = metric_spec(primary).label
    rag = BASE_VARIANT + RAG_SUFFIX
    adapter = chosen_adapter(results, primary, gate_adapter)
    adapters = [n for n in names if n != BASE_VARIANT and not n.endswith(RAG_SUFFIX)]

    def finding(question: str, variant: str, reference: str) -> Finding:
        answer = _answer(_comparison(results, variant, reference, primary), primary)
        return Finding(question, answer, f"on {label}, {_effect(results, variant, reference, primary)}")

    no_rag = "the +rag variants did not run (rag=false)"
    findings = [finding("Does RAG help?", rag, BASE_VARIANT) if rag in names
                else Finding("Does RAG help?", "Not evaluated", no_rag)]
    if adapter is None:
        return findings + [Finding("Does an adapter help?", "Not evaluated", "no adapter was given"),
                           Finding("Does the combination beat both?", "Not evaluated", "no adapter was given")]
    which = adapter
    if len(adapters) > 1 and adapter != gate_adapter:
        which += f", the best of {len(adapters)} adapters on {label}"
    findings.append(finding(f"Does the adapter help ({which})?", adapter, BASE_VARIANT))
    both = adapter + RAG_SUFFIX
    if both not in names:
        return findings + [Finding("Does the combination beat both?", "Not evaluated", no_rag)]
    answers = [_answer(_comparison(results, both, reference, primary), primary) for reference in (rag, adapter)]
    answer = ("Yes" if answers == ["Yes", "Yes"] else "No" if "No" in answers
              else "Cannot tell" if "Cannot tell" in answers else "Not shown")
    detail = (f"on {label}, against RAG alone {_effect(results, both, rag, primary)}; "
              f"against the adapter alone {_effect(results, both, adapter, primary)}")
    return findings + [Finding(f"Does the combination ({both}) beat both?", answer, detail)]
