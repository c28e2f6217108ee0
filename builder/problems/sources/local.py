"""``local``: problems already in the normalized schema (``.jsonl`` / ``.parquet`` file, dataset folder or Hub id).

The reading, validation and quarantine are :func:`builder.core.tables.load_problems`'s, the same path ``builder verify``
takes, so a problems file loads identically everywhere.

Option ``solutions``: a file (or folder) of reference solutions for these problems, for the problems stage's
validation. Either the side table ``builder problems`` writes (``problem_id``, ``code``, ``correct``, ``language``,
``index``) or candidates as ``builder verify`` reads them (``problem_id``, ``solution``, ``label``), such as the
data packs' ``candidates.jsonl`` / ``solutions.jsonl``. ``correct`` says which are correct; else ``label``:
``accepted`` / ``correct`` / ``passed`` are correct, ``wrong_answer`` / ``incorrect`` / ``runtime_error`` /
``run_time_error`` incorrect; any other label (``rejected``: a verdict on other tests; ``slow``,
``time_limit_exceeded``: a matter of the machine) makes no reference and is counted. ``language`` defaults to
``python``. A row naming an unknown problem, or without code, is quarantined with its reason.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from datasets import Dataset

from builder.core.errors import UserError
from builder.core.schema import QUARANTINE_FEATURES, SOLUTION_FEATURES
from builder.core.tables import load_problems, load_table
from builder.problems.sources.common import SourceResult

DEFAULT_SPLIT = "train"
CORRECT_LABELS = frozenset({"accepted", "correct", "passed", "ac", "ok"})
INCORRECT_LABELS = frozenset({"wrong_answer", "incorrect", "wa", "runtime_error", "run_time_error"})


def load(path: str, *, split: str | None = None, limit: int | None = None, solutions: Any = None) -> SourceResult:
    problems, quarantine = load_problems(path, split or DEFAULT_SPLIT)
    rows = len(problems) + len(quarantine)
    if limit is not None:
        problems = problems.select(range(min(limit, len(problems))))
    licenses = sorted({lic for lic in problems["license"] if lic})
    result = SourceResult(
        kind="local",
        path=path,
        problems=problems,
        quarantine=quarantine,
        counts={"rows": rows, "problems": len(problems), "quarantined": len(quarantine)},
        license=", ".join(licenses) or None,
        split=split,
    )
    if isinstance(solutions, str):
        table, bad, counts = load_solutions(solutions, problems)
        result.solutions = table
        if len(bad):
            from datasets import concatenate_datasets

            result.quarantine = concatenate_datasets([result.quarantine, bad]) if len(result.quarantine) else bad
        left = ", ".join(f"{n} labelled {label}" for label, n in sorted(counts.items()) if label != "kept")
        result.notes.append(f"solutions {solutions}: {counts.get('kept', 0)} references" + (f" ({left}: not references)" if left else ""))
    elif solutions not in (None, True, False):
        raise UserError(f"local source option solutions must be a file of reference solutions, got {solutions!r}")
    return result


def _correct(row: dict[str, Any]) -> bool | str:
    """True / False, or the label that makes the row no reference."""
    if isinstance(row.get("correct"), bool):
        return bool(row["correct"])
    label = str(row.get("label") or "").strip().lower()
    if label in CORRECT_LABELS:
        return True
    if label in INCORRECT_LABELS:
        return False
    return label or "(none)"


def load_solutions(spec: str, problems: Dataset) -> tuple[Dataset, Dataset, Counter[str]]:
    """Reference solutions of ``problems`` from a file: (SOLUTION_FEATURES rows, quarantined rows, counts)."""
    table = load_table(spec)
    columns = set(table.column_names)
    if "problem_id" not in columns or not {"code", "solution"} & columns:
        raise UserError(f"{spec}: reference solutions need problem_id and code (or solution) columns, got {', '.join(sorted(columns))}")
    source_of = dict(zip(problems["problem_id"], problems["source"]))
    out: dict[str, list[Any]] = {name: [] for name in SOLUTION_FEATURES}
    bad: dict[str, list[Any]] = {name: [] for name in QUARANTINE_FEATURES}
    counts: Counter[str] = Counter()
    position: Counter[tuple[str, bool]] = Counter()
    for number, row in enumerate(table):
        pid = row.get("problem_id")
        code = row.get("code") if "code" in columns else row.get("solution")
        reason = None
        if not isinstance(pid, str) or pid not in source_of:
            reason = f"solutions row {number}: unknown problem_id {pid!r}"
        elif not isinstance(code, str) or not code.strip():
            reason = f"solutions row {number}: no code"
        if reason:
            bad["kind"].append("solutions")
            bad["row_id"].append(str(row.get("candidate_id") or pid))
            bad["reason"].append(reason)
            bad["row"].append(json.dumps({k: row.get(k) for k in ("candidate_id", "problem_id", "label", "correct")}, ensure_ascii=False, default=str))
            continue
        correct = _correct(row)
        if not isinstance(correct, bool):
            counts[correct] += 1
            continue
        counts["kept"] += 1
        index = row.get("index")
        out["problem_id"].append(pid)
        out["source"].append(source_of[pid])
        out["correct"].append(correct)
        out["index"].append(int(index) if isinstance(index, int) and not isinstance(index, bool) else position[(pid, correct)])
        out["language"].append(row.get("language") or "python")
        out["code"].append(code)
        position[(pid, correct)] += 1
    return (
        Dataset.from_dict(out, features=SOLUTION_FEATURES),
        Dataset.from_dict(bad, features=QUARANTINE_FEATURES),
        counts,
    )
