"""TACO and APPS adapters (the shared ``input_output`` format): stdin and call-based tests, class Solution, limits
given as text, malformed rows quarantined."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder import taxonomy as T
from builder.execute import ExecutionConfig, judge_candidate
from builder.sandbox import make_sandbox
from builder.sources import load_source
from builder.sources.taco import _MEGABYTES, _SECONDS, parse_quantity

FIXTURES = Path(__file__).parent / "fixtures" / "sources"


@pytest.fixture(scope="module")
def taco():
    return load_source("taco", str(FIXTURES / "taco"), subset="ALL")


@pytest.fixture(scope="module")
def apps():
    return load_source("apps", str(FIXTURES / "apps"))


def test_taco_counts_and_fields(taco) -> None:
    assert taco.counts == {"rows": 4, "problems": 3, "quarantined": 1}
    assert taco.quarantine[0]["row_id"] == "taco/ALL/train/3" and taco.quarantine[0]["reason"] == "empty input_output"
    product, double, pal = taco.problems
    assert product["problem_id"] == "taco/ALL/train/0" and product["source"] == "taco/codeforces"
    assert product["difficulty"] == "medium_hard" and product["title"] == "Product"
    assert product["time_limit"] == 2.0 and product["memory_limit"] == 256
    assert product["tests"] == [{"input": "2 3\n", "output": "6\n"}, {"input": "-1 4\n", "output": "-4\n"}]
    assert double["test_type"] == "functional" and double["fn_name"] == "double" and double["difficulty"] == "unknown"
    assert double["tests"] == [{"input": "2", "output": "4"}, {"input": "0.5", "output": "1.0"}]
    assert pal["time_limit"] == 1.0 and pal["memory_limit"] is None and pal["tests"][1] == {"input": '"ab"', "output": "0"}
    assert product["origin"].endswith("#https://example.invalid/taco/product")


def test_apps_counts_and_fields(apps) -> None:
    assert apps.counts == {"rows": 3, "problems": 2, "quarantined": 1}
    assert apps.quarantine[0]["row_id"] == "2" and "not valid JSON" in apps.quarantine[0]["reason"]
    total, vowels = apps.problems
    assert total["problem_id"] == "apps/train/0" and total["difficulty"] == "introductory" and total["license"] == "mit"
    assert vowels["fn_name"] == "count_vowels" and vowels["tests"] == [{"input": '"hello"', "output": "2"}, {"input": '"xyz"', "output": "0"}]


def test_quantities() -> None:
    assert parse_quantity("2.0 seconds", _SECONDS) == 2.0
    assert parse_quantity("500 ms", _SECONDS) == 0.5
    assert parse_quantity("1 second", _SECONDS) == 1.0
    assert parse_quantity("256.0 megabytes", _MEGABYTES) == 256.0
    assert parse_quantity("1 gigabyte", _MEGABYTES) == 1024.0
    assert parse_quantity(None, _SECONDS) is None and parse_quantity("fast", _SECONDS) is None


def test_solutions_pass_through_the_judge(taco, apps) -> None:
    config = ExecutionConfig(time_limit_s=2.0, memory_limit_mb=256)
    product, double, pal = taco.problems
    total, vowels = apps.problems
    cases = [
        (product, "a, b = map(int, input().split())\nprint(a * b)", T.PASSED),
        (double, "def double(n):\n    return n * 2\n", T.PASSED),
        (double, "def double(n):\n    return n + n + 1\n", T.WA),
        (pal, "class Solution:\n    def isPal(self, s):\n        return int(s == s[::-1])\n", T.PASSED),
        (total, "print(sum(map(int, input().split())))", T.PASSED),
        (vowels, "def count_vowels(s):\n    return sum(c in 'aeiou' for c in s)\n", T.PASSED),
        (vowels, "def count_vowels(s):\n    return s.count(None)\n", T.LOGIC_ERROR),
    ]
    with make_sandbox("auto") as box:
        for problem, solution, expected in cases:
            assert judge_candidate(solution, problem, box, config)["verdict"] == expected, (problem["problem_id"], solution)
