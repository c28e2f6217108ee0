"""``KodCode/KodCode-V1``: synthetic Python tasks with pytest-style unit tests.

Upstream row: ``style`` (instruct, complete), ``subset`` (Leetcode, Apps, Taco, Code_Contests, Codeforces,
Algorithm, Data_Structure, Docs, Filter, Package, Prefill, Evol), ``question_id``, ``question``, ``solution``,
``test`` (a pytest module that imports from ``solution``), ``test_info`` (``[{function_name, parameter_list,
function_declaration, docstring}]``), ``gpt_pass_sequence``, ``gpt_pass_trial_num``, ``gpt_difficulty``,
``gpt_pass_percentage``, ``trials``, ``chosen_trial``, ``metadata``, ``benchmark_similarity``,
``benchmark_instruction``, ``benchmark_task_id``, ``filter_reason``. Splits ``train`` and ``use_with_caution``.

Each test function (or ``TestClass::test_method``) becomes one test row: ``input`` is the test module's source,
``output`` the test's id as JSON (see :mod:`builder.harness`). Test modules that do not compile, collect no test,
or ask for fixtures the in-sandbox runner does not provide are quarantined with the reason.
"""

from __future__ import annotations

import json
from typing import Any

from builder.harness import TEST_FILENAME, pytest_test_ids, unsupported_fixtures
from builder.sources.common import Context, text

LICENSE = "cc-by-nc-4.0"
ID_COLUMN = "question_id"
DEFAULT_SPLIT = "train"


def to_problem(row: dict[str, Any], index: int, ctx: Context) -> dict[str, Any]:
    question_id = text(row.get("question_id")).strip()
    if not question_id:
        raise ValueError("missing question_id")
    question = text(row.get("question"))
    if not question.strip():
        raise ValueError("empty question")
    source = text(row.get("test"))
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
    info = row.get("test_info") or []
    fn_name = info[0].get("function_name") if info and isinstance(info[0], dict) else None
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
        "license": LICENSE,
        "origin": ctx.origin(index, question_id),
    }
