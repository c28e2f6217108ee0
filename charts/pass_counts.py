"""How many candidates of each problem pass: the per-problem pass-count histogram."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.ticker import MaxNLocator

from builder.dataset.charts import style


def pass_count_histogram_chart(stats: dict[str, Any], path: Path) -> Path:
    """Bars: number of problems (with judged candidates) by their number of passing candidates."""
    rows = stats["pass_count_distribution"]
    x = [r["passed"] for r in rows]
    counts = [r["problems"] for r in rows]
    colors = [style.FAILED if xi == 0 else style.PASSED for xi in x]
    with style.figure() as fig:
        ax = fig.add_subplot()
        ax.bar(x, counts, color=colors, width=0.8)
        top = max(counts, default=0) or 1
        for xi, c in zip(x, counts):  # every bin labelled, empty ones too (a 0 is an answer, not a missing bar)
            ax.text(xi, c + top * 0.01, style.compact(c), ha="center", va="bottom", fontsize=8, color=style.INK if c else style.NEUTRAL)
        ax.set_ylim(0, top * 1.12)
        step = max(1, len(x) // 20)
        ax.set_xticks(x[::step])
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # problems are counted in whole numbers
        ax.yaxis.grid(True)
        ax.set_axisbelow(True)
        ax.set_xlabel("passing candidates per problem")
        ax.set_ylabel("problems")
        judged = stats["problem_counts"]["with_judged"]
        ax.set_title(f"Passing candidates per problem ({judged:,} problems with judged candidates)")
        fig.tight_layout()
        return style.save(fig, path)
