"""Source x difficulty: the pass rate of every cell, with its candidate count."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from builder.dataset.charts import style


def source_difficulty_heatmap_chart(stats: dict[str, Any], path: Path) -> Path:
    """A heatmap of candidate pass rates, sources down, difficulty buckets across; empty cells left blank."""
    heat = stats["heatmap"]
    sources, buckets = heat["sources"], heat["buckets"]
    rates = np.array([[np.nan if v is None else 100 * v for v in row] for row in heat["pass_rate"]], dtype=float).reshape(len(sources), len(buckets))
    counts = heat["candidates"]
    width = min(10.0, max(style.WIDTH_IN, 0.7 * len(buckets) + 2.5))
    with style.figure(height_in=max(2.6, 0.55 * len(sources) + 1.9), width_in=width) as fig:
        ax = fig.add_subplot()
        image = ax.imshow(np.ma.masked_invalid(rates), cmap=style.HEATMAP_CMAP, vmin=0, vmax=100, aspect="auto")
        ax.set_xticks(range(len(buckets)), buckets, rotation=35 if len(buckets) > 6 else 0, ha="right" if len(buckets) > 6 else "center")
        ax.set_yticks(range(len(sources)), sources)
        for i in range(len(sources)):
            for j in range(len(buckets)):
                if counts[i][j]:
                    value = rates[i, j]
                    color = "white" if value < 60 else style.INK
                    ax.text(j, i, f"{value:.0f}%\n{style.compact(counts[i][j])}", ha="center", va="center", fontsize=8, color=color)
        ax.set_facecolor(style.EMPTY_CELL)
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_xlabel("difficulty")
        bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
        bar.set_label("pass rate (%)")
        ax.set_title("Pass rate by source and difficulty (cell: rate, candidates)")
        fig.tight_layout()
        return style.save(fig, path)
