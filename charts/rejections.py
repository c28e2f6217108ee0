"""Rejection types: how the failing candidates failed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.ticker import FuncFormatter

from builder.dataset.charts import style


def rejection_types_chart(stats: dict[str, Any], path: Path) -> Path:
    """Horizontal bars, one per rejection type in decision order, with count and share of failing candidates."""
    rows = stats["rejection_types"]
    sandbox = stats["summary"]["sandbox_errors"]
    labels = [r["type"] for r in rows]
    counts = [r["count"] for r in rows]
    colors = [style.VERDICT_COLORS[t] for t in labels]
    if sandbox:
        labels.append("sandbox_error*")
        counts.append(sandbox)
        colors.append(style.NEUTRAL)
    total_failed = stats["summary"]["failed"]
    with style.figure(height_in=0.42 * len(labels) + 1.3) as fig:
        ax = fig.add_subplot()
        y = list(range(len(labels)))[::-1]
        ax.barh(y, counts, color=colors, height=0.7)
        ax.set_yticks(y, labels)
        top = max(counts, default=0) or 1
        ax.set_xlim(0, top * 1.22)
        for yi, row_count, label in zip(y, counts, labels):
            share = row_count / total_failed if total_failed and label != "sandbox_error*" else None
            text = f"{row_count:,}" + (f"  ({style.pct(share)})" if share is not None else "")
            ax.text(row_count + top * 0.01, yi, text, va="center", fontsize=9)
        ax.xaxis.grid(True)
        ax.set_axisbelow(True)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))  # 25,000, not 25000
        ax.set_xlabel("candidates")
        ax.set_title(f"Rejection types of {total_failed:,} failing candidates")
        if sandbox:
            fig.text(0.01, 0.01, "* executor failures, not model failures: never used as rejected samples", fontsize=8, color=style.NEUTRAL)
        fig.tight_layout()
        return style.save(fig, path)
