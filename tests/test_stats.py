"""Statistics from the parquet files: hand-checked small cases and an independent recomputation on a larger one."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from datasets import Dataset

from builder.dataset.dist import write_dist
from builder.core.schema import CANDIDATE_FEATURES
from builder.dataset.stats import bucket_sort_key, compute_stats, difficulty_bucket
from builder.core.meta import BuildMeta
from fakes.synthetic import synthetic_candidates, synthetic_problems
from expected_stats import REJECTIONS, expected

META = BuildMeta(name="st", seed=1, recipe="", model="m")


def test_difficulty_buckets() -> None:
    assert difficulty_bucket("800") == "800-1199"
    assert difficulty_bucket("1199") == "800-1199"
    assert difficulty_bucket("1200") == "1200-1599"
    assert difficulty_bucket("3500") == "3200-3599"
    assert difficulty_bucket("easy") == "easy"
    assert difficulty_bucket("MEDIUM_HARD") == "MEDIUM_HARD"
    assert difficulty_bucket(None) == difficulty_bucket("") == "unknown"
    buckets = ["unknown", "hard", "zeta", "1200-1599", "easy", "800-1199", "alpha", "medium"]
    assert sorted(buckets, key=bucket_sort_key) == ["800-1199", "1200-1599", "easy", "medium", "hard", "alpha", "zeta", "unknown"]


def _candidate(problem: dict[str, Any], index: int, verdict: str, tokens: int | None) -> dict[str, Any]:
    n_tests = len(problem["tests"])
    return {
        "candidate_id": f"{problem['problem_id']}_{index}",
        "problem_id": problem["problem_id"],
        "candidate_index": index,
        "language": "python",
        "model": "m",
        "response": f"text {index}\n```python\nprint(1)\n```",
        "finish_reason": "stop",
        "num_tokens": tokens,
        "reasoning": f"text {index}",
        "solution": "print(1)",
        "extraction": "extracted",
        "verdict": verdict,
        "tests_passed": n_tests if verdict == "passed" else 0,
        "tests_total": n_tests,
        "test_pass_rate": 1.0 if verdict == "passed" else 0.0,
        "test_verdicts": [verdict] * n_tests,
        "first_failed_test": -1 if verdict == "passed" else 0,
        "failed_expected_head": None,
        "failed_actual_head": None,
        "failed_stderr_tail": None,
        "exception": None,
        "max_cpu_s": 0.01,
        "max_wall_s": 0.02,
        "peak_memory_mb": 9.0,
        "source": problem["source"],
        "difficulty": problem["difficulty"],
    }


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Four problems with verdicts chosen by hand."""
    problems = synthetic_problems(5, seed=9).to_list()
    problems[0].update(source="codeforces", difficulty="800")
    problems[1].update(source="codeforces", difficulty="1350")
    problems[2].update(source="atcoder", difficulty="easy")
    problems[3].update(source="atcoder", difficulty=None)
    problems[4].update(source="atcoder", difficulty="easy")  # no candidates
    plan = {
        0: [("passed", 100), ("passed", 120), ("wa", 300), ("timeout", 400)],  # mixed 2/4
        1: [("passed", 50), ("passed", 70)],  # all pass
        2: [("wa", 10), ("no_code", 20), ("sandbox_error", 999)],  # all fail (2 judged)
        3: [("sandbox_error", 5)],  # with candidates, none judged
    }
    rows = [_candidate(problems[p], i, v, t) for p, items in plan.items() for i, (v, t) in enumerate(items)]
    from builder.core.schema import PROBLEM_FEATURES

    out = tmp_path_factory.mktemp("small") / "st"
    write_dist(out, Dataset.from_list(rows, features=CANDIDATE_FEATURES), Dataset.from_list(problems, features=PROBLEM_FEATURES), META)
    return compute_stats(out)


def test_summary_and_problem_counts_by_hand(small: dict[str, Any]) -> None:
    s = small["summary"]
    assert (s["problems"], s["candidates"], s["judged"], s["passed"], s["failed"], s["sandbox_errors"]) == (5, 10, 8, 4, 4, 2)
    assert s["pass_rate"] == 0.5
    assert s["sft_rows"] == 4
    assert s["dpo_pairs"] == 2 and s["dpo_problems"] == 1  # only problem 0 is mixed
    assert small["problem_counts"] == {
        "problems": 5, "with_candidates": 4, "with_judged": 3, "with_passing": 2, "all_pass": 1, "all_fail": 1, "mixed": 1,
        "tests": small["problem_counts"]["tests"],
    }
    assert small["pass_count_distribution"] == [{"passed": 0, "problems": 1}, {"passed": 1, "problems": 0}, {"passed": 2, "problems": 2}, {"passed": 3, "problems": 0}, {"passed": 4, "problems": 0}]
    labels = {row["label"]: row["problems"] for row in small["empirical_difficulty"]}
    assert labels == {"unjudged": 2, "unsolved": 1, "hard": 0, "medium": 1, "easy": 0, "solved_all": 1}


def test_rejections_tokens_and_rates_by_hand(small: dict[str, Any]) -> None:
    counts = {r["type"]: (r["count"], r["share"]) for r in small["rejection_types"]}
    assert counts["wa"] == (2, 0.5) and counts["timeout"] == (1, 0.25) and counts["no_code"] == (1, 0.25)
    assert sum(c for c, _ in counts.values()) == 4
    tokens = {g["group"]: g for g in small["tokens"]["groups"]}
    assert tokens["passed"] == {"group": "passed", "count": 4, "median": 85.0, "mean": 85.0, "p25": 65.0, "p75": 105.0, "max": 120}
    assert tokens["failed"]["count"] == 4 and tokens["failed"]["median"] == 160.0 and tokens["failed"]["max"] == 400
    assert small["tokens"]["counted"] == 10  # sandbox errors have counts but belong to neither group
    by_bucket = {r["bucket"]: r for r in small["by_difficulty"]}
    assert list(by_bucket) == ["800-1199", "1200-1599", "easy", "unknown"]
    assert (by_bucket["800-1199"]["candidates"], by_bucket["800-1199"]["passed"], by_bucket["800-1199"]["pass_rate"]) == (4, 2, 0.5)
    assert (by_bucket["easy"]["problems"], by_bucket["easy"]["solved_problems"], by_bucket["easy"]["candidates"]) == (2, 0, 2)
    assert by_bucket["unknown"]["pass_rate"] is None and by_bucket["unknown"]["problems"] == 1
    by_source = {r["source"]: r for r in small["by_source"]}
    assert list(by_source) == ["codeforces", "atcoder"]  # most judged candidates first
    heat = small["heatmap"]
    assert heat["sources"] == ["codeforces", "atcoder"] and heat["buckets"] == list(by_bucket)
    assert heat["pass_rate"][0][:2] == [0.5, 1.0] and heat["candidates"][1] == [0, 0, 2, 0]
    pass_at = {r["k"]: r for r in small["pass_at_k"]}
    assert pass_at[1]["problems"] == 3 and pass_at[1]["mean"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert pass_at[4]["problems"] == 1 and pass_at[4]["mean"] == 1.0  # 2 of 4 pass: any 4 include one


def test_stats_match_an_independent_recomputation(tmp_path: Path) -> None:
    problems = synthetic_problems(200, seed=21)
    candidates = synthetic_candidates(problems.select(range(190)), 1700, seed=21)
    write_dist(tmp_path / "d", candidates, problems, META)
    s = compute_stats(tmp_path / "d")
    e = expected(tmp_path / "d")
    assert s["summary"]["judged"] == e["judged"] and s["summary"]["tests"] == e["tests"]
    assert {r["type"]: r["count"] for r in s["rejection_types"]} == {t: c for t, (c, _) in e["rejections"].items()}
    assert {r["passed"]: r["problems"] for r in s["pass_count_distribution"]} == e["pass_count_distribution"]
    for row in s["pass_at_k"]:
        problems_k, mean = e["pass_at_k"][row["k"]]
        assert row["problems"] == problems_k and math.isclose(row["mean"], mean, rel_tol=1e-12)
    for g in s["tokens"]["groups"]:
        want = e["tokens"][g["group"]]
        for key in ("count", "median", "mean", "p25", "p75", "max"):
            assert math.isclose(g[key], want[key], rel_tol=1e-12), (g["group"], key)
    hist = s["tokens"]["hist"]
    assert sum(hist["passed"]) == e["tokens"]["passed"]["count"] and sum(hist["failed"]) == e["tokens"]["failed"]["count"]
    for row in s["by_difficulty"]:
        want = e["by_difficulty"][row["bucket"]]
        assert (row["problems"], row["solved_problems"], row["candidates"], row["passed"]) == (
            want["problems"], want["solved"], want["candidates"], want["passed"]
        )
    assert len(s["by_difficulty"]) == len(e["by_difficulty"])
    assert {r["source"] for r in s["by_source"]} == set(e["by_source"])
    assert set(REJECTIONS) == {r["type"] for r in s["rejection_types"]}


def test_pass_at_k_metric_module_agrees_with_the_card(tmp_path: Path) -> None:
    """metrics/pass_at_k, an `evaluate` metric shipped in the repo and loaded by path, gives the card's pass@k."""
    import evaluate
    import pyarrow.parquet as pq

    root = Path(__file__).resolve().parents[1]
    metric = evaluate.load(str(root / "metrics" / "pass_at_k"))
    problems = synthetic_problems(200, seed=21)
    write_dist(tmp_path / "d", synthetic_candidates(problems.select(range(190)), 1700, seed=21), problems, META)
    s = compute_stats(tmp_path / "d")
    table = pq.read_table(sorted((tmp_path / "d" / "problems").glob("*.parquet"))[0], columns=["num_judged", "num_passed"])
    ks = [row["k"] for row in s["pass_at_k"]]
    result = metric.compute(num_samples=table["num_judged"].to_pylist(), num_correct=table["num_passed"].to_pylist(), k=ks)
    for row in s["pass_at_k"]:
        assert result[f"problems@{row['k']}"] == row["problems"]
        assert math.isclose(result[f"pass@{row['k']}"], row["mean"], rel_tol=1e-12)
    with pytest.raises(ValueError):
        metric.compute(num_samples=[2], num_correct=[3], k=1)
