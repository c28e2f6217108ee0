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
    assert any(r.startswith("line 3: malformed JSON: ") for r in reasons)
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


# --- one bad row never fails the whole load ------------------------------------------------------------------------

GOOD_PROBLEM = {"problem_id": "double", "tests": [{"input": "2\n", "output": "4\n"}, {"input": "5\n", "output": "10\n"}]}
GOOD_SOLUTION = "print(2 * int(input()))"


def _quarantine(tmp_path: Path, out: str) -> dict[str, str]:
    path = tmp_path / (Path(out).stem + ".quarantine.jsonl")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return {q["row_id"]: q["reason"] for q in rows}


def test_bad_candidate_rows_in_jsonl_are_quarantined(tmp_path: Path) -> None:
    problems = _write_jsonl(tmp_path / "p.jsonl", [GOOD_PROBLEM])
    lines = [
        json.dumps({"candidate_id": "double_0", "problem_id": "double", "solution": GOOD_SOLUTION}),
        # json.dumps escapes a lone surrogate as \ud800: the text any JSON writer produces for one
        json.dumps({"candidate_id": "surrogate_response", "problem_id": "double", "response": "```python\nprint(1)\n```\ud800"}),
        json.dumps({"candidate_id": "surrogate_solution", "problem_id": "double", "solution": "print(4)  # \udfff"}),
        json.dumps({"candidate_id": "surrogate_\ud83d", "problem_id": "double", "solution": GOOD_SOLUTION}),
        json.dumps({"candidate_id": "surrogate_problem", "problem_id": "dou\udc00ble", "solution": GOOD_SOLUTION}),
        json.dumps({"candidate_id": "huge_tokens", "problem_id": "double", "solution": GOOD_SOLUTION, "num_tokens": 10**30}),
        json.dumps({"candidate_id": "inf_tokens", "problem_id": "double", "solution": GOOD_SOLUTION, "num_tokens": 1e400}).replace("Infinity", "1e400"),
        json.dumps({"candidate_id": "nan_index", "problem_id": "double", "solution": GOOD_SOLUTION, "candidate_index": float("nan")}),
        json.dumps({"candidate_id": "list_index", "problem_id": "double", "solution": GOOD_SOLUTION, "candidate_index": [1]}),
        json.dumps({"candidate_id": "dict_response", "problem_id": "double", "response": {"text": "print(4)"}}),
        '{"candidate_id": "digits", "problem_id": "double", "solution": "print(4)", "num_tokens": ' + "9" * 5000 + "}",
        '{"candidate_id": "deep", "problem_id": "double", "solution": "print(4)", "model": ' + "[" * 100_000 + "]" * 100_000 + "}",
        json.dumps({"candidate_id": "double_1", "problem_id": "double", "solution": "input()\nprint(4)"}),
    ]
    raw = ("\n".join(lines) + "\n").encode("utf-8", errors="surrogatepass")  # keep json.dumps' escapes as they are
    # invalid UTF-8 bytes in a JSON string (not an escape): the row, not the load, fails
    raw += b'{"candidate_id": "bad_bytes", "problem_id": "double", "solution": "print(4) # \xff\xfe"}\n'
    candidates = tmp_path / "c.jsonl"
    candidates.write_bytes(raw)
    result = _verify(tmp_path, problems, candidates, "v.jsonl")
    assert result.exit_code == 0, result.output
    rows = {r["candidate_id"]: r["verdict"] for r in map(json.loads, (tmp_path / "v.jsonl").read_text().splitlines())}
    assert rows == {"double_0": "passed", "double_1": "wa"}
    q = _quarantine(tmp_path, "v.jsonl")
    assert "field response: lone surrogate U+D800 at index 22 cannot be encoded as UTF-8" in q["surrogate_response"]
    assert "field solution: lone surrogate U+DFFF at index 12" in q["surrogate_solution"]
    assert "field candidate_id: lone surrogate U+D83D at index 10" in q["surrogate_\\ud83d"]  # the id, escaped
    assert "field problem_id: lone surrogate U+DC00 at index 3" in q["surrogate_problem"]
    assert "field num_tokens must be an integer in [-2147483648, 2147483647]" in q["huge_tokens"]
    assert "num_tokens must be a finite number, got inf" in q["inf_tokens"]
    assert "candidate_index must be a finite number, got nan" in q["nan_index"]
    assert "candidate_index must be a number, got list" in q["list_index"]
    assert "response must be a string, got dict" in q["dict_response"]
    assert q["line 11"].startswith("line 11: malformed JSON: Exceeds the limit")  # an integer over 4,300 digits
    assert q["line 12"] == "line 12: malformed JSON: nested too deeply"  # nesting deeper than the parser's recursion limit
    assert "field solution: lone surrogate U+DCFF at index 11 cannot be encoded as UTF-8 (an invalid UTF-8 byte" in q["bad_bytes"]
    assert len(q) == 12
    assert "quarantined 12 input rows (text not encodable as UTF-8: 5, wrong type or range: 5, malformed JSON: 2)" in result.output
    assert "Traceback" not in result.output


def test_bad_problem_rows_in_jsonl_are_quarantined(tmp_path: Path) -> None:
    def problem(pid: str, **kw: object) -> dict[str, object]:
        return {**GOOD_PROBLEM, "problem_id": pid, **kw}

    rows = [
        problem("double"),
        problem("surrogate_output", tests=[{"input": "1\n", "output": "2\n"}, {"input": "2\n", "output": "4\ud800"}]),
        problem("surrogate_title", title="Doub\udbffle"),
        problem("surrogate_tests_json", tests=json.dumps([{"input": "2\n", "output": "\udc80"}])),
        problem("int_input", tests=[{"input": 2, "output": "4"}]),
        problem("null_output", tests=[{"input": "2", "output": None}]),
        problem("tests_dict", tests={"inputs": ["2"], "outputs": ["4"]}),
        problem("tests_bad_json", tests="[{"),
        problem("nan_time", time_limit=float("nan")),
        problem("negative_time", time_limit=-1),
        problem("millis_time", time_limit=2000000),
        problem("word_time", time_limit="two seconds"),
        problem("huge_memory", memory_limit=10**30),
        problem("bytes_memory", memory_limit=268435456 * 4096),
        problem("inf_memory", memory_limit=float("inf")),
        problem("nan_tolerance", float_tolerance=float("nan")),
        problem("string_flag", case_insensitive="false"),
        problem("list_title", title=["a"]),
    ]
    problems = tmp_path / "p.jsonl"
    problems.write_bytes("".join(json.dumps(r) + "\n" for r in rows).encode("utf-8", errors="surrogatepass"))
    candidates = _write_jsonl(tmp_path / "c.jsonl", [{"candidate_id": "double_0", "problem_id": "double", "solution": GOOD_SOLUTION}])
    result = _verify(tmp_path, problems, candidates, "v.jsonl")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["verdict"] for line in (tmp_path / "v.jsonl").read_text().splitlines()] == ["passed"]
    q = _quarantine(tmp_path, "v.jsonl")
    want = {
        "surrogate_output": "field tests[1].output: lone surrogate U+D800 at index 1 cannot be encoded as UTF-8",
        "surrogate_title": "field title: lone surrogate U+DBFF at index 4",
        "surrogate_tests_json": "field tests[0].output: lone surrogate U+DC80 at index 0",
        "int_input": "test 0 needs string 'input' and 'output'",
        "null_output": "test 0 needs string 'input' and 'output'",
        "tests_dict": "tests must be a list of {input, output}, got dict",
        "tests_bad_json": "tests is not valid JSON",
        "nan_time": "time_limit must be a number of seconds in [0, 3600] (milliseconds?), got nan",
        "negative_time": "time_limit must be a number of seconds in [0, 3600] (milliseconds?), got -1.0",
        "millis_time": "got 2000000.0",
        "word_time": "time_limit must be a number, got 'two seconds'",
        "huge_memory": "memory_limit must be a number of MB in [0, 1048576] (bytes?)",
        "bytes_memory": "memory_limit must be a number of MB in [0, 1048576] (bytes?), got 1099511627776",
        "inf_memory": "memory_limit must be a finite number, got inf",
        "nan_tolerance": "float_tolerance must be a finite number >= 0, got nan",
        "string_flag": "case_insensitive must be true or false, got 'false'",
        "list_title": "title must be a string, got list",
    }
    assert set(q) == set(want)
    for pid, reason in want.items():
        assert reason in q[pid], (pid, q[pid])
    assert f"quarantined {len(want)} input rows" in result.output


def _parquet_with_invalid_utf8(path: Path, columns: dict[str, list[object]], invalid: dict[str, list[bytes | None]]) -> Path:
    """A Parquet file whose ``invalid`` string columns hold raw bytes (pyarrow writes them without validating)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {name: pa.array(values) for name, values in columns.items()}
    for name, values in invalid.items():
        arrays[name] = pa.array(values, pa.binary()).view(pa.string())
    pq.write_table(pa.table(arrays), path)
    return path


def test_invalid_utf8_in_parquet_candidates_is_quarantined(tmp_path: Path) -> None:
    problems = _write_jsonl(tmp_path / "p.jsonl", [GOOD_PROBLEM])
    candidates = _parquet_with_invalid_utf8(
        tmp_path / "c.parquet",
        {"candidate_id": ["double_0", "double_1", "double_2", "double_3"], "problem_id": ["double"] * 4},
        {
            "solution": [GOOD_SOLUTION.encode(), b"print(4) # \xed\xa0\x80", GOOD_SOLUTION.encode(), b"print(2 * int(input()))\n# \xc3"],
            "notes": [b"ok", b"ok", b"\xff unused column", None],  # a column nobody reads: its bytes don't matter
        },
    )
    result = _verify(tmp_path, problems, candidates, "v.parquet")
    assert result.exit_code == 0, result.output
    rows = {r["candidate_id"]: r["verdict"] for r in load_dataset("parquet", data_files=str(tmp_path / "v.parquet"), split="train")}
    assert rows == {"double_0": "passed", "double_2": "passed"}
    q = _quarantine(tmp_path, "v.parquet")
    assert set(q) == {"double_1", "double_3"}
    assert "row 1: field solution: invalid UTF-8 at byte 11 (0xed)" in q["double_1"]
    assert "row 3: field solution: invalid UTF-8 at byte 26 (0xc3)" in q["double_3"]
    assert "quarantined 2 input rows" in result.output


def test_invalid_utf8_nested_in_parquet_problem_tests_is_quarantined(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    text = lambda values: pa.array(values, pa.binary()).view(pa.string())  # noqa: E731
    tests = pa.StructArray.from_arrays(
        [text([b"2\n", b"5\n", b"2\n", b"5\n"]), text([b"4\n", b"10\n", b"4\n", b"1\xff0\n"])], names=["input", "output"]
    )
    table = pa.table(
        {
            "problem_id": ["double", "broken"],
            "tests": pa.ListArray.from_arrays(pa.array([0, 2, 4], pa.int32()), tests),
            "time_limit": [2.0, float("nan")],
        }
    )
    pq.write_table(table, tmp_path / "p.parquet")
    candidates = _write_jsonl(
        tmp_path / "c.jsonl",
        [{"candidate_id": "double_0", "problem_id": "double", "solution": GOOD_SOLUTION},
         {"candidate_id": "broken_0", "problem_id": "broken", "solution": GOOD_SOLUTION}],
    )
    result = _verify(tmp_path, tmp_path / "p.parquet", candidates, "v.jsonl")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert [(r["candidate_id"], r["verdict"]) for r in rows] == [("double_0", "passed")]
    q = _quarantine(tmp_path, "v.jsonl")
    assert "row 1: field tests[1].output: invalid UTF-8 at byte 1 (0xff)" in q["broken"]
    assert "unknown problem_id" in q["broken_0"]


def test_nan_limits_in_parquet_problems_are_quarantined(tmp_path: Path) -> None:
    from datasets import Dataset

    Dataset.from_list(
        [{**GOOD_PROBLEM, "time_limit": 2.0, "memory_limit": 256}, {**GOOD_PROBLEM, "problem_id": "nan", "time_limit": float("nan"), "memory_limit": 256}]
    ).to_parquet(str(tmp_path / "p.parquet"))
    candidates = _write_jsonl(tmp_path / "c.jsonl", [{"candidate_id": "double_0", "problem_id": "double", "solution": GOOD_SOLUTION}])
    result = _verify(tmp_path, tmp_path / "p.parquet", candidates, "v.jsonl")
    assert result.exit_code == 0, result.output
    assert "time_limit must be a number of seconds in [0, 3600] (milliseconds?), got nan" in _quarantine(tmp_path, "v.jsonl")["nan"]


# --- limits: a problem's own by default; caps and flat values are opt-in ----------------------------------------------

BUSY = "import time\nn = int(input())\nt = time.process_time()\nwhile time.process_time() - t < 0.8:\n    pass\nprint(2 * n)"


@pytest.mark.parametrize(
    ("flags", "slow_verdict", "line"),
    [
        ((), "passed", "limits (own; 10 s / 1024 MB where a problem states none), 2 problems: "
                       "time 1 own, 0 capped, 1 defaulted; memory 1 own, 0 capped, 1 defaulted"),
        (("--time-limit", "0.4"), "passed", "limits (own; 0.4 s / 1024 MB where a problem states none), 2 problems: "
                                            "time 1 own, 0 capped, 1 defaulted"),
        (("--limits", "cap", "--time-limit", "0.4", "--memory-limit", "128"), "timeout",
         "limits (cap; 0.4 s / 128 MB at most, and where a problem states none), 2 problems: "
         "time 0 own, 1 capped, 1 defaulted; memory 0 own, 1 capped, 1 defaulted"),
        (("--limits", "flat", "--time-limit", "0.4"), "timeout",
         "limits (flat; 0.4 s / 1024 MB for every problem), 2 problems: time 0 own, 1 overridden, 1 defaulted; "
         "memory 0 own, 1 overridden, 1 defaulted"),
    ],
    ids=["default", "default-fills-gaps", "cap", "flat"],
)
def test_limits_modes_through_verify(tmp_path: Path, flags: tuple[str, ...], slow_verdict: str, line: str) -> None:
    problems = _write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"problem_id": "slowish", "tests": [{"input": "2\n", "output": "4\n"}], "time_limit": 3.0, "memory_limit": 256},
            {**GOOD_PROBLEM},  # states no limits
            {"problem_id": "unjudged", "tests": [{"input": "1\n", "output": "1\n"}], "time_limit": 99.0},  # no candidates
        ],
    )
    candidates = _write_jsonl(
        tmp_path / "c.jsonl",
        [{"candidate_id": "slowish_0", "problem_id": "slowish", "solution": BUSY},
         {"candidate_id": "double_0", "problem_id": "double", "solution": GOOD_SOLUTION}],
    )
    result = _verify(tmp_path, problems, candidates, "v.jsonl", *flags)
    assert result.exit_code == 0, result.output
    verdicts = {r["candidate_id"]: r["verdict"] for r in map(json.loads, (tmp_path / "v.jsonl").read_text().splitlines())}
    assert verdicts == {"slowish_0": slow_verdict, "double_0": "passed"}
    assert line in result.output


def test_verify_help_says_values_fill_in() -> None:
    text = CliRunner().invoke(cli, ["verify", "--help"]).output
    assert "--limits [own|cap|flat]" in text
    assert "for problems that state no time limit" in " ".join(text.split())
    assert "for problems that state no memory limit" in " ".join(text.split())
