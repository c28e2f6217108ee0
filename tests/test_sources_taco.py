"""TACO and APPS adapters (the shared ``input_output`` format) on folders laid out like BAAI/TACO and
codeparrot/apps, loading scripts included: stdin and call-based tests, class Solution, limits given as text,
expected return values judged as TACO's own checker does, reference solutions, malformed rows quarantined."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from builder.core import taxonomy as T
from builder.core.errors import UserError
from builder.core.settings import ExecutionSettings
from builder.judge.execute import judge_candidate
from builder.sandbox import make_sandbox
from builder.problems.sources import load_source
from builder.problems.sources.taco import _MEGABYTES, _SECONDS, parse_quantity

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "sources"))
from make_fixtures import FOLDERS  # noqa: E402

TACO, APPS = FOLDERS["taco"], FOLDERS["apps"]


@pytest.fixture(scope="module")
def taco():
    return load_source("taco", str(TACO), subset="ALL")


@pytest.fixture(scope="module")
def apps():
    return load_source("apps", str(APPS))


def _problem(result, pid: str) -> dict:
    return next(p for p in result.problems if p["problem_id"] == pid)


def test_taco_counts_and_fields(taco) -> None:
    assert taco.counts == {"rows": 5, "problems": 4, "quarantined": 1}
    assert taco.quarantine[0]["row_id"] == "taco/train/3" and taco.quarantine[0]["reason"] == "empty input_output"
    product, double, pal = (_problem(taco, f"taco/train/{i}") for i in range(3))
    assert product["source"] == "taco/codeforces" and product["difficulty"] == "medium_hard"
    assert product["title"] == "Product" and product["tags"] == ["Mathematics", "Implementation"]
    assert product["time_limit"] == 2.0 and product["memory_limit"] == 256
    assert product["tests"] == [{"input": "2 3\n", "output": "6\n"}, {"input": "-1 4\n", "output": "-4\n"}]
    assert product["functional_match"] is None
    assert double["test_type"] == "functional" and double["fn_name"] == "double" and double["difficulty"] == "unknown"
    # expected return values as TACO stores them (wrapped), judged by TACO's rule
    assert double["tests"] == [{"input": "2", "output": "[4]"}, {"input": "0.5", "output": "[1.0]"}]
    assert double["functional_match"] == "exact_or_first"
    assert pal["time_limit"] == 1.0 and pal["memory_limit"] is None and pal["tests"][1] == {"input": '"ab"', "output": "0"}
    assert product["origin"].endswith("#https://example.invalid/taco/product")


def test_taco_reads_the_scripts_files_else_the_parquet_conversion(tmp_path: Path) -> None:
    """TACO.py's Arrow files when present; a copy with only the card's Parquet conversion reads ``ALL/``."""
    assert load_source("taco", str(TACO), split="test").problems["title"] == ["Sum"]
    parquet_only = tmp_path / "TACO"
    shutil.copytree(TACO, parquet_only, ignore=shutil.ignore_patterns("*.arrow"))
    assert (parquet_only / "TACO.py").is_file()
    result = load_source("taco", str(parquet_only))
    assert result.counts == {"rows": 5, "problems": 4, "quarantined": 1}
    with pytest.raises(UserError, match="TACO subset 'EASY' is not offered"):
        load_source("taco", str(TACO), subset="EASY")
    shutil.rmtree(parquet_only / "ALL")
    with pytest.raises(UserError, match="no TACO data files for split train"):
        load_source("taco", str(parquet_only))


def test_taco_solutions_side_table(taco) -> None:
    rows = taco.solutions.to_list()
    assert [(r["problem_id"], r["index"], r["correct"], r["language"]) for r in rows] == [
        ("taco/train/0", 0, True, "python"), ("taco/train/0", 1, True, "python"),
    ]
    assert rows[0]["code"].startswith("a, b = map(int") and rows[0]["source"] == "taco/codeforces"
    assert len(load_source("taco", str(TACO), solutions=False).solutions) == 0


def test_apps_counts_and_fields(apps) -> None:
    assert apps.counts == {"rows": 3, "problems": 2, "quarantined": 1}
    assert apps.quarantine[0]["row_id"] == "2" and "not valid JSON" in apps.quarantine[0]["reason"]
    total, vowels = apps.problems
    assert total["problem_id"] == "apps/train/0" and total["difficulty"] == "introductory" and total["license"] == "mit"
    assert vowels["fn_name"] == "count_vowels" and vowels["functional_match"] == "exact_or_first"
    assert vowels["tests"] == [{"input": '"hello"', "output": "[2]"}, {"input": '"xyz"', "output": "[0]"}]
    assert apps.solutions["problem_id"] == ["apps/train/0"]
    test = load_source("apps", str(APPS), split="test")
    assert test.problems["problem_id"] == ["apps/test/0"]
    with pytest.raises(UserError, match="APPS has no split 'valid'"):
        load_source("apps", str(APPS), split="valid")


def test_quantities() -> None:
    assert parse_quantity("2.0 seconds", _SECONDS) == 2.0
    assert parse_quantity("500 ms", _SECONDS) == 0.5
    assert parse_quantity("1 second", _SECONDS) == 1.0
    assert parse_quantity("256.0 megabytes", _MEGABYTES) == 256.0
    assert parse_quantity("1 gigabyte", _MEGABYTES) == 1024.0
    assert parse_quantity(None, _SECONDS) is None and parse_quantity("fast", _SECONDS) is None


def test_solutions_pass_through_the_judge(taco, apps) -> None:
    config = ExecutionSettings(time_limit_s=2.0, memory_limit_mb=256)
    product, double, pal = (_problem(taco, f"taco/train/{i}") for i in range(3))
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


def test_call_based_outputs_judged_as_tacos_checker() -> None:
    """TACO stores ``last_two([7])``'s expected value as ``[7]``: the return value itself, a one-element list. TACO's
    checker accepts ``[7]`` (== outputs[i]) and ``7`` (== outputs[i][0]); the adapter used to unwrap it to ``7``, so
    the correct function failed with ``wa``. (The rows are read from one data file of the repository.)"""
    rows = load_source("taco", str(TACO / "ALL" / "train-00000-of-00001.parquet"))
    last_two = _problem(rows, "taco/train/4")
    assert json.loads(last_two["tests"][1]["output"]) == [7]
    config = ExecutionSettings(time_limit_s=2.0, memory_limit_mb=256)
    with make_sandbox("auto") as box:
        correct = judge_candidate("def last_two(xs):\n    return xs[-2:]\n", last_two, box, config)
        unwrapped = judge_candidate("def last_two(xs):\n    return xs[-2:] if len(xs) > 1 else xs[0]\n", last_two, box, config)
        wrong = judge_candidate("def last_two(xs):\n    return xs[:2]\n", last_two, box, config)
    assert correct["verdict"] == T.PASSED and correct["tests_passed"] == 2
    assert unwrapped["verdict"] == T.PASSED  # 7 == outputs[1][0]: TACO accepts it too
    assert wrong["verdict"] == T.WA
