"""DeepCoder adapter: every subset's ``tests`` JSON shape, functional tests with metadata.func_name, malformed rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder import taxonomy as T
from builder.errors import UserError
from builder.execute import ExecutionConfig, judge_candidate
from builder.sandbox import make_sandbox
from builder.sources import load_source

FIXTURE = str(Path(__file__).parent / "fixtures" / "sources" / "deepcoder")


@pytest.fixture(scope="module")
def subsets():
    return {
        name: load_source("deepcoder", FIXTURE, subset=name, split=split)
        for name, split in (("primeintellect", None), ("taco", None), ("lcbv5", None), ("codeforces", "test"))
    }


def test_counts_and_reasons(subsets) -> None:
    expected = {
        "primeintellect": (2, "tests is not valid JSON"),
        "taco": (2, "2 inputs but 1 outputs"),
        "lcbv5": (2, "functional tests without a function name (metadata.func_name)"),
        "codeforces": (1, "tests must be a non-empty list or an inputs/outputs dict"),
    }
    for name, (problems, reason) in expected.items():
        result = subsets[name]
        assert result.counts["problems"] == problems and result.counts["quarantined"] == 1, name
        assert result.quarantine[0]["reason"].startswith(reason), (name, result.quarantine[0]["reason"])
        assert result.quarantine[0]["row_id"].startswith(f"deepcoder/{name}/")


def test_primeintellect_shapes(subsets) -> None:
    stdin, call = subsets["primeintellect"].problems
    assert stdin["problem_id"] == "deepcoder/primeintellect/train/0" and stdin["source"] == "deepcoder/primeintellect"
    assert stdin["test_type"] == "stdin" and stdin["tests"][0] == {"input": "3\n", "output": "9\n"}
    assert call["test_type"] == "functional" and call["fn_name"] == "add"
    assert call["tests"] == [{"input": "1\n2", "output": "3"}, {"input": "[1]\n[2]", "output": "[1, 2]"}]  # unwrapped
    assert call["starter_code"].startswith("def add")


def test_taco_and_lcb_shapes(subsets) -> None:
    largest, reverse = subsets["taco"].problems
    assert largest["fn_name"] == "largest" and largest["tests"][0] == {"input": "[1, 5, 2]", "output": "5"}
    assert reverse["test_type"] == "stdin"
    even, total = subsets["lcbv5"].problems
    assert even["fn_name"] == "countEven" and even["tests"][1] == {"input": "[]", "output": "0"}
    assert total["test_type"] == "stdin" and total["fn_name"] is None


def test_subset_is_required() -> None:
    with pytest.raises(UserError, match="needs a subset"):
        load_source("deepcoder", FIXTURE)


def test_converted_tests_judge_real_solutions(subsets) -> None:
    config = ExecutionConfig(time_limit_s=2.0, memory_limit_mb=256)
    cases = [
        (subsets["primeintellect"].problems[1], "def add(a, b):\n    return a + b\n"),
        (subsets["taco"].problems[0], "def largest(xs):\n    return max(xs)\n"),
        (subsets["lcbv5"].problems[0], "class Solution:\n    def countEven(self, nums):\n        return sum(x % 2 == 0 for x in nums)\n"),
        (subsets["codeforces"].problems[0], "print(max(map(int, input().split())))"),
    ]
    with make_sandbox("auto") as box:
        for problem, solution in cases:
            out = judge_candidate(solution, problem, box, config)
            assert out["verdict"] == T.PASSED, (problem["problem_id"], out)
        wrong = judge_candidate("def add(a, b):\n    return [a, b]\n", subsets["primeintellect"].problems[1], box, config)
    assert wrong["verdict"] == T.WA and json.loads(wrong["failed_actual_head"]) == [1, 2]
