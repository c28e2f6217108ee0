"""Re-create the demo problem set from the `lcb` data pack (run from the repository root).

    python data/demo/make_demo_set.py [--lcb ../shared/data/lcb] [--out data/demo]

Selection rule (deterministic): AtCoder problems of the pack that have at least one `accepted` candidate whose
solution is at most 400 characters, sorted by statement length (then problem_id); the first 30 are kept. The
training target of each problem is its shortest accepted solution (ties: the smaller candidate_id).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_LCB = HERE.parents[2] / "shared" / "data" / "lcb"
NUM_PROBLEMS = 30
MAX_SOLUTION_CHARS = 400

#: Normalized problem keys, in the order of builder.schema.PROBLEM_FEATURES.
PROBLEM_KEYS = (
    "problem_id", "source", "difficulty", "title", "problem", "tests", "time_limit", "memory_limit",
    "float_tolerance", "checker", "case_insensitive", "test_type", "fn_name", "starter_code", "license", "origin",
    "functional_match", "official_tests_complete", "contest_date", "tags", "editorial", "style", "test_info",
    "upstream_benchmark_similarity", "tolerance_kind", "tolerance_source", "near_duplicates", "benchmark_similarity",
    "benchmark_overlap", "benchmark_match", "tests_broken", "tests_weak", "reference_results", "checker_language",
    "checker_protocol", "interactor", "interactor_language", "interactor_protocol", "judge_files",
)
CANDIDATE_KEYS = ("candidate_id", "problem_id", "response", "solution", "label", "origin")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def select(problems: list[dict[str, Any]], candidates: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    accepted: dict[str, list[dict[str, Any]]] = {}
    for c in candidates:
        if c["label"] == "accepted" and c["solution"].strip():
            accepted.setdefault(c["problem_id"], []).append(c)
    pool = []
    for p in problems:
        sols = accepted.get(p["problem_id"], [])
        if p["source"] != "atcoder" or not sols:
            continue
        best = min(sols, key=lambda s: (len(s["solution"]), s["candidate_id"]))
        if len(best["solution"]) <= MAX_SOLUTION_CHARS:
            pool.append((len(p["problem"]), p["problem_id"], p, best))
    pool.sort(key=lambda t: (t[0], t[1]))
    chosen = pool[:NUM_PROBLEMS]
    chosen.sort(key=lambda t: t[1])
    defaults = {"checker": None, "case_insensitive": False, "test_type": "stdin", "fn_name": None, "starter_code": None}
    out_problems = [{k: p.get(k, defaults.get(k)) for k in PROBLEM_KEYS} for _, _, p, _ in chosen]
    out_solutions = [{k: s[k] for k in CANDIDATE_KEYS} for _, _, _, s in chosen]
    return out_problems, out_solutions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lcb", type=Path, default=DEFAULT_LCB, help="the lcb data pack folder")
    parser.add_argument("--out", type=Path, default=HERE, help="where the files go")
    args = parser.parse_args()
    problems, solutions = select(_read_jsonl(args.lcb / "problems.jsonl"), _read_jsonl(args.lcb / "candidates.jsonl"))
    args.out.mkdir(parents=True, exist_ok=True)
    _write_jsonl(args.out / "problems.jsonl", problems)
    _write_jsonl(args.out / "solutions.jsonl", solutions)
    for name in ("LICENSE-rllm.txt", "LICENSE-submissions.txt"):
        shutil.copyfile(args.lcb / name, args.out / name)
    print(f"wrote {len(problems)} problems and {len(solutions)} solutions to {args.out}")


if __name__ == "__main__":
    main()
