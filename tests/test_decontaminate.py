"""Decontamination against a benchmark set with the packaged all-MiniLM-L6-v2 model (offline): a lightly reworded
copy of a benchmark problem is flagged and dropped, an unrelated problem is kept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from datasets import Dataset

from builder.cli import cli
from builder.problems.decontaminate import DEFAULT_THRESHOLD, Embedder, decontaminate
from builder.core.errors import UserError
from builder.core.tables import load_problems
from builder.core.schema import PROBLEM_FEATURES

FIXTURES = Path(__file__).parent / "fixtures"
BENCHMARK = FIXTURES / "lcb" / "problems.jsonl"

REWORDINGS = [
    ("You are given", "We give you"),
    ("Print", "Output"),
    ("print", "output"),
    ("integers", "whole numbers"),
    ("Find", "Determine"),
    ("find", "determine"),
]
UNRELATED = (
    "Write a function that takes the root of a binary search tree and a key, deletes the node with that key and "
    "returns the new root. The tree must remain a valid binary search tree after the deletion."
)


def _reword(text: str) -> str:
    for old, new in REWORDINGS:
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture(scope="module")
def bench_set() -> Dataset:
    return load_problems(str(BENCHMARK))[0]


def _problems(rows: list[tuple[str, str]]) -> Dataset:
    base = {k: None for k in PROBLEM_FEATURES}
    return Dataset.from_list(
        [{**base, "problem_id": pid, "source": "test", "problem": text, "tests": [{"input": "1", "output": "1"}],
          "case_insensitive": False, "test_type": "stdin"} for pid, text in rows],
        features=PROBLEM_FEATURES,
    )


def test_embeddings_are_normalized_and_deterministic(embedder: Embedder) -> None:
    a = embedder.embed(["Sort the array.", "Count the vowels in a string."])
    b = embedder.embed(["Sort the array.", "Count the vowels in a string."])
    assert a.shape == (2, 384) and np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a, b)


def test_reworded_copy_flagged_unrelated_kept(embedder: Embedder, bench_set: Dataset) -> None:
    target = next(p for p in bench_set if p["problem_id"] == "abc357_d")
    reworded = _reword(target["problem"])
    assert reworded != target["problem"]
    problems = _problems([("copy", reworded), ("other", UNRELATED), ("verbatim", bench_set[0]["problem"])])
    result = decontaminate(problems, bench_set, embedder=embedder, benchmark_name="lcb")
    kept = {row["problem_id"]: row for row in result.problems}
    assert list(kept) == ["other"]
    assert kept["other"]["benchmark_similarity"] < 0.5
    dropped = dict(zip(result.dropped["row_id"], result.dropped["reason"]))
    assert set(dropped) == {"copy", "verbatim"}
    assert dropped["copy"].startswith("contaminated: cosine 0.9") and dropped["copy"].endswith("to lcb problem abc357_d")
    assert f">= {DEFAULT_THRESHOLD:g}" in dropped["copy"]
    assert "cosine 1.000" in dropped["verbatim"]
    assert result.summary().startswith("decontamination: 2 of 3 problems")


def test_threshold_controls_what_is_dropped(embedder: Embedder, bench_set: Dataset) -> None:
    problems = _problems([("other", UNRELATED)])
    assert len(decontaminate(problems, bench_set, threshold=0.99, embedder=embedder).problems) == 1
    assert len(decontaminate(problems, bench_set, threshold=0.01, embedder=embedder).dropped) == 1
    with pytest.raises(UserError, match="threshold"):
        decontaminate(problems, bench_set, threshold=1.5, embedder=embedder)


def test_problems_command_with_benchmark(tmp_path: Path, bench_set: Dataset) -> None:
    """`builder problems --benchmark`: a KodCode-style source that copied two LCB problems loses them."""
    source = tmp_path / "mine.jsonl"
    rows = [
        {"problem_id": "mine-1", "tests": [{"input": "1", "output": "1"}], "problem": _reword(bench_set[3]["problem"])},
        {"problem_id": "mine-2", "tests": [{"input": "1", "output": "1"}], "problem": UNRELATED},
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "clean.jsonl"
    result = CliRunner().invoke(
        cli, ["problems", "--source", "local", "--path", str(source), "--benchmark", str(BENCHMARK), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "decontamination: 1 of 2 problems" in result.output
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["problem_id"] for r in kept] == ["mine-2"] and 0 <= kept[0]["benchmark_similarity"] < 0.5
    quarantine = [json.loads(line) for line in (tmp_path / "clean.quarantine.jsonl").read_text().splitlines()]
    assert [q["row_id"] for q in quarantine] == ["mine-1"] and bench_set[3]["problem_id"] in quarantine[0]["reason"]


def test_missing_model_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no embedding model"):
        Embedder(tmp_path)
