"""Functional (call-based) and pytest-style tests: the wrapped programs run in real sandboxes and are judged with the
same taxonomy as stdin programs."""

from __future__ import annotations

import json
import textwrap

import pytest

from builder.core import taxonomy as T
from builder.core.settings import ExecutionSettings
from builder.judge.execute import judge_candidate, output_checker
from builder.judge.compare import compare_functional, values_match
from builder.judge.harness import TestProgram, program_for_test, pytest_test_ids, unsupported_fixtures
from builder.judge.verdict import run_verdict
from builder.sandbox import make_sandbox
from builder.sandbox.base import Limits

SANDBOX_KINDS = ["spawn", "auto"]
LIMITS = Limits(cpu_s=2.0, memory_mb=256)


@pytest.fixture(scope="module", params=SANDBOX_KINDS)
def sandbox(request: pytest.FixtureRequest):
    box = make_sandbox(request.param)
    yield box
    box.close()


def _verdict(sandbox, solution: str, problem: dict, test: dict) -> tuple[str, object]:
    """One test through the sandbox and the judge's decision order, comparing as the execute stage does."""
    program = program_for_test(solution, problem, test)
    run = sandbox.run(program.code, program.stdin.encode(), LIMITS, mode=program.mode, spec=program.spec)
    verdict = run_verdict(run, program.stdin, test["output"], output_checker(problem, test, run, sandbox, LIMITS))
    return verdict, run


# --- comparing return values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "stdout", "ok"),
    [
        ("[0, 1]", "[0, 1]\n", True),
        ("[0, 1]", "[1, 0]\n", False),
        ("[0, 1]", "debug line\n[0, 1]\n", True),  # the result is the last line
        ("3", "3.0000000001\n", True),
        ("0.1", "0.1001\n", False),
        ("[[0.5, 1], 2]", "[[0.5000000001, 1], 2]\n", True),  # tolerance inside nested lists
        ("[[0.5, 1], 2]", "[[0.51, 1], 2]\n", False),
        ('{"a": 1.5}', '{"a": 1.5000000001}\n', True),
        ('"abc"', '"abc"\n', True),
        ('"abc"', "abc\n", False),  # not JSON
        ("true", "true\n", True),
        ("[1, 2]", "[1, 2, 3]\n", False),
        ("null", "null\n", True),
        ("1", "", False),
        ("NaN", "NaN\n", True),
    ],
)
def test_compare_functional(expected: str, stdout: str, ok: bool) -> None:
    assert compare_functional(expected, stdout, 1e-6) is ok


def test_values_match_tolerance_is_relative_to_max_one() -> None:
    assert values_match(1e6, 1e6 + 0.5, 1e-6)
    assert not values_match(1e6, 1e6 + 2.0, 1e-6)
    assert values_match([1.0, 2], [1, 2], 1e-6)


# --- functional tests -------------------------------------------------------------------------------------------

TWO_SUM = {"problem_id": "two-sum", "test_type": "functional", "fn_name": "twoSum"}
TWO_SUM_TESTS = [{"input": "[2, 7, 11, 15]\n9", "output": "[0, 1]"}, {"input": "[3, 2, 4]\n6", "output": "[1, 2]"}]

CORRECT = textwrap.dedent(
    """\
    from typing import List

    class Solution:
        def twoSum(self, nums: List[int], target: int) -> List[int]:
            print("debugging output goes to stderr")
            seen = {}
            for i, x in enumerate(nums):
                if target - x in seen:
                    return [seen[target - x], i]
                seen[x] = i
    """
)

FUNCTIONAL_CASES = {
    "passed": (CORRECT, T.PASSED),
    "plain_function": ("def twoSum(nums, target):\n    return (0, 1) if target == 9 else (1, 2)\n", T.PASSED),
    "future_and_main_guard": (
        "from __future__ import annotations\n\ndef twoSum(nums: list[int], target: int) -> list[int]:\n"
        "    return [0, 1] if target == 9 else [1, 2]\n\nif __name__ == '__main__':\n    print(twoSum(*eval(input())))\n",
        T.PASSED,
    ),
    "wa": ("def twoSum(nums, target):\n    return [1, 0]\n", T.WA),
    "returns_none": ("def twoSum(nums, target):\n    pass\n", T.WA),
    "logic_error": ("def twoSum(nums, target):\n    return [nums[10]]\n", T.LOGIC_ERROR),
    "missing_function": ("def two_sum(nums, target):\n    return [0, 1]\n", T.LOGIC_ERROR),
    "runtime_error": ("def twoSum(nums, target):\n    raise SystemError('boom')\n", T.RUNTIME_ERROR),
    "syntax_error": ("def twoSum(nums, target)\n    return [0, 1]\n", T.SYNTAX_ERROR),
    "exits_silently": ("import sys\nsys.exit(0)\ndef twoSum(nums, target):\n    return [0, 1]\n", T.EMPTY_OUTPUT),
}


@pytest.mark.parametrize("case", sorted(FUNCTIONAL_CASES))
def test_functional_verdicts(sandbox, case: str) -> None:
    solution, expected = FUNCTIONAL_CASES[case]
    verdict, run = _verdict(sandbox, solution, TWO_SUM, TWO_SUM_TESTS[0])
    assert verdict == expected, (case, run)


def test_functional_result_comes_from_the_runner_not_stdout(sandbox) -> None:
    verdict, run = _verdict(sandbox, CORRECT, TWO_SUM, TWO_SUM_TESTS[0])
    assert verdict == T.PASSED
    assert run.result == "[0, 1]" and run.stdout == b""
    assert b"debugging output goes to stderr" in run.stderr_tail
    # printing the expected value is not returning it
    printer = "import os\ndef twoSum(nums, target):\n    os.write(1, b'[0, 1]\\n')\n    os._exit(0)\n"
    verdict, run = _verdict(sandbox, printer, TWO_SUM, TWO_SUM_TESTS[0])
    assert verdict == T.EMPTY_OUTPUT and run.result is None, run


def test_functional_float_results_inside_lists(sandbox) -> None:
    problem = {"problem_id": "avg", "test_type": "functional", "fn_name": "averages"}
    test = {"input": "[[1, 2], [1, 1, 2]]", "output": "[1.5, 1.3333333333333333]"}
    ok = "def averages(groups):\n    return [sum(g) / len(g) for g in groups]\n"
    off = "def averages(groups):\n    return [round(sum(g) / len(g), 2) for g in groups]\n"
    assert _verdict(sandbox, ok, problem, test)[0] == T.PASSED
    assert _verdict(sandbox, off, problem, test)[0] == T.WA


def test_functional_through_judge_candidate() -> None:
    problem = {**TWO_SUM, "tests": TWO_SUM_TESTS, "time_limit": 2.0, "memory_limit": 256, "float_tolerance": None,
               "checker": None, "case_insensitive": False}
    config = ExecutionSettings(time_limit_s=2.0, memory_limit_mb=256)
    with make_sandbox("auto") as box:
        good = judge_candidate(CORRECT, problem, box, config)
        wrong = judge_candidate("def twoSum(nums, target):\n    return [0, 1]\n", problem, box, config)
        crash = judge_candidate(FUNCTIONAL_CASES["logic_error"][0], problem, box, config)
    assert good["verdict"] == T.PASSED and good["tests_passed"] == 2
    assert wrong["verdict"] == T.WA and wrong["test_verdicts"] == [T.PASSED, T.WA] and wrong["first_failed_test"] == 1
    assert crash["verdict"] == T.LOGIC_ERROR and crash["exception"] == "IndexError"


def test_program_for_test_contract() -> None:
    assert program_for_test("print(1)", {"test_type": "stdin"}, {"input": "x", "output": "1"}) == TestProgram("print(1)", "x")
    with pytest.raises(ValueError, match="fn_name"):
        program_for_test("def f(): pass", {"problem_id": "p", "test_type": "functional"}, {"input": "1", "output": "1"})
    with pytest.raises(ValueError, match="unknown test_type"):
        program_for_test("", {"problem_id": "p", "test_type": "interactive"}, {"input": "", "output": ""})
    program = program_for_test("def f(a, b):\n    return a + b\n", {"test_type": "functional", "fn_name": "f"}, {"input": "1\n2", "output": "3"})
    assert program == TestProgram("def f(a, b):\n    return a + b\n", "", "call", {"fn_name": "f", "args": "1\n2"})
    program = program_for_test("x = 1\n", {"test_type": "pytest"}, {"input": "def test_a(): pass\n", "output": '"test_a"'})
    assert program.mode == "unittest" and program.spec == {"test_source": "def test_a(): pass\n", "test_id": "test_a"}


# --- pytest-style tests -------------------------------------------------------------------------------------------

UNIT_TESTS = textwrap.dedent(
    '''\
    import pytest
    from solution import mean, Counter


    def test_mean():
        assert mean([1, 2, 3]) == 2


    @pytest.mark.parametrize("values, expected", [([1.0, 2.0], 1.5), ([0.1, 0.2], pytest.approx(0.15))])
    def test_mean_param(values, expected):
        assert mean(values) == expected


    def test_mean_empty():
        with pytest.raises(ValueError, match="empty"):
            mean([])


    def test_prints(capsys, tmp_path):
        mean([1], verbose=True)
        assert capsys.readouterr().out == "mean of 1 values\\n"
        assert tmp_path.exists()


    class TestCounter:
        def test_counts(self):
            c = Counter()
            c.add("a")
            c.add("a")
            assert c.count("a") == 2
    '''
)

GOOD_MODULE = textwrap.dedent(
    """\
    def mean(values, verbose=False):
        if not values:
            raise ValueError("empty input")
        if verbose:
            print(f"mean of {len(values)} values")
        return sum(values) / len(values)


    class Counter:
        def __init__(self):
            self.seen = {}

        def add(self, key):
            self.seen[key] = self.seen.get(key, 0) + 1

        def count(self, key):
            return self.seen.get(key, 0)


    if __name__ == "__main__":
        print(mean([float(x) for x in input().split()]))
    """
)

KOD = {"problem_id": "kod", "test_type": "pytest"}
IDS = pytest_test_ids(UNIT_TESTS)


def _tests() -> list[dict[str, str]]:
    return [{"input": UNIT_TESTS, "output": json.dumps(test_id)} for test_id in IDS]


def test_pytest_ids_and_fixtures() -> None:
    assert IDS == ["test_mean", "test_mean_param", "test_mean_empty", "test_prints", "TestCounter::test_counts"]
    assert unsupported_fixtures(UNIT_TESTS) == []
    assert unsupported_fixtures("def test_x(db, tmp_path):\n    pass\n") == ["db"]
    fixture_module = "import pytest\n\n@pytest.fixture\ndef db():\n    return 1\n\ndef test_x(db):\n    assert db\n"
    assert unsupported_fixtures(fixture_module) == []


def test_pytest_style_passes(sandbox) -> None:
    verdicts = [_verdict(sandbox, GOOD_MODULE, KOD, test)[0] for test in _tests()]
    assert verdicts == [T.PASSED] * len(IDS)


def test_pytest_style_failed_assertion_is_wa(sandbox) -> None:
    wrong = GOOD_MODULE.replace("return sum(values) / len(values)", "return sum(values) / (len(values) + 1)")
    verdicts = [_verdict(sandbox, wrong, KOD, test)[0] for test in _tests()]
    assert verdicts == [T.WA, T.WA, T.PASSED, T.PASSED, T.PASSED]
    verdict, run = _verdict(sandbox, wrong, KOD, _tests()[0])
    assert run.outcome == "fail" and run.failure.startswith("AssertionError"), run


def test_pytest_style_missing_raise_is_wa(sandbox) -> None:
    lenient = GOOD_MODULE.replace('raise ValueError("empty input")', "return 0.0")
    assert _verdict(sandbox, lenient, KOD, _tests()[2])[0] == T.WA


def test_pytest_style_exception_in_solution_is_logic_error(sandbox) -> None:
    broken = GOOD_MODULE.replace("self.seen[key] = self.seen.get(key, 0) + 1", "self.seen[key] += 1")
    verdict, run = _verdict(sandbox, broken, KOD, _tests()[4])
    assert verdict == T.LOGIC_ERROR and run.exception == "KeyError"
    # an assert inside the solution's own code is the solution's bug, not a failed test
    asserting = GOOD_MODULE.replace("if not values:", "assert values, 'no values'\n    if not values:")
    verdict, run = _verdict(sandbox, asserting, KOD, _tests()[2])
    assert verdict == T.LOGIC_ERROR and run.exception == "AssertionError"


def test_pytest_style_missing_name_is_wa(sandbox) -> None:
    partial = GOOD_MODULE.replace("class Counter:", "class Tally:")
    verdicts = [_verdict(sandbox, partial, KOD, test)[0] for test in _tests()]
    assert verdicts == [T.WA] * len(IDS)  # the test module cannot import its names: every test fails


def test_pytest_style_through_judge_candidate() -> None:
    problem = {**KOD, "tests": _tests(), "time_limit": 2.0, "memory_limit": 256, "float_tolerance": None,
               "checker": None, "case_insensitive": False}
    config = ExecutionSettings(time_limit_s=2.0, memory_limit_mb=256)
    broken = GOOD_MODULE.replace("return sum(values) / len(values)", "return values[99]")
    with make_sandbox("auto") as box:
        good = judge_candidate(GOOD_MODULE, problem, box, config)
        crash = judge_candidate(broken, problem, box, config)
    assert good["verdict"] == T.PASSED and good["tests_passed"] == len(IDS)
    assert crash["verdict"] == T.LOGIC_ERROR and crash["exception"] == "IndexError"
