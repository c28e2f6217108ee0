"""`builder problems`: writes normalized problems and the quarantine; user mistakes are one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from builder.cli import cli
from builder.io import load_problems

FIXTURES = Path(__file__).parent / "fixtures" / "sources"


def _run(*args: str):
    return CliRunner().invoke(cli, ["problems", *args])


def test_problems_writes_parquet_and_quarantine(tmp_path: Path) -> None:
    out = tmp_path / "cf.parquet"
    result = _run("--source", "codeforces", "--path", str(FIXTURES / "codeforces"), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "3 problems, 1 quarantined, 2 skipped" in result.output and "wrote 3 problems" in result.output
    problems, quarantine = load_problems(str(out))
    assert len(problems) == 3 and len(quarantine) == 0  # the written file reads back through builder.io unchanged
    rows = [json.loads(line) for line in (tmp_path / "cf.quarantine.jsonl").read_text().splitlines()]
    assert sorted(r["row_id"] for r in rows) == ["1/C", "1/D", "1/E"]


def test_problems_output_is_deterministic(tmp_path: Path) -> None:
    for name in ("a.jsonl", "b.jsonl"):
        result = _run("--source", "deepcoder", "--subset", "lcbv5", "--path", str(FIXTURES / "deepcoder"), "--limit", "2", "--out", str(tmp_path / name))
        assert result.exit_code == 0, result.output
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 2


def test_user_errors_are_one_line(tmp_path: Path) -> None:
    cases = [
        (["--source", "taco", "--path", str(tmp_path / "missing"), "--out", str(tmp_path / "o.jsonl")], "no such file or folder"),
        (["--source", "deepcoder", "--path", str(FIXTURES / "deepcoder"), "--out", str(tmp_path / "o.jsonl")], "needs a subset"),
        (["--source", "taco", "--path", str(FIXTURES / "taco"), "--out", str(tmp_path / "o.csv")], ".parquet or .jsonl"),
        (["--source", "livecodebench", "--path", str(FIXTURES / "livecodebench"), "--subset", "v42", "--out", str(tmp_path / "o.jsonl")], "unknown LiveCodeBench release"),
    ]
    for args, message in cases:
        result = _run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
