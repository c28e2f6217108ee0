"""Independent recomputation of the card's statistics from a built folder's parquet files, for tests.

Deliberately written differently from ``builder/stats.py``: plain Python over rows (``to_pylist``), the
``statistics`` module for quantiles, ``math.comb`` for pass@k. If both agree, the numbers are right.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

REJECTIONS = ["no_code", "syntax_error", "timeout", "memory", "no_stdin", "logic_error", "runtime_error", "empty_output", "wa"]


def rows(dist: Path, config: str, columns: list[str] | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for f in sorted((Path(dist) / config).glob("train-*.parquet")):
        out.extend(pq.read_table(f, columns=columns).to_pylist())
    return out


def bucket(difficulty: str | None) -> str:
    if not difficulty:
        return "unknown"
    if difficulty.isdigit() and 3 <= len(difficulty) <= 4:
        low = int(difficulty) - int(difficulty) % 400
        return f"{low}-{low + 399}"
    return difficulty


def comb_pass_at_k(n: int, c: int, k: int) -> float:
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def quantile(values: list[int], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, statistics' 'inclusive')."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def expected(dist: Path) -> dict[str, Any]:
    cand = rows(dist, "candidates", ["problem_id", "verdict", "num_tokens", "source", "difficulty", "extraction", "finish_reason"])
    probs = rows(dist, "problems", ["problem_id", "source", "difficulty", "license", "tests", "num_candidates", "num_judged", "num_passed", "pass_at_k"])
    sft = rows(dist, "sft", ["id"])
    dpo = rows(dist, "dpo", ["problem_id", "rejection_type"])
    kto = rows(dist, "kto", ["label"])
    tokenized = rows(dist, "sft_tokenized", ["id"])

    verdicts = Counter(r["verdict"] for r in cand)
    passed = verdicts["passed"]
    failed = sum(verdicts[t] for t in REJECTIONS)
    judged = passed + failed
    present = {"sft_tokenized": tokenized, "kto": kto}
    e: dict[str, Any] = {
        "rows": {
            "sft": len(sft), **{c: len(r) for c, r in present.items() if (Path(dist) / c).is_dir()},
            "dpo": len(dpo), "candidates": len(cand), "problems": len(probs),
        },
        "kto": {"desirable": sum(r["label"] for r in kto), "undesirable": sum(not r["label"] for r in kto), "total": len(kto)},
        "problems": len(probs),
        "tests": sum(len(p["tests"]) for p in probs),
        "candidates": len(cand),
        "judged": judged,
        "passed": passed,
        "failed": failed,
        "sandbox_errors": verdicts["sandbox_error"],
        "pass_rate": passed / judged if judged else None,
        "dpo_problems": len({r["problem_id"] for r in dpo}),
        "truncated": sum(r["finish_reason"] == "length" for r in cand),
        "extraction": Counter(r["extraction"] or "unknown" for r in cand),
        "rejections": {t: (verdicts[t], verdicts[t] / failed if failed else None) for t in REJECTIONS},
    }
    dpo_types = Counter(r["rejection_type"] for r in dpo)
    e["dpo_rejections"] = {t: (dpo_types[t], dpo_types[t] / len(dpo) if dpo else None) for t in REJECTIONS}

    # problem-level, recomputed from the candidates (not from the problems' count columns)
    per_problem: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in cand:
        slot = per_problem[r["problem_id"]]
        slot[0] += 1
        slot[1] += r["verdict"] in REJECTIONS or r["verdict"] == "passed"
        slot[2] += r["verdict"] == "passed"
    for p in probs:  # the problems config's own counts must agree
        n, j, c = per_problem.get(p["problem_id"], [0, 0, 0])
        assert (p["num_candidates"], p["num_judged"], p["num_passed"]) == (n, j, c), p["problem_id"]
        assert len(p["pass_at_k"]) == j
        for k, value in enumerate(p["pass_at_k"], 1):
            assert math.isclose(value, comb_pass_at_k(j, c, k), rel_tol=1e-9, abs_tol=1e-12)
    counts = [per_problem.get(p["problem_id"], [0, 0, 0]) for p in probs]
    e["problem_counts"] = {
        "total": len(probs),
        "with candidates": sum(n > 0 for n, _, _ in counts),
        "with judged candidates": sum(j > 0 for _, j, _ in counts),
        "at least one passing candidate": sum(c > 0 for _, _, c in counts),
        "all candidates pass": sum(j > 0 and c == j for _, j, c in counts),
        "all candidates fail": sum(j > 0 and c == 0 for _, j, c in counts),
        "mixed (some pass, some fail)": sum(0 < c < j for _, j, c in counts),
    }
    hist = Counter(c for _, j, c in counts if j > 0)
    max_n = max((j for _, j, _ in counts), default=0)
    e["pass_count_distribution"] = {i: hist[i] for i in range(max_n + 1)} if hist else {}
    e["pass_at_k"] = {}
    for k in sorted({k for k in (1, 2, 4, 8, 16, 32, 64, 128, 256) if k <= max_n} | ({max_n} if max_n else set())):
        values = [comb_pass_at_k(j, c, k) for _, j, c in counts if j >= k]
        e["pass_at_k"][k] = (len(values), sum(values) / len(values))
    labels = Counter()
    for _, j, c in counts:
        rate = c / j if j else None
        labels[
            "unjudged" if rate is None else "unsolved" if c == 0 else "solved_all" if c == j
            else "hard" if rate < 1 / 3 else "medium" if rate < 2 / 3 else "easy"
        ] += 1
    e["empirical_difficulty"] = labels

    tokens = {"passed": [], "failed": []}
    counted = 0
    for r in cand:
        if r["num_tokens"] is None:
            continue
        counted += 1
        if r["verdict"] == "passed":
            tokens["passed"].append(r["num_tokens"])
        elif r["verdict"] in REJECTIONS:
            tokens["failed"].append(r["num_tokens"])
    e["tokens_counted"] = counted
    e["tokens"] = {
        g: {
            "count": len(v),
            "median": statistics.median(v) if v else None,
            "mean": statistics.fmean(v) if v else None,
            "p25": quantile(v, 0.25) if v else None,
            "p75": quantile(v, 0.75) if v else None,
            "max": max(v) if v else None,
        }
        for g, v in tokens.items()
    }

    def rates(key_of_cand, key_of_prob) -> dict[str, dict[str, Any]]:
        table: dict[str, dict[str, Any]] = defaultdict(lambda: {"problems": 0, "solved": 0, "candidates": 0, "passed": 0})
        for r in cand:
            if r["verdict"] == "passed" or r["verdict"] in REJECTIONS:
                table[key_of_cand(r)]["candidates"] += 1
                table[key_of_cand(r)]["passed"] += r["verdict"] == "passed"
            else:
                table[key_of_cand(r)]  # a sandbox_error still names its bucket
        for p, (_, _, c) in zip(probs, counts):
            table[key_of_prob(p)]["problems"] += 1
            table[key_of_prob(p)]["solved"] += c > 0
        return dict(table)

    e["by_difficulty"] = rates(lambda r: bucket(r["difficulty"]), lambda p: bucket(p["difficulty"]))
    e["by_source"] = rates(lambda r: r["source"] or "unknown", lambda p: p["source"] or "unknown")
    e["licenses"] = Counter(p["license"] or "unknown" for p in probs)
    return e


# --- the card's number format, written independently ----------------------------------------------


def n(value: int | None) -> str:
    return "–" if value is None else format(value, ",d")


def pct(value: float | None) -> str:
    return "–" if value is None else "{:.1f}%".format(value * 100)


def dec(value: float | None) -> str:
    return "–" if value is None else "{:,.1f}".format(value)
