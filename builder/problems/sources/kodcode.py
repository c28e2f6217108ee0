"""``KodCode/KodCode-V1``: synthetic Python tasks with pytest-style unit tests.

Upstream row: ``style`` (instruct, complete), ``subset`` (Leetcode, Apps, Taco, Code_Contests, Codeforces,
Algorithm, Data_Structure, Docs, Filter, Package, Prefill, Evol), ``question_id``, ``question``, ``solution``,
the test module (``test`` in the current card, ``test_code`` in earlier revisions of it and in copies; whichever the
table has is used, and the source's summary says which), ``test_info`` (``[{function_name, parameter_list,
function_declaration, docstring}]``), ``gpt_pass_sequence``, ``gpt_pass_trial_num``, ``gpt_difficulty``,
``gpt_pass_percentage``, ``trials``, ``chosen_trial``, ``metadata``, ``benchmark_similarity``,
``benchmark_instruction``, ``benchmark_task_id``, ``filter_reason``. Splits ``train`` and ``use_with_caution``.

Each test function (or ``TestClass::test_method``) becomes one test row: ``input`` is the test module's source,
``output`` the test's id as JSON (see :mod:`builder.judge.harness`). Test modules that do not compile, collect no test,
or ask for fixtures the in-sandbox runner does not provide are quarantined with the reason. ``style``,
``test_info`` and ``benchmark_similarity`` (as ``upstream_benchmark_similarity``: KodCode's own similarity to
benchmarks) are kept; ``solution`` goes to the solutions side table.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from builder.judge.harness import pytest_test_ids, unsupported_fixtures
from builder.problems.sources.common import Context, solution_rows, text

LICENSE = "cc-by-nc-4.0"
ID_COLUMN = "question_id"
DEFAULT_SPLIT = "train"
#: the columns a test module may be in, in order of preference
TEST_COLUMNS = ("test", "test_code")
_INFO_KEYS = ("function_name", "parameter_list", "function_declaration", "docstring")
#: the file name the test module is compiled under here (only named in a compile error's reason)
TEST_FILENAME = "test_solution.py"


def inspect_columns(columns: Sequence[str]) -> str:
    """Which column holds the test modules (ValueError when none does)."""
    for name in TEST_COLUMNS:
        if name in columns:
            return f"tests from column {name!r}"
    raise ValueError(f"no test module column: expected one of {', '.join(TEST_COLUMNS)}; the table has {', '.join(columns)}")


def _test_source(row: dict[str, Any]) -> str:
    for name in TEST_COLUMNS:
        if name in row:
            return text(row[name])
    raise KeyError("no test or test_code column")


def _test_info(value: Any) -> list[dict[str, str | None]] | None:
    if not value:
        return None
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise TypeError("test_info must be a list of objects")
    return [{key: (text(entry.get(key)) if entry.get(key) is not None else None) for key in _INFO_KEYS} for entry in value]


def to_problem(row: dict[str, Any], index: int, ctx: Context) -> dict[str, Any]:
    question_id = text(row.get("question_id")).strip()
    if not question_id:
        raise ValueError("missing question_id")
    question = text(row.get("question"))
    if not question.strip():
        raise ValueError("empty question")
    source = _test_source(row)
    if not source.strip():
        raise ValueError("empty test module")
    try:
        compile(source, TEST_FILENAME, "exec")  # compile only: dataset text, never executed here
    except (SyntaxError, ValueError) as exc:
        raise ValueError(f"test module does not compile: {type(exc).__name__}: {exc}") from None
    ids = pytest_test_ids(source)
    if not ids:
        raise ValueError("test module has no test functions")
    missing = unsupported_fixtures(source)
    if missing:
        raise ValueError(f"unsupported pytest fixture(s): {', '.join(missing)}")
    limit = ctx.options.get("max_tests")
    if limit:
        ids = ids[: int(limit)]
    info = _test_info(row.get("test_info"))
    fn_name = info[0]["function_name"] if info else None
    similarity = row.get("benchmark_similarity")
    subset = text(row.get("subset")).strip().lower()
    return {
        "problem_id": question_id,
        "source": f"kodcode/{subset}" if subset else "kodcode",
        "difficulty": text(row.get("gpt_difficulty")).strip().lower() or "unknown",
        "title": "",
        "problem": question,
        "tests": [{"input": source, "output": json.dumps(test_id)} for test_id in ids],
        "test_type": "pytest",
        "fn_name": fn_name,
        "style": text(row.get("style")).strip() or None,
        "test_info": info,
        "upstream_benchmark_similarity": float(similarity) if similarity is not None else None,
        "license": LICENSE,
        "origin": ctx.origin(index, question_id),
        "solutions": solution_rows([text(row.get("solution"))] if text(row.get("solution")).strip() else None),
    }
