"""Response lengths in tokens: passed against failed candidates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from builder.dataset.charts import style


def token_lengths_chart(stats: dict[str, Any], path: Path) -> Path:
    """Step histograms (share of each group per bin) of passed and failed responses, with their medians."""
    tokens = stats["tokens"]
    if not any(g["count"] for g in tokens["groups"]):
        raise ValueError("token counts are unavailable for this dataset (no passed or failed response has one)")
    edges = np.array(tokens["hist"]["edges"])
    groups = {g["group"]: g for g in tokens["groups"]}
    colors = {"passed": style.PASSED, "failed": style.FAILED}
    with style.figure() as fig:
        ax = fig.add_subplot()
        for name in ("passed", "failed"):
            counts = np.array(tokens["hist"][name], dtype=float)
            total = counts.sum()
            if not total:
                continue
            shares = 100 * counts / total
            ax.stairs(shares, edges, color=colors[name], linewidth=2.0, fill=False,
                      label=f"{name}: n={groups[name]['count']:,}, median {groups[name]['median']:,.0f} (dashed)")
            ax.axvline(groups[name]["median"], color=colors[name], linestyle=(0, (4, 3)), linewidth=1.4)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(bottom=0)
        ax.yaxis.grid(True)
        ax.set_axisbelow(True)
        clipped = sum(tokens["hist"].get("clipped", {}).values())
        note = f"; the last bin also holds the {clipped:,} longer responses" if clipped else ""
        ax.set_xlabel(f"response length (tokens){note}")
        ax.set_ylabel("share of group (%)")
        ax.legend(loc="upper right")
        ax.set_title("Response length: passed vs failed candidates")
        fig.tight_layout()
        return style.save(fig, path)
