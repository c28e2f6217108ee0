"""Test styles beyond stdin/stdout: functional (call-based) tests and pytest-style unit tests, host side.

Every test becomes one :class:`TestProgram` that the sandbox runs like any candidate, so all styles share the
taxonomy (``judge.run_verdict``). The code that runs inside the sandbox lives in real files of the sandbox package —
the runner's call and unit-test modes (:mod:`builder.sandbox.runner`), the pytest stand-in
(:mod:`builder.sandbox.pytest_standin`) and the fixtures (:mod:`builder.sandbox.unittest_plan`) — not in strings here.

* ``functional``: the test's ``input`` holds the call's arguments, one JSON value per line (LiveCodeBench and TACO
  call-based tests); its ``output`` is the expected return value as JSON. The runner imports the solution as the module
  ``solution`` (its prints go to stderr), calls the named function (or ``Solution().method`` when the code defines a
  class ``Solution`` with that method) and reports the return value in an authenticated record, which
  :func:`builder.judge.compare.compare_functional` compares with the expected value, with float tolerance inside lists. Exceptions in the
  call are reported like any program's: an IndexError is a ``logic_error``.
* ``pytest``: one test row per test function (KodCode). ``input`` is the test module's source, ``output`` the test
  function's name as JSON (``"test_add"`` or ``"TestX::test_add"``). The runner imports the solution as the module
  ``solution`` (as the tests expect: ``from solution import add``), then runs the test module and that one test with
  its parametrized cases and fixtures, and reports ``pass`` only when the test ran to completion. A failed assertion,
  or the test code raising because of what the solution returned, is a ``fail`` (``wa``); an exception raised inside
  the solution's own code is the solution's (``logic_error`` / ``runtime_error``). :func:`unsupported_fixtures` lets
  a source quarantine tests that need a fixture the stand-in does not provide.

In both styles the solution runs with ``__name__ == "solution"``, so an ``if __name__ == "__main__":`` demo block in
a model's answer does not run (and cannot eat the arguments or block on ``input()``).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from builder.sandbox.unittest_plan import BUILTIN_FIXTURES

#: test_type -> the runner's mode
MODES = {"stdin": "stdin", "functional": "call", "pytest": "unittest"}


@dataclass(frozen=True)
class TestProgram:
    """What the sandbox runs for one test: the code, its stdin, and the runner's mode with its parameters."""

    __test__ = False  # not a pytest test class

    code: str
    stdin: str
    mode: str = "stdin"
    spec: dict[str, str] = field(default_factory=dict)


def program_for_test(solution: str, problem_row: Mapping[str, Any], test: Mapping[str, str]) -> TestProgram:
    """The program the sandbox runs for one test of ``problem_row``.

    Raises ValueError for a problem that cannot be run (no ``fn_name``, unknown test type).
    """
    test_type = problem_row.get("test_type") or "stdin"
    if test_type == "stdin":
        return TestProgram(solution, test["input"])
    if test_type == "functional":
        fn_name = problem_row.get("fn_name")
        if not fn_name:
            raise ValueError(f"problem {problem_row.get('problem_id')}: functional tests need fn_name")
        return TestProgram(solution, "", "call", {"fn_name": str(fn_name), "args": test["input"]})
    if test_type == "pytest":
        return TestProgram(solution, "", "unittest", {"test_source": test["input"], "test_id": json.loads(test["output"])})
    raise ValueError(f"problem {problem_row.get('problem_id')}: unknown test_type {test_type!r}")


# --- what a source needs to build pytest-style problems ------------------------------------------------------


def _is_test_class(node: ast.ClassDef) -> bool:
    if node.name.startswith("Test"):
        return not any(isinstance(item, ast.FunctionDef) and item.name == "__init__" for item in node.body)
    return any(
        (isinstance(base, ast.Attribute) and base.attr == "TestCase") or (isinstance(base, ast.Name) and base.id == "TestCase")
        for base in node.bases
    )


def pytest_test_ids(test_source: str) -> list[str]:
    """The tests pytest would collect from ``test_source``, in order: ``test_x`` or ``TestClass::test_y``.

    Raises SyntaxError when the source does not parse.
    """
    tree = ast.parse(test_source)
    ids: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            ids.append(node.name)
        elif isinstance(node, ast.ClassDef) and _is_test_class(node):
            ids.extend(
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef) and item.name.startswith("test")
            )
    return ids


def unsupported_fixtures(test_source: str) -> list[str]:
    """Fixture names the tests ask for that the in-sandbox runner cannot provide (empty when all is well)."""
    tree = ast.parse(test_source)
    defined: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
            "fixture" in ast.unparse(dec) for dec in node.decorator_list
        ):
            defined.add(node.name)
    missing: list[str] = []

    def check(func: ast.FunctionDef | ast.AsyncFunctionDef, skip_self: bool) -> None:
        params = {
            name.strip()
            for dec in func.decorator_list
            if isinstance(dec, ast.Call) and "parametrize" in ast.unparse(dec.func) and dec.args
            and isinstance(dec.args[0], ast.Constant) and isinstance(dec.args[0].value, str)
            for name in dec.args[0].value.split(",")
        }
        for dec in func.decorator_list:
            if isinstance(dec, ast.Call) and "parametrize" in ast.unparse(dec.func) and dec.args:
                first = dec.args[0]
                if isinstance(first, (ast.List, ast.Tuple)):
                    params.update(e.value for e in first.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
        args = [a.arg for a in func.args.args]
        if skip_self and args:
            args = args[1:]
        for arg in args:
            if arg not in params and arg not in defined and arg not in BUILTIN_FIXTURES and arg not in missing:
                missing.append(arg)

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            check(node, skip_self=False)
        elif isinstance(node, ast.ClassDef) and _is_test_class(node):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name.startswith("test"):
                    check(item, skip_self=True)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in defined:
            for arg in (a.arg for a in node.args.args):
                if arg not in defined and arg not in BUILTIN_FIXTURES and arg not in missing and arg != "self":
                    missing.append(arg)
    return missing
