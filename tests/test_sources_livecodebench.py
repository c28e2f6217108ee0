"""LiveCodeBench adapter on a folder laid out like livecodebench/code_generation_lite (loading script included, one
JSON-lines file per release): release names mapped to files as LiveCodeBench maps them, public + private tests
(plain and base64/zlib/pickle), functional LeetCode problems, hostile and corrupt private tests; the lcb fixture
judged through the adapter path gives the same verdicts as through its normalized files, and the lcb pack's problems
come out of the adapter identical to its normalized files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder.core import taxonomy as T
from builder.cli import cli
from builder.core.errors import UserError
from builder.core.settings import ExecutionSettings
from builder.judge.execute import judge_candidate
from builder.core.tables import load_problems
from builder.sandbox import make_sandbox
from builder.problems.sources import load_source
from builder.problems.sources.livecodebench import decode_private, encode_private, release_files

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_LCB = Path(__file__).resolve().parents[2] / "shared" / "data" / "lcb"
#: where a problem came from: the only fields in which the adapter's rows may differ from the normalized files
PROVENANCE = {"source", "origin", "license", "contest_date"}

sys.path.insert(0, str(FIXTURES / "sources"))
from make_fixtures import FOLDERS, lcb_upstream_rows  # noqa: E402

FIXTURE = FOLDERS["livecodebench"]
ALL = ["abc900_a", "3999", "3998", "abc901_a", "abc902_a", "abc903_a", "abc904_a"]


@pytest.fixture(scope="module")
def result():
    return load_source("livecodebench", str(FIXTURE), subset="release_v5")


def test_counts_and_quarantine(result, capfd) -> None:
    assert result.counts == {"rows": 8, "problems": 6, "quarantined": 2}
    reasons = dict(zip(result.quarantine["row_id"], result.quarantine["reason"]))
    assert "decompressing" in reasons["abc900_b"]
    assert reasons["abc900_c"] == "refusing to load builtins.print from private_test_cases"
    load_source("livecodebench", str(FIXTURE / "test5.jsonl"))  # the hostile pickle again, as a single file
    assert "this must never run" not in capfd.readouterr().out


@pytest.mark.parametrize(
    ("subset", "ids"),
    [
        (None, ALL),  # release_latest
        ("release_latest", ALL),
        ("release_v1", ALL[:2]),
        ("release_v3", ALL[:4]),
        ("release_v6", ALL),
        ("v2", ["3998"]),
        ("v5", ["abc903_a"]),
        ("v6", ["abc904_a"]),
        ("v1_v3", ALL[:4]),
        ("v4_v6", ALL[4:]),
        ("v2_v3", ["3998", "abc901_a"]),
    ],
)
def test_release_names_select_files_as_livecodebench_does(subset: str | None, ids: list[str]) -> None:
    assert load_source("livecodebench", str(FIXTURE), subset=subset).problems["problem_id"] == ids


def test_public_and_private_tests(result) -> None:
    twice = next(p for p in result.problems if p["problem_id"] == "abc900_a")
    assert twice["tests"] == [{"input": "3\n", "output": "6\n"}, {"input": "0\n", "output": "0\n"}, {"input": "50\n", "output": "100\n"}]
    assert twice["source"] == "livecodebench/atcoder" and twice["difficulty"] == "easy" and twice["title"] == "A. Twice"
    assert twice["test_type"] == "stdin" and twice["license"] == "cc" and twice["contest_date"] == "2023-05-20T00:00:00"


def test_functional_problems_judge_real_solutions(result) -> None:
    pair = next(p for p in result.problems if p["problem_id"] == "3999")
    avg = next(p for p in result.problems if p["problem_id"] == "3998")
    assert pair["test_type"] == "functional" and pair["fn_name"] == "maxPairSum" and len(pair["tests"]) == 2
    assert pair["starter_code"].startswith("class Solution") and pair["functional_match"] == "exact"
    config = ExecutionSettings(time_limit_s=2.0, memory_limit_mb=256)
    with make_sandbox("auto") as box:
        ok = judge_candidate(
            "class Solution:\n    def maxPairSum(self, nums):\n        a, b = sorted(nums)[-2:]\n        return a + b\n", pair, box, config
        )
        wrong = judge_candidate("class Solution:\n    def maxPairSum(self, nums):\n        return max(nums) * 2\n", pair, box, config)
        wrapped = judge_candidate(
            "class Solution:\n    def maxPairSum(self, nums):\n        a, b = sorted(nums)[-2:]\n        return [a + b]\n", pair, box, config
        )
        mean = judge_candidate("class Solution:\n    def average(self, nums):\n        return sum(nums) / len(nums)\n", avg, box, config)
        rounded = judge_candidate(
            "class Solution:\n    def average(self, nums):\n        return round(sum(nums) / len(nums), 3)\n", avg, box, config
        )
    assert ok["verdict"] == T.PASSED and ok["tests_passed"] == 2
    assert wrong["verdict"] == T.WA
    assert wrapped["verdict"] == T.WA  # LiveCodeBench compares the value itself: [8] is not 8
    assert mean["verdict"] == T.PASSED
    assert rounded["verdict"] == T.WA and rounded["test_verdicts"] == [T.PASSED, T.WA]


def test_private_encoding_round_trip() -> None:
    tests = [{"input": "1\n", "output": "2\n", "testtype": "stdin"}]
    assert decode_private(encode_private(tests)) == tests
    assert decode_private(json.dumps(tests)) == tests
    assert decode_private("") == [] and decode_private(None) == []


def test_release_files() -> None:
    """``ALLOWED_FILES`` of code_generation_lite.py: cumulative release_vN, single vN, ranges vA_vB."""
    assert release_files("release_v3") == ["test.jsonl", "test2.jsonl", "test3.jsonl"]
    assert release_files("v5") == ["test5.jsonl"] and release_files("v1") == ["test.jsonl"]
    assert release_files("v1_v3") == ["test.jsonl", "test2.jsonl", "test3.jsonl"]
    assert release_files(None) == release_files("release_latest") == release_files("release_v6")
    assert release_files("v7", ["test7.jsonl"]) == ["test7.jsonl"]  # a release after the script's v6
    for bad in ("v9", "release_v9", "v3_v1", "v3_v3", "v0", "latest"):
        with pytest.raises(ValueError, match="unknown LiveCodeBench release"):
            release_files(bad)
    with pytest.raises(UserError, match="unknown LiveCodeBench release"):
        load_source("livecodebench", str(FIXTURE), subset="release_v9")


def test_a_copy_missing_release_files_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "test5.jsonl").write_text((FIXTURE / "test5.jsonl").read_text())
    with pytest.raises(UserError, match="release release_v5 needs .*; missing test.jsonl, test2.jsonl, test3.jsonl, test4.jsonl"):
        load_source("livecodebench", str(tmp_path), subset="release_v5")
    assert load_source("livecodebench", str(tmp_path), subset="v5").counts["problems"] == 1
    with pytest.raises(UserError, match="only the split 'test'"):
        load_source("livecodebench", str(tmp_path), subset="v5", split="train")


# --- the lcb pack through the adapter path ----------------------------------------------------------------------


def _verify(problems: Path, candidates: Path, out: Path, flags: tuple[str, ...] = ("--workers", "2")) -> dict[str, dict]:
    result = CliRunner().invoke(
        cli, ["verify", "--problems", str(problems), "--candidates", str(candidates), "--out", str(out), *flags]
    )
    assert result.exit_code == 0, result.output
    return {row["candidate_id"]: row for row in map(json.loads, out.read_text().splitlines())}


def _rejudge(candidate_id: str, candidates: Path, problems: Path, attempts: int = 3,
             settings: ExecutionSettings | None = None) -> set[str]:
    """Verdicts of one candidate judged again from the normalized problems, each time in a fresh sandbox."""
    from builder.extract import extract_response

    row = next(r for r in map(json.loads, candidates.read_text().splitlines()) if r["candidate_id"] == candidate_id)
    solution = row.get("solution") or extract_response(row["response"]).code
    problem = next(p for p in load_problems(str(problems))[0] if p["problem_id"] == row["problem_id"])
    verdicts = set()
    for _ in range(attempts):
        with make_sandbox("auto") as box:
            verdicts.add(judge_candidate(solution, problem, box, settings or ExecutionSettings())["verdict"])
    return verdicts


def _adapter_problems(pack: Path, tmp_path: Path) -> tuple[Path, set[str]]:
    """The pack's problems rebuilt as LiveCodeBench's upstream rows and read back through the adapter: every field of
    every problem is identical to the pack's normalized file except the provenance fields (``PROVENANCE``), which the
    judge never reads. Returns the adapter's problems file and the fields that differed."""
    upstream = tmp_path / "lcb_upstream"
    upstream.mkdir()
    rows = lcb_upstream_rows([json.loads(line) for line in (pack / "problems.jsonl").read_text().splitlines()])
    (upstream / "test5.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    adapter_problems = tmp_path / "adapter_problems.jsonl"
    result = CliRunner().invoke(
        cli, ["problems", "--source", "livecodebench", "--path", str(upstream), "--subset", "v5", "--no-dedup", "--no-statement-tolerance", "--out", str(adapter_problems)]
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {len(rows)} problems" in result.output

    ours = {p["problem_id"]: p for p in load_problems(str(adapter_problems))[0]}
    theirs = {p["problem_id"]: p for p in load_problems(str(pack / "problems.jsonl"))[0]}
    assert ours.keys() == theirs.keys()
    differ = set()
    for pid, problem in theirs.items():
        assert ours[pid].keys() == problem.keys(), pid
        for key in problem:
            if ours[pid][key] != problem[key]:
                assert key in PROVENANCE, (pid, key, ours[pid][key], problem[key])
                differ.add(key)
    return adapter_problems, differ


def _adapter_path_matches(pack: Path, tmp_path: Path, flags: tuple[str, ...] = ("--workers", "2")) -> tuple[int, list[str]]:
    """Judge the pack's candidates through the LiveCodeBench adapter and through the normalized file; return the number
    of candidates and the differences not explained by run-to-run nondeterminism of the candidate. (The adapter's own
    fields only: tolerances read from statements, which the normalized files never had, are off.)"""
    adapter_problems, differ = _adapter_problems(pack, tmp_path)
    assert differ, "no provenance field differs: the check would not show that the judge ignores them"
    candidates = pack / "candidates.jsonl"
    via_adapter = _verify(adapter_problems, candidates, tmp_path / "via_adapter.jsonl", flags)
    via_files = _verify(pack / "problems.jsonl", candidates, tmp_path / "via_files.jsonl", flags)
    assert via_adapter.keys() == via_files.keys()
    unexplained = []
    differing = []
    for cid, row in via_files.items():
        ours_verdict, theirs_verdict = via_adapter[cid]["verdict"], row["verdict"]
        if ours_verdict == theirs_verdict:
            continue
        differing.append((cid, theirs_verdict, ours_verdict))
        # a verdict that changes from run to run (a wall-clock timeout on a loaded machine, the iteration order of a
        # set of strings under a fresh hash seed) says nothing about where the problems came from
        if T.TIMEOUT in (ours_verdict, theirs_verdict):
            continue
        again = _rejudge(cid, candidates, pack / "problems.jsonl", attempts=4)
        if ours_verdict in again or len(again | {theirs_verdict}) > 1:
            continue
        unexplained.append(f"{cid}: normalized files {theirs_verdict}, adapter {ours_verdict}, re-judged {sorted(again)}")
    print(f"{len(differing)} of {len(via_files)} verdicts differ between the two runs:", differing)
    return len(via_files), unexplained


def test_lcb_fixture_same_verdicts_through_the_adapter(tmp_path: Path) -> None:
    total, unexplained = _adapter_path_matches(FIXTURES / "lcb", tmp_path)
    assert total == 24 and unexplained == []


@pytest.mark.shared
@pytest.mark.skipif(not SHARED_LCB.is_dir(), reason="../shared/data is not present")
def test_lcb_pack_problems_are_the_same_through_the_adapter(tmp_path: Path) -> None:
    """The pack's 498 problems through the adapter: every field identical but the provenance ones. Its 996 candidates
    are not judged again here: what the judge reads is identical, and that the provenance fields do not change a
    verdict is the fixture's check above (its candidates judged both ways); the pack itself is judged once per session
    (conftest.lcb_pack_verdicts) for the acceptance check."""
    adapter_problems, differ = _adapter_problems(SHARED_LCB, tmp_path)
    assert differ <= PROVENANCE and len(load_problems(str(adapter_problems))[0]) == 498
