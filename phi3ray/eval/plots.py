"""Bar charts with 95% CI error bars, drawn with matplotlib's Agg canvas (no display, no pyplot state)."""

from __future__ import annotations

import io
import math

from matplotlib.figure import Figure

COLORS = ("#4c72b0", "#55a868", "#c44e52", "#8172b2", "#ccb974", "#64b5cd")


def bar_chart_png(title: str, labels: list[str], estimates: list[dict], ylabel: str) -> bytes:
    """One bar per variant (value with its CI as an error bar); undefined values are drawn as gaps."""
    values = [e["value"] if _defined(e["value"]) else 0.0 for e in estimates]
    below = [v - e["ci_low"] if _defined(e["ci_low"]) else 0.0 for v, e in zip(values, estimates)]
    above = [e["ci_high"] - v if _defined(e["ci_high"]) else 0.0 for v, e in zip(values, estimates)]
    figure = Figure(figsize=(max(4.0, 1.2 * len(labels) + 1.5), 3.2), dpi=100)
    axes = figure.add_subplot()
    colors = [COLORS[i % len(COLORS)] for i in range(len(labels))]
    axes.bar(labels, values, yerr=[below, above], capsize=4, color=colors)
    for x, (value, top, estimate) in enumerate(zip(values, above, estimates)):
        text = f"{value:.3g}" if _defined(estimate["value"]) else "n/a"
        axes.annotate(text, (x, value + top), textcoords="offset points", xytext=(0, 4), ha="center", fontsize=8)
    axes.set_title(title)
    axes.set_ylabel(ylabel)
    axes.tick_params(axis="x", labelrotation=20, labelsize=8)
    axes.margins(y=0.15)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _defined(value: float | None) -> bool:
    return value is not None and not math.isnan(value)
