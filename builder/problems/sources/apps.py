"""``codeparrot/apps``: APPS problems (the ``input_output`` format TACO shares).

Upstream row: ``problem_id`` (int), ``question``, ``solutions`` (JSON string), ``input_output`` (JSON string,
sometimes empty), ``difficulty`` (introductory, interview, competition), ``url``, ``starter_code``.

Files. The repository keeps a loading script, ``apps.py``, which ``datasets`` 5 refuses, so the two files it reads
are read directly: ``train.jsonl`` and ``test.jsonl`` (one per split). The script's difficulty configs are filters
of ``all``, not offered here: ``subset`` is ``all`` or unset.

Splits ``train`` and ``test`` both number their problems from 0, so a problem's id is ``apps/{split}/{problem_id}``.
Call-based expected values are kept as stored and judged like APPS' ``testing_util.py`` (``functional_match =
"exact_or_first"``, see :mod:`builder.problems.sources.taco`); reference solutions go to the solutions side table.
"""

from __future__ import annotations

from typing import Any

from builder.problems.sources.common import Context, Repo, solution_rows, text
from builder.problems.sources.taco import difficulty, input_output_tests

LICENSE = "mit"
ID_COLUMN = "problem_id"
DEFAULT_SPLIT = "train"
SPLITS = ("train", "test")


def data_files(repo: Repo, subset: str | None, split: str) -> list[str]:
    """``{split}.jsonl``, the file the loading script reads for a split."""
    if subset not in (None, "all"):
        raise ValueError(f"APPS subset {subset!r} is not offered: use all (the script's other configs filter it)")
    if split not in SPLITS:
        raise ValueError(f"APPS has no split {split!r} (train, test)")
    name = f"{split}.jsonl"
    if name not in repo.files:
        raise ValueError(f"no {name} (codeparrot/apps keeps one JSON-lines file per split)")
    return [name]


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
        "functional_match": "exact_or_first" if test_type == "functional" else None,
        "starter_code": text(row.get("starter_code")) or None,
        "license": LICENSE,
        "origin": ctx.origin(index, str(native)),
        "solutions": solution_rows(row.get("solutions")),
    }
