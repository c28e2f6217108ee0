"""KodCode adapter: one test row per pytest test (functions, parametrized, class methods), modules that do not
compile or need unsupported fixtures quarantined; the tests judge solutions through the real sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder import taxonomy as T
from builder.execute import ExecutionConfig, judge_candidate
from builder.harness import compare_functional, wrap_program
from builder.judge import run_verdict
from builder.sandbox import make_sandbox
from builder.sandbox.base import Limits
from builder.sources import load_source

FIXTURE = str(Path(__file__).parent / "fixtures" / "sources" / "kodcode")


@pytest.fixture(scope="module")
def result():
    return load_source("kodcode", FIXTURE)


def test_counts_and_quarantine(result) -> None:
    assert result.counts == {"rows": 4, "problems": 2, "quarantined": 2}
    reasons = dict(zip(result.quarantine["row_id"], result.quarantine["reason"]))
    assert reasons["Filter_3_I"].startswith("test module does not compile: SyntaxError")
    assert reasons["Package_4_I"] == "unsupported pytest fixture(s): database"
    assert result.license == "cc-by-nc-4.0"


def test_one_test_row_per_test(result) -> None:
    fib, stack = result.problems
    assert fib["test_type"] == "pytest" and fib["fn_name"] == "fib" and fib["source"] == "kodcode/leetcode"
    assert [json.loads(t["output"]) for t in fib["tests"]] == ["test_fib_small", "test_fib_param", "test_fib_negative"]
    assert all(t["input"].startswith("from solution import fib") for t in fib["tests"])
    assert [json.loads(t["output"]) for t in stack["tests"]] == ["TestStack::test_push_pop", "TestStack::test_empty"]
    assert stack["difficulty"] == "medium"


def test_reference_and_broken_solutions(result) -> None:
    fib, stack = result.problems
    solution = {
        "fib": "def fib(n):\n    if n < 0:\n        raise ValueError(n)\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
        "stack": "class Stack:\n    def __init__(self):\n        self.items = []\n    def push(self, x):\n        self.items.append(x)\n"
        "    def pop(self):\n        return self.items.pop()\n    def is_empty(self):\n        return not self.items\n",
    }
    config = ExecutionConfig(time_limit_s=2.0, memory_limit_mb=256)
    with make_sandbox("auto") as box:
        assert judge_candidate(solution["fib"], fib, box, config)["verdict"] == T.PASSED
        assert judge_candidate(solution["stack"], stack, box, config)["verdict"] == T.PASSED
        no_check = solution["fib"].replace("raise ValueError(n)", "return 0")
        out = judge_candidate(no_check, fib, box, config)
        assert out["test_verdicts"][:2] == [T.PASSED, T.PASSED]
        crash = judge_candidate(solution["stack"].replace("self.items.pop()", "self.items[5]"), stack, box, config)
        assert crash["verdict"] == T.LOGIC_ERROR and crash["exception"] == "IndexError"
        # the failed pytest.raises is a failed test: wa once the judge compares pytest output (see harness)
        code, stdin = wrap_program(no_check, fib, fib["tests"][2])
        run = box.run(code, stdin.encode(), Limits(cpu_s=2.0, memory_mb=256))
        expected = fib["tests"][2]["output"]
        assert run_verdict(run, stdin, expected, lambda a: compare_functional(expected, a, 1e-6)) == T.WA
