"""The shared look of every chart: fonts, colours, size, and deterministic PNG output."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import rc_context  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

#: Rendered size: 8 x 4.5 inches at 120 dpi = 960 x 540 px, readable at the Hub's card width (~800 px).
WIDTH_IN = 8.0
HEIGHT_IN = 4.5
DPI = 120

PASSED = "#2a9d8f"
FAILED = "#e76f51"
#: failed as an outline over a filled area: darker, so thin lines still read against the fill
FAILED_DARK = "#b5381b"
NEUTRAL = "#8d99ae"
INK = "#22223b"
GRID = "#d9dde3"
EMPTY_CELL = "#f1f3f5"
#: One fixed colour per verdict, so every chart agrees.
VERDICT_COLORS: dict[str, str] = {
    "passed": PASSED,
    "no_code": "#6d597a",
    "syntax_error": "#b56576",
    "timeout": "#e9c46a",
    "memory": "#f4a261",
    "no_stdin": "#83c5be",
    "logic_error": "#e76f51",
    "runtime_error": "#d62828",
    "empty_output": "#adb5bd",
    "wa": "#264653",
    "sandbox_error": NEUTRAL,
}
HEATMAP_CMAP = "viridis"

STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",  # shipped with matplotlib: the same glyphs on every machine
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 10,
    "axes.edgecolor": INK,
    "axes.labelcolor": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "grid.color": GRID,
    "grid.linewidth": 0.8,
    "xtick.color": INK,
    "ytick.color": INK,
    "text.color": INK,
    "legend.frameon": False,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "text.hinting": "default",
    "svg.hashsalt": "codeverify-builder",
    "path.simplify": True,
    "image.interpolation": "nearest",
}


@contextmanager
def figure(height_in: float = HEIGHT_IN, width_in: float = WIDTH_IN) -> Iterator[Figure]:
    """A new figure in the shared style (no pyplot state: nothing leaks between charts)."""
    with rc_context(STYLE):
        fig = Figure(figsize=(width_in, height_in), dpi=DPI)
        FigureCanvasAgg(fig)
        yield fig


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG with no varying metadata (byte-identical for the same stats)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rc_context(STYLE):
        fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return path


def pct(value: float | None) -> str:
    """Percent for labels: whole numbers, one decimal below 10% (so 0.4% does not read as 0%)."""
    if value is None:
        return "–"
    return f"{100 * value:.1f}%" if 0 < value < 0.1 else f"{100 * value:.0f}%"


def compact(n: int) -> str:
    """1234 -> 1.2k, for labels."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    if n >= 1000:
        return f"{n / 1000:.1f}k"
    return str(n)
