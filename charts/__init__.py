"""Charts of a built dataset: one function per chart, statistics in (``builder.dataset.stats.compute_stats``), PNG out.

Every chart shares the look of :mod:`charts.style` and is byte-identical for the same statistics.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from builder.dataset.charts.difficulty import difficulty_pass_rate_chart
from builder.dataset.charts.heatmap import source_difficulty_heatmap_chart
from builder.dataset.charts.pass_counts import pass_count_histogram_chart
from builder.dataset.charts.rejections import rejection_types_chart
from builder.dataset.charts.tokens import token_lengths_chart

#: file name -> (chart function, alt text); the card embeds them in this order.
CHARTS = {
    "rejection_types.png": (rejection_types_chart, "Rejection types of the failing candidates"),
    "difficulty_pass_rate.png": (difficulty_pass_rate_chart, "Pass rate by difficulty with candidate counts"),
    "pass_count_histogram.png": (pass_count_histogram_chart, "Number of passing candidates per problem"),
    "source_difficulty_heatmap.png": (source_difficulty_heatmap_chart, "Pass rate by source and difficulty"),
    "token_lengths.png": (token_lengths_chart, "Token lengths of passed and failed responses"),
}


def heatmap_informative(stats: dict[str, Any]) -> bool:
    """The source x difficulty heatmap adds to the difficulty chart only with two sources or more (with one, its single
    row repeats that chart) and more than one difficulty bucket (with one, it repeats the by-source table)."""
    heat = stats["heatmap"]
    return len(heat["sources"]) > 1 and len(heat["buckets"]) > 1


def has_rating_buckets(buckets: list[str]) -> bool:
    """Whether any difficulty bucket is a Codeforces-style rating range (``1200-1599``)."""
    return any(re.fullmatch(r"\d+-\d+", b) for b in buckets)


def charts_for(stats: dict[str, Any]) -> list[str]:
    """The chart files these statistics can draw (no token chart when token counts are unavailable)."""
    names = []
    for name in CHARTS:
        if name == "token_lengths.png" and not any(g["count"] for g in stats["tokens"]["groups"]):
            continue
        if name == "rejection_types.png" and not (stats["summary"]["failed"] or stats["summary"]["sandbox_errors"]):
            continue
        if name == "pass_count_histogram.png" and not stats["pass_count_distribution"]:
            continue
        if name in ("difficulty_pass_rate.png", "source_difficulty_heatmap.png") and not stats["summary"]["judged"]:
            continue
        if name == "source_difficulty_heatmap.png" and not heatmap_informative(stats):
            continue
        names.append(name)
    return names


def draw_all(stats: dict[str, Any], assets_dir: Path) -> list[Path]:
    """Draw every chart the statistics allow into ``assets_dir``; returns the written paths."""
    return [CHARTS[name][0](stats, Path(assets_dir) / name) for name in charts_for(stats)]


__all__ = [
    "CHARTS",
    "charts_for",
    "difficulty_pass_rate_chart",
    "draw_all",
    "has_rating_buckets",
    "heatmap_informative",
    "pass_count_histogram_chart",
    "rejection_types_chart",
    "source_difficulty_heatmap_chart",
    "token_lengths_chart",
]
