"""``codeparrot/apps``: APPS problems (the ``input_output`` format TACO shares).

Upstream row: ``problem_id`` (int), ``question``, ``solutions`` (JSON string), ``input_output`` (JSON string,
sometimes empty), ``difficulty`` (introductory, interview, competition), ``url``, ``starter_code``. Splits ``train``
and ``test`` both number their problems from 0, so a problem's id is ``apps/{split}/{problem_id}``.
"""

from __future__ import annotations

from typing import Any

from builder.sources.common import Context, text
from builder.sources.taco import difficulty, input_output_tests

LICENSE = "mit"
ID_COLUMN = "problem_id"
DEFAULT_SPLIT = "train"


def to_problem(row: dict[str, Any], index: int, ctx: Context) -> dict[str, Any]:
    statement = text(row.get("question"))
    if not statement.strip():
        raise ValueError("empty question")
    native = row.get("problem_id")
    if native is None or native == "":
        raise ValueError("missing problem_id")
    test_type, fn_name, tests = input_output_tests(row.get("input_output"), ctx)
    return {
        "problem_id": f"apps/{ctx.split or DEFAULT_SPLIT}/{native}",
        "source": "apps",
        "difficulty": difficulty(row.get("difficulty")),
        "title": "",
        "problem": statement,
        "tests": tests,
        "test_type": test_type,
        "fn_name": fn_name,
        "starter_code": text(row.get("starter_code")) or None,
        "license": LICENSE,
        "origin": ctx.origin(index, str(native)),
    }
