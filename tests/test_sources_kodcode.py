"""KodCode adapter on folders laid out like KodCode/KodCode-V1 (test modules in ``test`` or in ``test_code``): one
test row per pytest test (functions, parametrized, class methods), modules that do not compile or need unsupported
fixtures quarantined, a source with nothing left one clear line; the tests judge solutions through the real
sandbox."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from builder.core import taxonomy as T
from builder.core.settings import ExecutionSettings
from builder.judge.execute import judge_candidate
from builder.sandbox import make_sandbox
from builder.core.errors import UserError
from builder.problems.sources import load_source

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "sources"))
from make_fixtures import FOLDERS, KODCODE_FEATURES, KODCODE_TEST_CODE, kodcode_rows  # noqa: E402

FIXTURE = str(FOLDERS["kodcode"])


@pytest.fixture(scope="module")
def result():
    return load_source("kodcode", FIXTURE)


def test_counts_and_quarantine(result) -> None:
    assert result.counts == {"rows": 4, "problems": 2, "quarantined": 2}
    reasons = dict(zip(result.quarantine["row_id"], result.quarantine["reason"]))
    assert reasons["Filter_3_I"].startswith("test module does not compile: SyntaxError")
    assert reasons["Package_4_I"] == "unsupported pytest fixture(s): database"
    assert result.license == "cc-by-nc-4.0"
    assert result.notes == ["tests from column 'test'"] and "tests from column 'test'" in result.summary()


def test_test_code_column_is_read_too() -> None:
    """An earlier revision of the card (and copies of it) has the test modules in ``test_code``."""
    other = load_source("kodcode", str(KODCODE_TEST_CODE))
    assert other.notes == ["tests from column 'test_code'"]
    assert other.counts == {"rows": 4, "problems": 2, "quarantined": 2}
    mine = load_source("kodcode", FIXTURE)
    assert [{k: v for k, v in p.items() if k != "origin"} for p in other.problems] == [
        {k: v for k, v in p.items() if k != "origin"} for p in mine.problems
    ]


def test_kept_fields_and_solutions(result) -> None:
    fib, stack = result.problems
    assert fib["style"] == "instruct" and stack["style"] == "complete"
    assert fib["test_info"] == [{"function_name": "fib", "parameter_list": "(...)", "function_declaration": "def fib(...)", "docstring": None}]
    assert fib["upstream_benchmark_similarity"] == 0.2 and stack["upstream_benchmark_similarity"] == 0.45
    assert result.solutions["problem_id"] == ["Leetcode_1_I", "Data_Structure_2_I"]
    assert result.solutions[0]["code"].startswith("def fib(n):")


def test_a_source_whose_every_row_is_quarantined_is_one_line(tmp_path: Path) -> None:
    """No crash in dedup on an empty table: one line naming the reasons, through the CLI too."""
    from click.testing import CliRunner
    from datasets import Dataset

    from builder.cli import cli

    rows = [r for r in kodcode_rows() if r["question_id"] in ("Filter_3_I", "Package_4_I")]
    folder = tmp_path / "KodCode-V1"
    (folder / "data").mkdir(parents=True)
    Dataset.from_list(rows, features=KODCODE_FEATURES).to_parquet(str(folder / "data" / "train-00000-of-00001.parquet"))
    with pytest.raises(UserError, match=r"none of its 2 rows became a problem \(1 x test module does not compile"):
        load_source("kodcode", str(folder))
    out = CliRunner().invoke(cli, ["problems", "--source", "kodcode", "--path", str(folder), "--out", str(tmp_path / "k.jsonl")])
    assert out.exit_code == 2 and "Traceback" not in out.output, out.output
    assert "none of its 2 rows became a problem" in out.output and "unsupported pytest fixture(s): database" in out.output


def test_one_test_row_per_test(result) -> None:
    fib, stack = result.problems
    assert fib["test_type"] == "pytest" and fib["fn_name"] == "fib" and fib["source"] == "kodcode/leetcode"
    assert [json.loads(t["output"]) for t in fib["tests"]] == ["test_fib_small", "test_fib_param", "test_fib_negative"]
    assert all(t["input"].startswith("from solution import fib") for t in fib["tests"])
    assert [json.loads(t["output"]) for t in stack["tests"]] == ["TestStack::test_push_pop", "TestStack::test_empty"]
    assert stack["difficulty"] == "medium"


def test_reference_and_broken_solutions(result) -> None:
    fib, stack = result.problems
    solution = {
        "fib": "def fib(n):\n    if n < 0:\n        raise ValueError(n)\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
        "stack": "class Stack:\n    def __init__(self):\n        self.items = []\n    def push(self, x):\n        self.items.append(x)\n"
        "    def pop(self):\n        return self.items.pop()\n    def is_empty(self):\n        return not self.items\n",
    }
    config = ExecutionSettings(time_limit_s=2.0, memory_limit_mb=256)
    with make_sandbox("auto") as box:
        assert judge_candidate(solution["fib"], fib, box, config)["verdict"] == T.PASSED
        assert judge_candidate(solution["stack"], stack, box, config)["verdict"] == T.PASSED
        no_check = solution["fib"].replace("raise ValueError(n)", "return 0")
        config_all = ExecutionSettings(time_limit_s=2.0, memory_limit_mb=256, stop_on_timeout=False)
        out = judge_candidate(no_check, fib, box, config_all)
        # the failed pytest.raises is a failed test: wa
        assert out["test_verdicts"] == [T.PASSED, T.PASSED, T.WA] and out["verdict"] == T.WA
        crash = judge_candidate(solution["stack"].replace("self.items.pop()", "self.items[5]"), stack, box, config)
        assert crash["verdict"] == T.LOGIC_ERROR and crash["exception"] == "IndexError"
