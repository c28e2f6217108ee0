"""`builder verify` end to end on real fixtures, and the clear one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from datasets import load_dataset

from builder.cli import cli

FIXTURES = Path(__file__).parent / "fixtures"


def _verify(tmp_path: Path, problems: Path | str, candidates: Path | str, out: str = "verdicts.parquet", *extra: str):
    runner = CliRunner()
    return runner.invoke(
        cli,
        ["verify", "--problems", str(problems), "--candidates", str(candidates), "--out", str(tmp_path / out), "--workers", "2", *extra],
    )


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_verify_kattis_end_to_end(tmp_path: Path) -> None:
    result = _verify(tmp_path, FIXTURES / "kattis/problems.jsonl", FIXTURES / "kattis/candidates.jsonl")
    assert result.exit_code == 0, result.output
    rows = {r["candidate_id"]: r for r in load_dataset("parquet", data_files=str(tmp_path / "verdicts.parquet"), split="train")}
    assert len(rows) == 5
    for cid, row in rows.items():
        if row["label"] == "accepted":
            assert row["verdict"] == "passed", (cid, row)
        else:  # the interactive `guess` problem cannot be passed by run-and-diff
            assert row["verdict"] != "passed"
    assert rows["kattis-oddecho_accepted_js"]["tests_passed"] == 18
    assert "passed" in result.output and "total" in result.output


def test_verify_lcb_responses_extracts_and_judges(tmp_path: Path) -> None:
    result = _verify(tmp_path, FIXTURES / "lcb/problems.jsonl", FIXTURES / "lcb/candidates.jsonl", "v.jsonl")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert len(rows) == 24
    accepted = [r for r in rows if r["label"] == "accepted"]
    assert accepted and all(r["verdict"] == "passed" for r in accepted), [r for r in accepted if r["verdict"] != "passed"]
    assert all(r["extraction"] == "extracted" for r in rows)
    assert all(r["tests_total"] >= 1 and 0.0 <= r["test_pass_rate"] <= 1.0 for r in rows)
    assert all(r["source"] == "atcoder" for r in rows)


def test_missing_file_is_one_line_exit_2(tmp_path: Path) -> None:
    result = _verify(tmp_path, tmp_path / "nope.jsonl", FIXTURES / "kattis/candidates.jsonl")
    assert result.exit_code == 2
    assert "no such file or folder" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_bad_output_extension_exit_2(tmp_path: Path) -> None:
    result = _verify(tmp_path, FIXTURES / "kattis/problems.jsonl", FIXTURES / "kattis/candidates.jsonl", "v.csv")
    assert result.exit_code == 2 and ".parquet or .jsonl" in result.output


def test_bad_rows_are_quarantined_with_reasons(tmp_path: Path) -> None:
    problems = tmp_path / "problems.jsonl"
    problems.write_text(
        json.dumps({"problem_id": "double", "tests": [{"input": "2\n", "output": "4\n"}]}) + "\n"
        + json.dumps({"problem_id": "no_tests", "tests": []}) + "\n"
        + "{not json\n"
    )
    candidates = _write_jsonl(
        tmp_path / "candidates.jsonl",
        [
            {"candidate_id": "good", "problem_id": "double", "solution": "print(2 * int(input()))"},
            {"candidate_id": "orphan", "problem_id": "missing", "solution": "print(1)"},
            {"candidate_id": "empty", "problem_id": "double"},
            {"candidate_id": "good", "problem_id": "double", "solution": "print(4)"},
        ],
    )
    result = _verify(tmp_path, problems, candidates, "v.jsonl")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert [(r["candidate_id"], r["verdict"]) for r in rows] == [("good", "passed")]
    quarantine = [json.loads(line) for line in (tmp_path / "v.quarantine.jsonl").read_text().splitlines()]
    reasons = sorted(q["reason"] for q in quarantine)
    assert len(quarantine) == 5
    assert any("has no tests" in r for r in reasons)
    assert any("malformed JSON on line 3" in r for r in reasons)
    assert any("unknown problem_id" in r for r in reasons)
    assert any("neither 'response' nor 'solution'" in r for r in reasons)
    assert any("duplicate candidate_id good" in r for r in reasons)
    assert "quarantined 5 input rows" in result.output


def test_no_usable_rows_is_an_error(tmp_path: Path) -> None:
    problems = _write_jsonl(tmp_path / "p.jsonl", [{"problem_id": "x", "tests": []}])
    result = _verify(tmp_path, problems, FIXTURES / "kattis/candidates.jsonl")
    assert result.exit_code == 2 and "no usable problems" in result.output and "has no tests" in result.output


def test_console_script_exit_code_and_single_line(tmp_path: Path) -> None:
    """The real entry point (not CliRunner): one line on stderr, exit status 2, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "builder.cli", "verify", "--problems", str(tmp_path / "x.jsonl"), "--candidates", "y.jsonl", "--out", str(tmp_path / "o.parquet")],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[1],
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
