"""Pass rate by difficulty bucket, with the number of judged candidates in each."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from builder.dataset.charts import style


def difficulty_axis_label(buckets: list[str]) -> str:
    """The x label: the rating buckets explained only when the data has ratings."""
    from builder.dataset.charts import has_rating_buckets

    if not has_rating_buckets(buckets):
        return "difficulty (as the sources label it)"
    if all(re.fullmatch(r"\d+-\d+", b) for b in buckets):
        return "difficulty (Codeforces rating, buckets of 400)"
    return "difficulty (Codeforces ratings in buckets of 400; other labels as the sources give them)"


def difficulty_pass_rate_chart(stats: dict[str, Any], path: Path) -> Path:
    """Bars of the candidate pass rate per difficulty bucket; each bar is labelled with its candidate count."""
    rows = stats["by_difficulty"]
    labels = [r["bucket"] for r in rows]
    rates = [100 * r["pass_rate"] if r["pass_rate"] is not None else 0.0 for r in rows]
    with style.figure() as fig:
        ax = fig.add_subplot()
        x = list(range(len(rows)))
        ax.bar(x, rates, color=style.PASSED, width=0.7)
        for xi, row, rate in zip(x, rows, rates):
            ax.text(xi, rate + 1.5, f"{style.pct(row['pass_rate'])}\nn={style.compact(row['candidates'])}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(x, labels, rotation=35 if len(labels) > 6 else 0, ha="right" if len(labels) > 6 else "center")
        ax.set_ylim(0, 118)
        ax.set_yticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"])
        ax.yaxis.grid(True)
        ax.set_axisbelow(True)
        ax.set_xlabel(difficulty_axis_label(labels))
        ax.set_ylabel("candidates passing every test")
        ax.set_title("Pass rate by difficulty")
        fig.tight_layout()
        return style.save(fig, path)
