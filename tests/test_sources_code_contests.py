"""deepmind/code_contests adapter: public + private + generated tests, cf_rating or the difficulty enum, time limit
from {seconds, nanos}, memory in bytes, file-I/O problems skipped, malformed tests quarantined, correct and incorrect
reference solutions in the side table."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.core import taxonomy as T
from builder.core.errors import UserError
from builder.core.settings import ExecutionSettings
from builder.judge.execute import judge_candidate
from builder.sandbox import make_sandbox
from builder.problems.sources import load_source

FIXTURE = str(Path(__file__).parent / "fixtures" / "sources" / "code_contests" / "code_contests")


@pytest.fixture(scope="module")
def result():
    return load_source("code_contests", FIXTURE)


def test_counts_and_quarantine(result) -> None:
    assert result.counts["problems"] == 2 and result.counts["skipped"] == 1 and result.counts["quarantined"] == 1
    reasons = dict(zip(result.quarantine["row_id"], result.quarantine["reason"]))
    assert reasons == {"1001_B. Files": "skipped: file input/output", "1002_C. Mismatch": "public_tests: 2 inputs but 1 outputs"}


def test_fields(result) -> None:
    triple, minimum = result.problems
    assert triple["problem_id"] == "1000_A. Triple" and triple["title"] == "Triple"
    assert triple["source"] == "code_contests/codeforces" and triple["difficulty"] == "800"
    assert triple["tests"] == [{"input": "1\n", "output": "3\n"}, {"input": "2\n", "output": "6\n"}, {"input": "0\n", "output": "0\n"}]
    assert triple["time_limit"] == 2.0 and triple["memory_limit"] == 256
    assert minimum["source"] == "code_contests/aizu" and minimum["difficulty"] == "unknown"
    assert minimum["time_limit"] == 1.5 and minimum["memory_limit"] == 128
    assert triple["tags"] == ["math"] and minimum["tags"] is None


def test_solutions_and_incorrect_solutions(result) -> None:
    rows = [r for r in result.solutions if r["problem_id"] == "1000_A. Triple"]
    assert [(r["index"], r["correct"], r["language"], r["code"]) for r in rows] == [
        (0, True, "python3", "print(3 * int(input()))"),
        (1, True, "cpp", "int main() { return 0; }"),
        (0, False, "python3", "print(int(input()) + 2)"),
    ]
    assert set(result.solutions["problem_id"]) == {"1000_A. Triple", "p00001 Minimum"}  # skipped/quarantined rows: none


def test_test_sets_option() -> None:
    public_only = load_source("code_contests", FIXTURE, test_sets=["public_tests"])
    assert len(public_only.problems[0]["tests"]) == 1
    with pytest.raises(UserError, match="unknown option"):
        load_source("code_contests", FIXTURE, test_set=["public_tests"])


def test_judged(result) -> None:
    config = ExecutionSettings(time_limit_s=2.0, memory_limit_mb=256)
    with make_sandbox("auto") as box:
        ok = judge_candidate("print(3 * int(input()))", result.problems[0], box, config)
        wrong = judge_candidate("print(3 * int(input()) + 1)", result.problems[0], box, config)
    assert ok["verdict"] == T.PASSED and ok["tests_passed"] == 3
    assert wrong["verdict"] == T.WA
