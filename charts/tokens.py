"""Response lengths in tokens: passed against failed candidates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from builder.dataset.charts import style
from builder.dataset.stats import fmt_float


def _data_extent(edges: np.ndarray, hists: list[np.ndarray]) -> tuple[float, float]:
    """The x range the data occupies: from the first to the last non-empty bin (one empty bin of margin each side)."""
    occupied = np.flatnonzero(np.sum(hists, axis=0)) if hists else np.array([], dtype=int)
    if not len(occupied):
        return float(edges[0]), float(edges[-1])
    first, last = max(int(occupied[0]) - 1, 0), min(int(occupied[-1]) + 2, len(edges) - 1)
    return float(edges[first]), float(edges[last])


def token_lengths_chart(stats: dict[str, Any], path: Path) -> Path:
    """Histograms (share of each group per bin) of passed and failed responses, with their medians.

    Passed is a filled area, failed a dark outline over it, so the two read apart in colour and in shape; the medians
    in the legend are the table's (same rounding); the x axis spans the bins that hold responses.
    """
    tokens = stats["tokens"]
    if not any(g["count"] for g in tokens["groups"]):
        raise ValueError("token counts are unavailable for this dataset (no passed or failed response has one)")
    edges = np.array(tokens["hist"]["edges"])
    groups = {g["group"]: g for g in tokens["groups"]}
    drawn = [name for name in ("passed", "failed") if np.sum(tokens["hist"][name])]
    with style.figure() as fig:
        ax = fig.add_subplot()
        for name in drawn:
            counts = np.array(tokens["hist"][name], dtype=float)
            shares = 100 * counts / counts.sum()
            median = groups[name]["median"]
            label = f"{name}: {groups[name]['count']:,} responses, median {fmt_float(median)}"
            if name == "passed":
                ax.stairs(shares, edges, color=style.PASSED, fill=True, alpha=0.35, label=label)
                ax.stairs(shares, edges, color=style.PASSED, linewidth=1.5)
                ax.axvline(median, color=style.PASSED, linestyle=(0, (4, 3)), linewidth=1.6)
            else:
                ax.stairs(shares, edges, color=style.FAILED_DARK, linewidth=2.2, label=label)
                ax.axvline(median, color=style.FAILED_DARK, linestyle=(0, (1, 2)), linewidth=2.0)
        ax.set_xlim(*_data_extent(edges, [np.array(tokens["hist"][n]) for n in drawn]))
        ax.set_ylim(bottom=0)
        ax.yaxis.grid(True)
        ax.set_axisbelow(True)
        clipped = sum(tokens["hist"].get("clipped", {}).values())
        note = f"; the last bin also holds the {clipped:,} longer responses" if clipped else ""
        ax.set_xlabel(f"response length (tokens){note}")
        ax.set_ylabel("share of group (%)")
        ax.legend(loc="upper right", title="vertical lines: medians", title_fontsize=8)
        ax.set_title("Response length: passed vs failed candidates")
        fig.tight_layout()
        return style.save(fig, path)
