"""The ``local`` kind (already-normalized problems) shares builder.io's loading; the registry's errors are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder.core.errors import UserError
from builder.problems.sources import KINDS, load_source

FIXTURES = Path(__file__).parent / "fixtures"


def test_local_problems_file() -> None:
    result = load_source("local", str(FIXTURES / "lcb" / "problems.jsonl"))
    assert result.counts == {"rows": 12, "problems": 12, "quarantined": 0}
    assert result.license == "MIT"
    limited = load_source("local", str(FIXTURES / "lcb" / "problems.jsonl"), limit=3)
    assert len(limited.problems) == 3


def test_local_malformed_rows_are_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(
        json.dumps({"problem_id": "a", "tests": [{"input": "1", "output": "1"}]}) + "\n"
        + json.dumps({"problem_id": "b", "tests": []}) + "\n"
        + "{oops\n"
    )
    result = load_source("local", str(path))
    assert result.counts["problems"] == 1 and result.counts["quarantined"] == 2


def test_registry_errors(tmp_path: Path) -> None:
    assert set(KINDS) == {"local", "codeforces", "deepcoder", "taco", "apps", "code_contests", "livecodebench", "kodcode"}
    with pytest.raises(UserError, match="unknown source kind"):
        load_source("leetcode", "x")
    with pytest.raises(UserError, match="no such file or folder"):
        load_source("taco", str(tmp_path / "missing"))
    with pytest.raises(UserError, match="limit must be"):
        load_source("taco", str(FIXTURES / "sources" / "taco"), limit=-1)
    bad = tmp_path / "rows.csv"
    bad.write_text("a,b\n")
    with pytest.raises(UserError, match="unsupported file type"):
        load_source("apps", str(bad))
