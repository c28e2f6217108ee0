"""`builder problems`: writes normalized problems and the quarantine; user mistakes are one line, exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from datasets import Dataset

from builder.cli import cli
from builder.core.tables import load_problems
from builder.core.schema import SOLUTION_FEATURES

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "sources"))
from make_fixtures import FOLDERS, KODCODE_TEST_CODE  # noqa: E402


def _run(*args: str):
    return CliRunner().invoke(cli, ["problems", *args])


def test_problems_writes_parquet_and_quarantine(tmp_path: Path) -> None:
    out = tmp_path / "cf.parquet"
    result = _run("--source", "codeforces", "--path", str(FOLDERS["codeforces"]), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "2 problems, 1 quarantined, 4 skipped" in result.output and "wrote 2 problems" in result.output
    problems, quarantine = load_problems(str(out))
    assert len(problems) == 2 and len(quarantine) == 0  # the written file reads back through builder.io unchanged
    assert problems["official_tests_complete"] == [False, True] and problems["tags"][0] == ["implementation", "math"]
    rows = [json.loads(line) for line in (tmp_path / "cf.quarantine.jsonl").read_text().splitlines()]
    assert sorted(r["row_id"] for r in rows) == ["1/C", "1/D", "1/E", "2/A", "2/B"]
    assert not (tmp_path / "cf.solutions.parquet").exists()  # open-r1/codeforces rows carry no solutions


@pytest.mark.parametrize(
    ("kind", "folder", "subset"),
    [(kind, folder, "codeforces" if kind == "deepcoder" else None) for kind, folder in FOLDERS.items()]
    + [("kodcode", KODCODE_TEST_CODE, None)],
)
def test_every_upstream_shaped_folder_loads(kind: str, folder: Path, subset: str | None, tmp_path: Path) -> None:
    """Each fixture folder, named and laid out like its upstream repository (loading script included for TACO, APPS
    and LiveCodeBench, which ``datasets`` 5 alone refuses), through ``builder problems --path FOLDER``."""
    args = ["--source", kind, "--path", str(folder), "--out", str(tmp_path / "p.jsonl")] + (["--subset", subset] if subset else [])
    result = _run(*args)
    assert result.exit_code == 0, result.output
    assert len(load_problems(str(tmp_path / "p.jsonl"))[0]) > 0


def test_reference_solutions_side_table(tmp_path: Path) -> None:
    out = tmp_path / "cc.jsonl"
    result = _run("--source", "code_contests", "--path", str(FOLDERS["code_contests"]), "--out", str(out))
    assert result.exit_code == 0, result.output
    solutions = Dataset.from_parquet(str(tmp_path / "cc.solutions.parquet"))
    assert solutions.features == SOLUTION_FEATURES
    assert [(r["problem_id"], r["correct"], r["language"]) for r in solutions] == [
        ("1000_A. Triple", True, "python3"), ("1000_A. Triple", True, "cpp"), ("1000_A. Triple", False, "python3"),
        ("p00001 Minimum", True, "python3"),
    ]
    assert set(solutions["problem_id"]) <= set(load_problems(str(out))[0]["problem_id"])


def test_problems_output_is_deterministic(tmp_path: Path) -> None:
    for name in ("a.jsonl", "b.jsonl"):
        result = _run("--source", "deepcoder", "--subset", "lcbv5", "--path", str(FOLDERS["deepcoder"]), "--limit", "2", "--out", str(tmp_path / name))
        assert result.exit_code == 0, result.output
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 2


def test_user_errors_are_one_line(tmp_path: Path) -> None:
    cases = [
        (["--source", "taco", "--path", str(tmp_path / "missing"), "--out", str(tmp_path / "o.jsonl")], "no such file or folder"),
        (["--source", "deepcoder", "--path", str(FOLDERS["deepcoder"]), "--out", str(tmp_path / "o.jsonl")], "needs a subset"),
        (["--source", "taco", "--path", str(FOLDERS["taco"]), "--out", str(tmp_path / "o.csv")], ".parquet or .jsonl"),
        (["--source", "livecodebench", "--path", str(FOLDERS["livecodebench"]), "--subset", "v42", "--out", str(tmp_path / "o.jsonl")], "unknown LiveCodeBench release"),
        (["--source", "apps", "--path", str(FOLDERS["apps"]), "--subset", "interview", "--out", str(tmp_path / "o.jsonl")], "APPS subset 'interview' is not offered"),
    ]
    for args, message in cases:
        result = _run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
