"""Quarantine reasons say each thing once, and keep the offending text (truncated) so the user can fix the row."""

from __future__ import annotations

import json
import re
from pathlib import Path

from builder.core.tables import RAW_LIMIT, load_rows


def _quarantine(path: Path, lines: list[str]) -> list[dict[str, str]]:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    loaded = load_rows(str(path), "candidates", cache_dir=str(path.parent / "cache"))
    return list(loaded.quarantine)


def test_a_malformed_line_names_its_line_once_and_keeps_its_text(tmp_path: Path) -> None:
    good = json.dumps({"candidate_id": "a", "problem_id": "p", "solution": "print(1)"})
    broken = '{"candidate_id": "b", "problem_id": "p" "solution": "print(2)"}'
    rows = _quarantine(tmp_path / "c.jsonl", [good, good.replace('"a"', '"a2"'), broken, "[1, 2]", '"text"'])
    by_id = {r["row_id"]: r for r in rows}
    assert by_id["line 3"]["reason"] == "line 3: malformed JSON: Expecting ',' delimiter at column 41"
    assert by_id["line 3"]["row"] == broken  # the text the user has to fix
    assert by_id["line 4"]["reason"] == "line 4: not a JSON object but an array"
    assert by_id["line 4"]["row"] == "[1, 2]"
    assert by_id["line 5"]["reason"] == "line 5: not a JSON object but a string"
    for row in rows:  # no reason repeats its own place ("line 3: ... on line 3"), none says "line 1" for line 3
        places = re.findall(r"\bline \d+", row["reason"])
        assert places == [row["row_id"]], row["reason"]


def test_long_raw_text_is_cut_and_says_so(tmp_path: Path) -> None:
    broken = '{"candidate_id": "b", "solution": "' + "x" * (RAW_LIMIT + 500) + '"'  # never closed
    (row,) = _quarantine(tmp_path / "c.jsonl", [broken])
    assert row["row"].startswith('{"candidate_id": "b"')
    assert row["row"].endswith(f"... ({len(broken) - RAW_LIMIT} more characters)")
    assert len(row["row"]) < RAW_LIMIT + 100


def test_a_row_that_parsed_but_failed_its_checks_keeps_the_row(tmp_path: Path) -> None:
    bad = json.dumps({"candidate_id": "c", "problem_id": "p", "solution": "print(1)", "num_tokens": "many"})
    (row,) = _quarantine(tmp_path / "c.jsonl", [bad])
    assert row["row_id"] == "c"
    assert row["reason"].startswith("line 1: ") and row["reason"].count("line 1") == 1
    assert json.loads(row["row"])["num_tokens"] == "many"
