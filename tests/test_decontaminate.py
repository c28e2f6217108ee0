"""Decontamination against benchmark sets: word 13-gram overlap (a copied statement with edits is dropped, boilerplate
and unrelated problems are kept), benchmark files in their own formats (HumanEval, MBPP, LiveCodeBench, CodeContests),
several benchmarks counted per method, and the packaged all-MiniLM-L6-v2 model (offline): a lightly reworded copy of a
benchmark problem is flagged and dropped, an unrelated problem is kept."""

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
from builder.core.settings import ProblemsSettings, SourceSettings
from builder.problems.stage import collect_problems

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
    result = decontaminate(problems, bench_set, methods=("embedding",), embedder=embedder, benchmark_name="lcb")
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
    with pytest.raises(UserError, match="n-gram threshold"):
        decontaminate(problems, bench_set, ngram_threshold=0.0, embedder=embedder)
    with pytest.raises(UserError, match="methods"):
        decontaminate(problems, bench_set, methods=("exact",), embedder=embedder)


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


# --- n-grams --------------------------------------------------------------------------------------------------------


def _edited_copy(text: str) -> str:
    """A benchmark statement copied into a training problem: a sentence changed, a paragraph added."""
    lines = text.split("\n")
    lines[0] = "In this task, " + lines[0][:1].lower() + lines[0][1:]
    return "\n".join(lines) + "\n\nNote: this problem was adapted for practice; solve it in Python."


def test_ngram_overlap_drops_a_copy_keeps_boilerplate_and_unrelated(bench_set: Dataset) -> None:
    from builder.problems.decontaminate import word_ngrams

    target = next(p for p in bench_set if p["problem_id"] == "abc357_d")
    boilerplate = ("Print the answer. The input is given from Standard Input in the following format: N M. "
                   "All input values are integers. Count the lattice points strictly inside the polygon.")
    problems = _problems([("copy", _edited_copy(target["problem"])), ("other", UNRELATED), ("boiler", boilerplate)])
    result = decontaminate(problems, bench_set, methods=("ngram",), benchmark_name="lcb")
    kept = {row["problem_id"]: row for row in result.problems}
    assert set(kept) == {"other", "boiler"}
    assert kept["other"]["benchmark_overlap"] == 0.0 and kept["boiler"]["benchmark_overlap"] < 0.1
    assert kept["other"]["benchmark_similarity"] is None  # the embedding method did not run
    (reason,) = result.dropped["reason"]
    assert reason.startswith("contaminated: 13-gram overlap ") and reason.endswith(">= 0.5 with lcb problem abc357_d")
    assert float(reason.split()[3]) >= 0.9
    assert result.removed == {("lcb", "ngram"): 1} and result.thresholds == {"ngram": 0.5}
    assert len(word_ngrams("one two three", 13)) == 0 and len(word_ngrams(" ".join(map(str, range(20))), 13)) == 8


def _write_benchmarks(tmp_path: Path, bench_set: Dataset) -> dict[str, Path]:
    """Benchmark files in their upstreams' own formats (HumanEval, MBPP, LiveCodeBench, CodeContests test)."""
    import gzip

    humaneval = tmp_path / "HumanEval.jsonl.gz"
    with gzip.open(humaneval, "wt", encoding="utf-8") as f:
        f.write(json.dumps({"task_id": "HumanEval/0", "prompt": 'from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n    """ Check if in given list of numbers, are any two numbers closer to each other than\n    given threshold.\n    """\n', "canonical_solution": "", "test": "", "entry_point": "has_close_elements"}) + "\n")
    mbpp = tmp_path / "mbpp.jsonl"
    mbpp.write_text(json.dumps({"task_id": 2, "text": "Write a function to find the shared elements from the given two lists.", "code": "", "test_list": []}) + "\n")
    lcb = tmp_path / "test6.jsonl"
    lcb.write_text("".join(json.dumps({"question_id": p["problem_id"], "question_content": p["problem"]}) + "\n" for p in bench_set))
    cc = tmp_path / "code_contests" / "test-00000-of-00001.parquet"
    cc.parent.mkdir()
    Dataset.from_list([{"name": "1575_A. Another Sorting Problem", "description": "Andi and Budi were given an assignment to tidy up their bookshelf of n books. Each book is represented by the book title."}]).to_parquet(str(cc))
    return {"humaneval": humaneval, "mbpp": mbpp, "lcb": lcb, "cc": cc}


def test_benchmark_files_in_their_own_formats(tmp_path: Path, bench_set: Dataset) -> None:
    from builder.problems.decontaminate import load_benchmark

    files = _write_benchmarks(tmp_path, bench_set)
    humaneval = load_benchmark(str(files["humaneval"]))
    assert (humaneval.name, humaneval.ids) == ("HumanEval", ("HumanEval/0",)) and "has_close_elements" in humaneval.texts[0]
    assert load_benchmark(str(files["mbpp"])).ids == ("2",)
    lcb = load_benchmark(f"lcb-v6={files['lcb']}")
    assert lcb.name == "lcb-v6" and len(lcb.ids) == len(bench_set)
    cc = load_benchmark(str(files["cc"]))
    assert cc.name == "code_contests" and cc.ids == ("1575_A. Another Sorting Problem",)  # a file called test: its folder
    with pytest.raises(UserError, match="no statement column"):
        bad = tmp_path / "bad.jsonl"
        bad.write_text(json.dumps({"id": 1, "body": "x"}) + "\n")
        load_benchmark(str(bad))
    with pytest.raises(UserError, match="no such file"):
        load_benchmark(str(tmp_path / "missing.jsonl"))


def test_several_benchmarks_counted_per_benchmark_and_method(tmp_path: Path, bench_set: Dataset) -> None:
    files = _write_benchmarks(tmp_path, bench_set)
    source = tmp_path / "mine.jsonl"
    target = next(p for p in bench_set if p["problem_id"] == "abc357_d")
    rows = [
        {"problem_id": "copied-lcb", "tests": [{"input": "1", "output": "1"}], "problem": _edited_copy(target["problem"])},
        # MBPP's statement is 12 words (shorter than a 13-gram): it counts when it occurs word for word
        {"problem_id": "copied-mbpp", "tests": [{"input": "1", "output": "1"}], "problem": "Task 7. Write a function to find the shared elements from the given two lists, and return them sorted."},
        {"problem_id": "mine", "tests": [{"input": "1", "output": "1"}], "problem": UNRELATED},
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    settings = ProblemsSettings(benchmark=[str(files["humaneval"]), str(files["mbpp"]), f"lcb={files['lcb']}"], decontamination=["ngram"])
    collected = collect_problems([SourceSettings(kind="local", path=str(source))], settings)
    assert collected.problems["problem_id"] == ["mine"]
    record = collected.record()
    assert record.benchmark == "HumanEval, mbpp, lcb" and record.contaminated == 2 and record.ngram_size == 13 and record.threshold is None
    assert [(d.benchmark, d.problems, d.method, d.threshold, d.removed) for d in record.decontamination] == [
        ("HumanEval", 1, "ngram", 0.5, 0), ("mbpp", 1, "ngram", 0.5, 1), ("lcb", len(bench_set), "ngram", 0.5, 1)
    ]
    reasons = dict(zip(collected.quarantine["row_id"], collected.quarantine["reason"]))
    assert reasons["copied-mbpp"] == "contaminated: 13-gram overlap 1.000 >= 0.5 with mbpp problem 2"
