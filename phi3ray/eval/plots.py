"""Bar charts with 95% CI error bars, drawn with matplotlib's Agg canvas (no display, no pyplot state)."""

from __future__ import annotations

import io
import math

from matplotlib.figure import Figure

BAR, BEST = "#9db4cc", "#1f4e79"  # every variant's bar; the best one's
SCALES = ("linear", "share", "log")  # from 0 | from 0, never above 1 (a share) | logarithmic (perplexity)


def bar_chart_png(title: str, labels: list[str], estimates: list[dict], ylabel: str, scale: str = "linear",
                  best: str | None = None) -> bytes:
    """One bar per variant (value with its CI as an error bar), the best variant's bar dark and marked;
    undefined values are labelled n/a at the foot of the axis."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, not {scale!r}")
    figure = Figure(figsize=(max(5.0, 1.25 * len(labels) + 1.5), 3.3), dpi=100)
    axes = figure.add_subplot()
    defined = [_defined(e["value"]) for e in estimates]
    values = [e["value"] if d else math.nan for e, d in zip(estimates, defined)]
    below = [v - e["ci_low"] if _defined(e["ci_low"]) else 0.0 for v, e in zip(values, estimates)]
    above = [e["ci_high"] - v if _defined(e["ci_high"]) else 0.0 for v, e in zip(values, estimates)]
    colors = [BEST if label == best else BAR for label in labels]
    axes.bar(labels, values, yerr=[below, above], capsize=4, color=colors)
    foot = axes.get_xaxis_transform()  # x in data, y in axes fractions
    for x, (label, value, top, ok) in enumerate(zip(labels, values, above, defined)):
        if not ok:
            axes.text(x, 0.02, "n/a", transform=foot, ha="center", fontsize=8)
            continue
        text = f"{value:.3g}" + ("  best" if label == best else "")
        axes.annotate(text, (x, value + top), textcoords="offset points", xytext=(0, 4), ha="center", fontsize=8,
                      fontweight="bold" if label == best else "normal")
    if scale == "log":
        axes.set_yscale("log")
        axes.margins(y=0.15)  # room for the labels above the bars
    else:
        highest = max([v + a for v, a in zip(values, above) if not math.isnan(v)], default=1.0)
        top = 1.2 * highest if highest > 0 else 1.0  # room for the labels above the bars
        axes.set_ylim(0, min(top, 1.15) if scale == "share" else top)
    axes.set_title(title)
    axes.set_ylabel(ylabel)
    axes.tick_params(axis="x", labelrotation=15, labelsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _defined(value: float | None) -> bool:
    return value is not None and not math.isnan(value)
