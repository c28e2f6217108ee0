"""Reference-solution validation in the problems stage: upstream-shaped fixtures of every adapter that ships references
(tests/fixtures/sources/validation, written by make_fixtures.py), each with a clean problem, a problem whose tests reject
every correct reference (tests_broken) and, where the upstream has incorrect references, one that lets one pass
(tests_weak); the counts per source, the judge's false-negative rate, caching, and the local solutions file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from datasets import Dataset

from builder.cli import cli
from builder.core.errors import UserError
from builder.core.settings import ExecutionSettings, ProblemsSettings, SourceSettings
from builder.problems import validate
from builder.problems.stage import CollectedProblems, collect_problems
from builder.problems.validate import judgement, wilson_interval

V = Path(__file__).parent / "fixtures" / "sources" / "validation"
SOURCES = [
    SourceSettings(kind="taco", path=str(V / "taco" / "TACO")),
    SourceSettings(kind="apps", path=str(V / "apps" / "apps")),
    SourceSettings(kind="deepcoder", path=str(V / "deepcoder" / "DeepCoder-Preview-Dataset"), subset="primeintellect"),
    SourceSettings(kind="code_contests", path=str(V / "code_contests" / "code_contests")),
    SourceSettings(kind="kodcode", path=str(V / "kodcode" / "KodCode-V1")),
    SourceSettings(kind="local", path=str(V / "local" / "problems.jsonl"), options={"solutions": str(V / "local" / "solutions.jsonl")}),
]
#: problem id -> (tests_broken, tests_weak)
EXPECTED = {
    "taco/train/0": (False, None),  # clean; its Python 2 reference is left out, not run
    "taco/train/1": (True, None),
    "taco/train/2": (False, None),  # call-based reference
    "apps/train/0": (False, None),
    "apps/train/1": (True, None),
    "deepcoder/primeintellect/train/0": (False, None),
    "deepcoder/primeintellect/train/1": (True, None),
    "2000_A. Clean Sum": (False, False),  # its incorrect reference fails: tests not weak
    "2000_B. Weak Sum": (False, True),
    "2000_C. Broken Sum": (True, True),
    "Leetcode_10_I": (False, None),  # pytest-style tests
    "Leetcode_11_I": (True, None),
    "local-clean": (False, False),
    "local-weak": (False, True),
    "local-broken": (True, None),
    "local-none": (None, None),  # no reference: not validated
}


@pytest.fixture(scope="module")
def collected() -> CollectedProblems:
    return collect_problems(SOURCES, ProblemsSettings(validation=True, references=3), execution=ExecutionSettings(workers=2))


def test_every_adapter_clean_broken_and_weak(collected: CollectedProblems) -> None:
    rows = {r["problem_id"]: r for r in collected.problems}
    assert {pid: (r["tests_broken"], r["tests_weak"]) for pid, r in rows.items()} == EXPECTED
    # the failing verdicts are kept: the broken problems' correct references all got wa, with the test that failed
    broken = rows["taco/train/1"]["reference_results"]
    assert [(o["correct"], o["verdict"], o["first_failed_test"]) for o in broken] == [(True, "wa", 0)]
    assert broken[0]["failed_expected_head"] == "2\n" and broken[0]["failed_actual_head"].strip() == "3"
    # CodeContests: the Python 3 references only (C++ and Python 2 left out), correct and incorrect ones
    clean = rows["2000_A. Clean Sum"]["reference_results"]
    assert [(o["correct"], o["language"], o["verdict"]) for o in clean] == [(True, "python3", "passed"), (False, "python3", "wa")]
    assert [o["index"] for o in rows["taco/train/0"]["reference_results"]] == [1, 2]  # index 0 is Python 2
    assert "left out: 1 (does not compile as Python 3), 1 (language cpp), 1 (language python2)" in "\n".join(collected.notes)


def test_counts_per_source_and_false_negative_rate(collected: CollectedProblems) -> None:
    record = collected.record().validation
    assert record is not None and record.references == 3
    by_source = {s.source: s for s in record.sources}
    cc = by_source["code_contests/codeforces"]
    assert (cc.problems, cc.validated, cc.broken, cc.weak_checked, cc.weak) == (3, 3, 1, 3, 2)
    assert (cc.correct_run, cc.correct_rejected, cc.incorrect_run, cc.incorrect_passed) == (3, 1, 4, 2)
    local = by_source["local"]
    assert (local.problems, local.with_references, local.validated, local.broken, local.weak) == (4, 3, 3, 1, 1)
    run = sum(s.correct_run for s in record.sources)
    rejected = sum(s.correct_rejected for s in record.sources)
    assert (run, rejected) == (17, 7) and record.rejected_verdicts == {"wa": 7}
    assert "false negatives on correct references 7/17 = 41.2% (95% CI 21.6%-64.0%)" in "\n".join(collected.notes)


def test_broken_problems_are_kept_out_of_generation(collected: CollectedProblems) -> None:
    trainable = set(collected.trainable()["problem_id"])
    assert trainable == {pid for pid, (broken, _) in EXPECTED.items() if broken is not True}
    assert len(collected.problems) == len(EXPECTED)  # the problems config keeps them all, marked


def test_verdicts_are_cached(collected: CollectedProblems, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_judge(*_: Any) -> dict[str, Any]:
        raise AssertionError("judged again although nothing changed")

    monkeypatch.setattr(validate, "judge_references", no_judge)
    again = collect_problems(SOURCES, ProblemsSettings(validation=True, references=3), execution=ExecutionSettings(workers=2))
    assert again.problems["tests_broken"] == collected.problems["tests_broken"]
    # a changed setting that decides verdicts (the time limit of problems without one) is not served from the cache
    with pytest.raises(AssertionError, match="judged again"):
        collect_problems(SOURCES, ProblemsSettings(validation=True, references=3), execution=ExecutionSettings(workers=2, time_limit_s=3.0))


def test_local_solutions_file_labels_and_quarantine(collected: CollectedProblems) -> None:
    local = [s for s in collected.sources if s.kind == "local"][0]
    assert local.solutions is not None
    assert sorted(zip(local.solutions["problem_id"], local.solutions["correct"])) == [
        ("local-broken", True), ("local-clean", False), ("local-clean", True), ("local-weak", False), ("local-weak", True)
    ]
    assert "5 references (1 labelled rejected: not references)" in local.summary()
    assert list(collected.quarantine["reason"]) == ["solutions row 6: unknown problem_id 'no-such-problem'"]


def test_local_solutions_file_without_code_column_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "solutions.jsonl"
    bad.write_text(json.dumps({"problem_id": "local-clean", "program": "print(1)"}) + "\n")
    with pytest.raises(UserError, match="need problem_id and code"):
        collect_problems([SourceSettings(kind="local", path=str(V / "local" / "problems.jsonl"), options={"solutions": str(bad)})])


def test_judgement_rules() -> None:
    ok = {"correct": True, "verdict": "passed"}
    wa = {"correct": True, "verdict": "wa"}
    timeout = {"correct": True, "verdict": "timeout"}
    lost = {"correct": True, "verdict": "sandbox_error"}
    wrong_passes = {"correct": False, "verdict": "passed"}
    wrong_fails = {"correct": False, "verdict": "wa"}
    assert judgement([ok, wa]) == (False, None)  # one correct reference passing is enough
    assert judgement([wa, timeout]) == (True, None)
    assert judgement([lost]) == (None, None)  # the executor failed: says nothing about the tests
    assert judgement([lost, wa]) == (True, None)
    assert judgement([ok, wrong_fails]) == (False, False)
    assert judgement([ok, wrong_fails, wrong_passes]) == (False, True)
    assert judgement([]) == (None, None)


def test_wilson_interval() -> None:
    assert wilson_interval(0, 0) is None
    p, lo, hi = wilson_interval(0, 525)  # type: ignore[misc]
    assert p == 0.0 and lo == 0.0 and hi == pytest.approx(0.00726, abs=1e-4)
    p, lo, hi = wilson_interval(10, 100)  # type: ignore[misc]
    assert p == 0.1 and lo == pytest.approx(0.0552, abs=1e-4) and hi == pytest.approx(0.1744, abs=1e-4)


def test_problems_command_validates_a_local_source(tmp_path: Path) -> None:
    out = tmp_path / "checked.jsonl"
    result = CliRunner().invoke(cli, [
        "problems", "--source", "local", "--path", str(V / "local" / "problems.jsonl"),
        "--solutions", str(V / "local" / "solutions.jsonl"), "--validate", "--workers", "1", "--out", str(out),
    ])
    assert result.exit_code == 0, result.output
    assert "3 problems validated, 1 tests_broken, 1 tests_weak of 2 checked" in result.output
    rows = {r["problem_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["local-broken"]["tests_broken"] is True and rows["local-weak"]["tests_weak"] is True
    assert rows["local-none"]["tests_broken"] is None
    refused = CliRunner().invoke(cli, ["problems", "--source", "taco", "--path", str(V / "taco" / "TACO"),
                                       "--solutions", str(V / "local" / "solutions.jsonl"), "--out", str(tmp_path / "x.jsonl")])
    assert refused.exit_code == 2 and "--solutions is for local sources" in refused.output


def test_trainable_without_validation_is_every_problem() -> None:
    from builder.core.schema import PROBLEM_FEATURES

    rows = [{**{k: None for k in PROBLEM_FEATURES}, "problem_id": f"p{i}", "tests": [{"input": "", "output": ""}],
             "case_insensitive": False, "test_type": "stdin", "tests_broken": b} for i, b in enumerate([None, False, True])]
    problems = Dataset.from_list(rows, features=PROBLEM_FEATURES)
    assert validate.trainable(problems)["problem_id"] == ["p0", "p1"]
    assert len(validate.trainable(problems.select([0, 1]))) == 2
