"""``BAAI/TACO``: problems whose tests are an ``input_output`` JSON string (the APPS format).

Upstream row (every column a string): ``question``, ``solutions`` (a JSON list of Python programs),
``starter_code``, ``input_output`` (``{"inputs": [...], "outputs": [...], "fn_name"?: str}``), ``difficulty``
(EASY, MEDIUM, MEDIUM_HARD, HARD, VERY_HARD, UNKNOWN_DIFFICULTY), ``raw_tags``, ``name``, ``source`` (the platform:
codeforces, codewars, atcoder, ...), ``tags``, ``skill_types``, ``url``, ``Expected Auxiliary Space``, ``time_limit``
("2.0 seconds"), ``date``, ``picture_num``, ``memory_limit`` ("256.0 megabytes"), ``Expected Time Complexity``.

Files. The repository keeps a loading script, ``TACO.py``, which ``datasets`` 5 refuses, so the data files are read
directly: the Arrow files the script reads (``train/*.arrow``, ``test/*.arrow``) and, in a copy without them, the
Parquet conversion its card's ``configs`` declare (``ALL/train-*.parquet``, ``ALL/test-*.parquet``). The script's
other configs (one per difficulty or skill) are filters of ``ALL``, not offered here: ``subset`` is ``ALL`` or unset.

Tests. With ``fn_name`` the tests are call-based: each input is the argument list, each output the expected return
value as TACO stores it (most wrapped in a one-element list, some not). It is kept as stored, and the problem's
``functional_match`` is ``exact_or_first``: TACO's own checker (``metrics/testing_util.py`` in FlagOpen/TACO)
accepts a return value equal to ``outputs[i]`` or to ``outputs[i][0]``. Reference solutions go to the solutions
side table; ``tags`` (a Python list literal) become the problem's tags. Rows have no id column: a problem's id is
``taco/{split}/{row}``. :mod:`builder.problems.sources.apps` reuses :func:`input_output_tests`.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from builder.problems.sources.common import (
    Context,
    Repo,
    as_json,
    dedupe_tests,
    solution_rows,
    text,
)
from builder.problems.sources.deepcoder import taco_style

LICENSE = "apache-2.0"
DEFAULT_SPLIT = "train"
SPLITS = ("train", "test")
SUBSET_IN_IDS = False  # ALL is the whole table

_QUANTITY = re.compile(r"([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)")
_SECONDS = {"": 1.0, "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3}
_MEGABYTES = {"": 1.0, "mb": 1.0, "megabyte": 1.0, "megabytes": 1.0, "m": 1.0, "mib": 1.0, "kb": 1 / 1024, "kilobyte": 1 / 1024,
              "kilobytes": 1 / 1024, "gb": 1024.0, "gigabyte": 1024.0, "gigabytes": 1024.0}


def data_files(repo: Repo, subset: str | None, split: str) -> list[str]:
    """The files of one split: the loading script's Arrow files, else the Parquet conversion."""
    if subset not in (None, "ALL"):
        raise ValueError(f"TACO subset {subset!r} is not offered: use ALL (the script's other configs filter it)")
    if split not in SPLITS:
        raise ValueError(f"TACO has no split {split!r} (train, test)")
    for pattern in (f"{split}/*.arrow", f"ALL/{split}-*.parquet"):
        names = repo.glob(pattern)
        if names:
            return names
    raise ValueError(f"no TACO data files for split {split} ({split}/*.arrow or ALL/{split}-*.parquet)")


def parse_quantity(value: Any, units: dict[str, float]) -> float | None:
    """'2.0 seconds' -> 2.0, '256 megabytes' -> 256.0; None when absent or not understood."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = _QUANTITY.search(str(value))
    if not match:
        return None
    factor = units.get(match.group(2).lower())
    return None if factor is None else float(match.group(1)) * factor


def input_output_tests(raw: Any, ctx: Context) -> tuple[str, str | None, list[dict[str, str]]]:
    """(test_type, fn_name, tests) from an APPS/TACO ``input_output`` value (expected return values as stored)."""
    if raw in (None, ""):
        raise ValueError("empty input_output")
    tests = as_json(raw, "input_output")
    if not isinstance(tests, dict):
        raise ValueError("input_output must be an object with inputs and outputs")
    test_type, fn_name, parsed = taco_style(tests)
    parsed = dedupe_tests(parsed)
    limit = ctx.options.get("max_tests")
    if limit:
        parsed = parsed[: int(limit)]
    return test_type, fn_name, parsed


def difficulty(value: Any) -> str:
    label = text(value).strip().lower()
    return "unknown" if not label or label.startswith("unknown") else label


def literal_tags(value: Any) -> list[str] | None:
    """TACO's ``tags`` / ``skill_types``: a Python list literal as text (parsed as a literal, never evaluated)."""
    if value in (None, "", "[]"):
        return None
    parsed = ast.literal_eval(value) if isinstance(value, str) else value
    if not isinstance(parsed, (list, tuple)) or not all(isinstance(t, str) for t in parsed):
        raise ValueError("tags must be a list of strings")
    return list(parsed) or None


def to_problem(row: dict[str, Any], index: int, ctx: Context) -> dict[str, Any]:
    statement = text(row.get("question"))
    if not statement.strip():
        raise ValueError("empty question")
    test_type, fn_name, tests = input_output_tests(row.get("input_output"), ctx)
    time_limit = parse_quantity(row.get("time_limit"), _SECONDS)
    memory = parse_quantity(row.get("memory_limit"), _MEGABYTES)
    platform = text(row.get("source")).strip().lower()
    try:
        tags = literal_tags(row.get("tags"))
    except (ValueError, TypeError, SyntaxError, RecursionError):
        raise ValueError("tags is not a list of strings") from None
    return {
        "problem_id": ctx.row_id(index),
        "source": f"taco/{platform}" if platform else "taco",
        "difficulty": difficulty(row.get("difficulty")),
        "title": text(row.get("name")),
        "problem": statement,
        "tests": tests,
        "time_limit": time_limit,
        "memory_limit": int(memory) if memory else None,
        "test_type": test_type,
        "fn_name": fn_name,
        "functional_match": "exact_or_first" if test_type == "functional" else None,
        "starter_code": text(row.get("starter_code")) or None,
        "tags": tags,
        "license": LICENSE,
        "origin": ctx.origin(index, text(row.get("url")) or None),
        "solutions": solution_rows(row.get("solutions")),
    }
