"""``local``: problems already in the normalized schema (``.jsonl`` / ``.parquet`` file, dataset folder or Hub id).

The reading, validation and quarantine are :func:`builder.core.tables.load_problems`'s, the same path ``builder verify``
takes, so a problems file loads identically everywhere.
"""

from __future__ import annotations

from builder.core.tables import load_problems
from builder.problems.sources.common import SourceResult

DEFAULT_SPLIT = "train"


def load(path: str, *, split: str | None = None, limit: int | None = None) -> SourceResult:
    problems, quarantine = load_problems(path, split or DEFAULT_SPLIT)
    rows = len(problems) + len(quarantine)
    if limit is not None:
        problems = problems.select(range(min(limit, len(problems))))
    licenses = sorted({lic for lic in problems["license"] if lic})
    return SourceResult(
        kind="local",
        path=path,
        problems=problems,
        quarantine=quarantine,
        counts={"rows": rows, "problems": len(problems), "quarantined": len(quarantine)},
        license=", ".join(licenses) or None,
        split=split,
    )
