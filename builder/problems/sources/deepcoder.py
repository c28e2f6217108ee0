"""``agentica-org/DeepCoder-Preview-Dataset``: subsets ``primeintellect``, ``taco``, ``lcbv5``, ``codeforces``.

Upstream row: ``problem`` (the statement), ``tests`` (a JSON string), ``starter_code``, ``metadata`` (a JSON string
or a struct; LiveCodeBench rows carry ``func_name`` there) and ``solutions``. Splits: ``primeintellect`` and ``taco``
have ``train``, ``lcbv5`` has ``train`` and ``test``, ``codeforces`` only ``test`` (its producers, rllm's
preprocessing scripts, load it with ``split="test"``); each subset defaults to the split it has
(:func:`default_split`).

The ``tests`` JSON comes in several shapes, told apart by shape rather than by subset:

* a list of ``{"input", "output"}`` stdin/stdout pairs (``codeforces``), optionally with ``"testtype": "stdin"`` or
  ``"functional"`` (``lcbv5``: then the input is one JSON argument per line, the output a JSON value, and the
  function name is in ``metadata.func_name``);
* a list of ``{"type": "stdin_stdout" | "function_call", "input", "output", "fn_name"?}`` (``primeintellect``:
  call-based inputs are argument lists, outputs mostly wrapped in a one-element list);
* an ``{"inputs": [...], "outputs": [...], "fn_name"?}`` dict (``taco``, as in TACO/APPS).

Call-based arguments are written one JSON value per line (the functional test format of :mod:`builder.judge.harness`);
expected return values are kept as stored. DeepCoder's reward (rllm ``rewards/code_reward.py``) judges the taco and
primeintellect shapes with TACO's checker, which accepts ``outputs[i]`` or ``outputs[i][0]``
(``functional_match = "exact_or_first"``), and lcbv5 with LiveCodeBench's, which compares the value itself
(``exact``). Reference ``solutions`` go to the solutions side table. Rows have no id column: a problem's id is
``deepcoder/{subset}/{split}/{row}``.
"""

from __future__ import annotations

import json
from typing import Any

from builder.problems.sources.common import (
    Context,
    as_json,
    check_json,
    check_json_lines,
    dedupe_tests,
    io_text,
    json_args,
    solution_rows,
    text,
)

LICENSE = "mit"
DEFAULT_SPLIT = "train"
SUBSETS = ("primeintellect", "taco", "lcbv5", "codeforces")
#: subsets without a train split
SPLIT_OF = {"codeforces": "test"}


def default_split(subset: str | None) -> str:
    """The split a subset has (``test`` for codeforces, ``train`` for the others)."""
    return SPLIT_OF.get(subset or "", DEFAULT_SPLIT)


def _as_stored(output: Any) -> str:
    """An expected return value as JSON, as the upstream stores it (see ``functional_match``)."""
    return json.dumps(output, ensure_ascii=False)


def parse_tests(raw: Any, metadata: dict[str, Any]) -> tuple[str, str | None, list[dict[str, str]], str | None]:
    """(test_type, fn_name, tests, functional_match) from any of DeepCoder's ``tests`` shapes."""
    tests = as_json(raw, "tests")
    if isinstance(tests, dict):
        return taco_style(tests) + (("exact_or_first" if tests.get("fn_name") else None),)
    if not isinstance(tests, list) or not tests:
        raise ValueError("tests must be a non-empty list or an inputs/outputs dict")
    first = tests[0]
    if not isinstance(first, dict):
        raise ValueError("tests must be objects with input and output")
    kind = first.get("testtype") or first.get("type") or "stdin"
    if kind in ("functional", "function_call"):
        inner = as_json(first.get("metadata") or {}, "test metadata")
        inner = inner if isinstance(inner, dict) else {}
        fn_name = first.get("fn_name") or inner.get("func_name") or metadata.get("func_name")
        if not fn_name:
            raise ValueError("functional tests without a function name (metadata.func_name)")
        out = []
        for i, test in enumerate(tests):
            if not isinstance(test, dict) or "input" not in test or "output" not in test:
                raise ValueError(f"test {i} needs input and output")
            if isinstance(test["input"], str) and kind == "functional":  # LiveCodeBench: JSON lines already
                inp = check_json_lines(test["input"], f"test {i} input")
                expected = check_json(test["output"], f"test {i} output") if isinstance(test["output"], str) else json.dumps(test["output"])
            else:
                inp = json_args(test["input"])
                expected = _as_stored(test["output"])
            out.append({"input": inp, "output": expected})
        match = "exact" if kind == "functional" else "exact_or_first"
        return "functional", str(fn_name), out, match
    if kind not in ("stdin", "stdin_stdout"):
        raise ValueError(f"unknown test type {kind!r}")
    out = []
    for i, test in enumerate(tests):
        if not isinstance(test, dict) or "input" not in test or "output" not in test:
            raise ValueError(f"test {i} needs input and output")
        out.append({"input": io_text(test["input"], f"test {i} input"), "output": io_text(test["output"], f"test {i} output")})
    return "stdin", None, out, None


def taco_style(tests: dict[str, Any]) -> tuple[str, str | None, list[dict[str, str]]]:
    """TACO / APPS ``input_output``: ``{"inputs": [...], "outputs": [...], "fn_name"?: str}``."""
    inputs, outputs = tests.get("inputs"), tests.get("outputs")
    if not isinstance(inputs, list) or not isinstance(outputs, list) or not inputs:
        raise ValueError("input_output needs non-empty 'inputs' and 'outputs' lists")
    if len(inputs) != len(outputs):
        raise ValueError(f"{len(inputs)} inputs but {len(outputs)} outputs")
    fn_name = tests.get("fn_name")
    if fn_name:
        out = [{"input": json_args(a), "output": _as_stored(o)} for a, o in zip(inputs, outputs)]
        return "functional", str(fn_name), out
    out = [
        {"input": io_text(a, f"test {i} input"), "output": io_text(o, f"test {i} output")}
        for i, (a, o) in enumerate(zip(inputs, outputs))
    ]
    return "stdin", None, out


def metadata_of(row: dict[str, Any]) -> dict[str, Any]:
    meta = as_json(row.get("metadata"), "metadata") if row.get("metadata") not in (None, "") else {}
    if not isinstance(meta, dict):
        raise ValueError("metadata must be an object")
    return meta


def to_problem(row: dict[str, Any], index: int, ctx: Context) -> dict[str, Any]:
    statement = text(row.get("problem"))
    if not statement.strip():
        raise ValueError("empty problem statement")
    meta = metadata_of(row)
    test_type, fn_name, tests, match = parse_tests(row.get("tests"), meta)
    tests = dedupe_tests(tests)
    limit = ctx.options.get("max_tests")
    if limit:
        tests = tests[: int(limit)]
    subset = ctx.subset or "default"
    difficulty = meta.get("difficulty") or meta.get("rating")
    return {
        "problem_id": ctx.row_id(index),
        "source": f"deepcoder/{subset}",
        "difficulty": str(difficulty).lower() if difficulty not in (None, "") else "unknown",
        "title": text(meta.get("title") or meta.get("question_title")),
        "problem": statement,
        "tests": tests,
        "test_type": test_type,
        "fn_name": fn_name,
        "functional_match": match,
        "starter_code": text(row.get("starter_code")) or None,
        "license": LICENSE,
        "origin": ctx.origin(index),
        "solutions": solution_rows(row.get("solutions")),
    }
