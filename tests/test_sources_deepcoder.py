"""DeepCoder adapter on a folder laid out like agentica-org/DeepCoder-Preview-Dataset: every subset's ``tests`` JSON
shape, each subset's default split (codeforces has only ``test``), functional tests with metadata.func_name,
expected return values judged as DeepCoder's reward does, reference solutions, malformed rows."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from builder.core import taxonomy as T
from builder.core.errors import UserError
from builder.core.settings import ExecutionSettings
from builder.judge.execute import judge_candidate
from builder.sandbox import make_sandbox
from builder.problems.sources import load_source

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "sources"))
from make_fixtures import FOLDERS  # noqa: E402

FIXTURE = FOLDERS["deepcoder"]
CONFIG = ExecutionSettings(time_limit_s=2.0, memory_limit_mb=256)


@pytest.fixture(scope="module")
def subsets():
    return {name: load_source("deepcoder", str(FIXTURE), subset=name) for name in ("primeintellect", "taco", "lcbv5", "codeforces")}


def test_each_subset_defaults_to_the_split_it_has(subsets) -> None:
    assert {name: r.split for name, r in subsets.items()} == {
        "primeintellect": "train", "taco": "train", "lcbv5": "train", "codeforces": "test",
    }
    assert subsets["codeforces"].problems[0]["problem_id"] == "deepcoder/codeforces/test/0"
    assert load_source("deepcoder", str(FIXTURE), subset="lcbv5", split="test").problems["problem_id"] == ["deepcoder/lcbv5/test/0"]
    with pytest.raises(UserError, match="split train"):
        load_source("deepcoder", str(FIXTURE), subset="codeforces", split="train")


def test_counts_and_reasons(subsets) -> None:
    expected = {
        "primeintellect": (2, "tests is not valid JSON"),
        "taco": (3, "2 inputs but 1 outputs"),
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
    assert call["test_type"] == "functional" and call["fn_name"] == "add" and call["functional_match"] == "exact_or_first"
    assert call["tests"] == [{"input": "1\n2", "output": "[3]"}, {"input": "[1]\n[2]", "output": "[[1, 2]]"}]  # as stored
    assert call["starter_code"].startswith("def add")
    assert subsets["primeintellect"].solutions.to_list() == [
        {"problem_id": "deepcoder/primeintellect/train/0", "source": "deepcoder/primeintellect", "correct": True,
         "index": 0, "language": "python", "code": "n = int(input())\nprint(n * n)\n"},
    ]


def test_taco_and_lcb_shapes(subsets) -> None:
    largest, reverse, _ = subsets["taco"].problems
    assert largest["fn_name"] == "largest" and largest["tests"][0] == {"input": "[1, 5, 2]", "output": "[5]"}
    assert largest["functional_match"] == "exact_or_first" and reverse["test_type"] == "stdin"
    even, total = subsets["lcbv5"].problems
    assert even["fn_name"] == "countEven" and even["tests"][1] == {"input": "[]", "output": "0"}
    assert even["functional_match"] == "exact"  # LiveCodeBench's checker compares the value itself
    assert total["test_type"] == "stdin" and total["fn_name"] is None


def test_subset_is_required() -> None:
    with pytest.raises(UserError, match="needs a subset"):
        load_source("deepcoder", str(FIXTURE))


def test_converted_tests_judge_real_solutions(subsets) -> None:
    cases = [
        (subsets["primeintellect"].problems[1], "def add(a, b):\n    return a + b\n"),
        (subsets["taco"].problems[0], "def largest(xs):\n    return max(xs)\n"),
        (subsets["lcbv5"].problems[0], "class Solution:\n    def countEven(self, nums):\n        return sum(x % 2 == 0 for x in nums)\n"),
        (subsets["codeforces"].problems[0], "print(max(map(int, input().split())))"),
    ]
    with make_sandbox("auto") as box:
        for problem, solution in cases:
            out = judge_candidate(solution, problem, box, CONFIG)
            assert out["verdict"] == T.PASSED, (problem["problem_id"], out)
        wrong = judge_candidate("def add(a, b):\n    return [a, b]\n", subsets["primeintellect"].problems[1], box, CONFIG)
    assert wrong["verdict"] == T.WA and json.loads(wrong["failed_actual_head"]) == [1, 2]


def test_call_based_outputs_judged_as_deepcoders_reward() -> None:
    """DeepCoder's taco row stores ``evens([1, 2, 3])``'s expected value as ``[2]``: the return value itself. rllm
    judges the taco shape with TACO's checker (``outputs[i]`` or ``outputs[i][0]``), so ``[2]`` passes; the adapter
    used to unwrap it to ``2`` and fail the correct function."""
    taco = load_source("deepcoder", str(FIXTURE / "taco" / "train-00000-of-00001.parquet"), subset="taco")
    evens = next(p for p in taco.problems if p["fn_name"] == "evens")
    with make_sandbox("auto") as box:
        correct = judge_candidate("def evens(xs):\n    return [x for x in xs if x % 2 == 0]\n", evens, box, CONFIG)
        wrong = judge_candidate("def evens(xs):\n    return [x for x in xs if x % 2]\n", evens, box, CONFIG)
    assert correct["verdict"] == T.PASSED and correct["tests_passed"] == 2
    assert wrong["verdict"] == T.WA
