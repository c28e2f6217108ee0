"""Benchmark ``builder verify`` on the lcb pack against LiveCodeBench's own grader, side by side (issue 15, done-when 5).

The same 996 candidates of ``../shared/data/lcb`` (498 problems, their public tests), the same 6 s per-test time
limit and 2 parallel processes for both:

  A. ``builder verify --workers 2 --time-limit 6`` (the sandbox: a warm fork-server per worker, every test isolated),
     as a user runs it (a fresh process, a fresh work folder);
  B. LiveCodeBench's grader, ``lcb_runner.evaluation.compute_code_generation_metrics.evaluate_generations`` with
     ``num_process_evaluate=2, timeout=6``: its process pool, one ``multiprocessing.Process`` per candidate that
     runs every test in-process (``run_test``: the code wrapped in a function, ``reliability_guard``, no sandbox).
     Its code is not part of this project: pass a LiveCodeBench checkout with ``--lcb-runner`` (the folder that holds
     ``lcb_runner/``); without one only A runs.

Printed: the wall time of each (A also: the workers' busy time and the verdict counts), their ratio A / B (target:
at most 0.8), how often the two agree on "passes every public test", and the load averages before and after.

    python bench/bench_verify.py --lcb-runner /path/to/LiveCodeBench [--rounds 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LCB = ROOT.parent / "shared" / "data" / "lcb"

#: the grader's side, run in its own interpreter with the checkout on sys.path (argv: problems, candidates, out)
GRADER = r"""
import json, sys, time
from lcb_runner.evaluation.compute_code_generation_metrics import evaluate_generations
problems = {}
for line in open(sys.argv[1], encoding="utf-8"):
    if line.strip():
        row = json.loads(line)
        problems[row["problem_id"]] = row
samples, generations, ids = [], [], []
for line in open(sys.argv[2], encoding="utf-8"):
    if not line.strip():
        continue
    row = json.loads(line)
    tests = problems[row["problem_id"]]["tests"]
    io = {"inputs": [t["input"] for t in tests], "outputs": [t["output"] for t in tests], "fn_name": None}
    samples.append({"input_output": json.dumps(io)})
    generations.append([row.get("solution") or ""])
    ids.append(row["candidate_id"])
started = time.perf_counter()
results, _ = evaluate_generations(samples, generations, debug=False, num_process_evaluate=int(sys.argv[4]), timeout=int(sys.argv[5]))
wall = time.perf_counter() - started
passed = {ids[i]: all(r is True for r in results[i][0]) for i in range(len(ids))}
json.dump({"wall_s": wall, "passed": passed}, open(sys.argv[3], "w"))
"""


def run_verify(problems: Path, candidates: Path, workers: int, time_limit: float, scratch: Path) -> dict[str, object]:
    out = scratch / "verdicts.parquet"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    command = [sys.executable, "-m", "builder.cli", "verify", "--problems", str(problems), "--candidates", str(candidates),
               "--out", str(out), "--workers", str(workers), "--time-limit", str(time_limit), "--work-dir", str(scratch / "work")]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"builder verify failed ({done.returncode}):\n{done.stderr[-2000:]}")
    busy = re.search(r"workers busy ([\d.]+) s", done.stdout + done.stderr)
    from datasets import Dataset

    table = Dataset.from_parquet(str(out))
    verdicts = table["verdict"]
    return {
        "wall_s": wall,
        "busy_s": float(busy.group(1)) if busy else None,
        "verdicts": {v: verdicts.count(v) for v in sorted(set(verdicts))},
        "passed": dict(zip(table["candidate_id"], (v == "passed" for v in verdicts), strict=True)),
    }


def run_grader(checkout: Path, problems: Path, candidates: Path, workers: int, time_limit: float, scratch: Path) -> dict[str, object]:
    scratch.mkdir(parents=True, exist_ok=True)
    out = scratch / "grader.json"
    env = {**os.environ, "PYTHONPATH": str(checkout), "TOKENIZERS_PARALLELISM": "false", "TQDM_DISABLE": "1"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", GRADER, str(problems), str(candidates), str(out), str(workers), str(int(time_limit))],
                          cwd=scratch, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"LiveCodeBench's grader failed ({done.returncode}):\n{done.stderr[-2000:]}")
    result = json.loads(out.read_text())
    return {"wall_s": wall, "grading_s": result["wall_s"], "passed": result["passed"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=Path, default=LCB / "problems.jsonl")
    parser.add_argument("--candidates", type=Path, default=LCB / "candidates.jsonl")
    parser.add_argument("--lcb-runner", type=Path, default=None, help="a LiveCodeBench checkout (the folder holding lcb_runner/)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--time-limit", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=1, help="each side this many times, alternating; the best is kept")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not args.problems.is_file():
        raise SystemExit(f"no lcb pack at {args.problems} (../shared/data/lcb)")
    if args.lcb_runner is not None and not (args.lcb_runner / "lcb_runner" / "evaluation").is_dir():
        raise SystemExit(f"--lcb-runner {args.lcb_runner}: no lcb_runner/evaluation there")
    scratch = Path(tempfile.mkdtemp(prefix="bench-verify-"))
    load_before = os.getloadavg()
    ours: list[dict[str, object]] = []
    theirs: list[dict[str, object]] = []
    try:
        for round_ in range(args.rounds):
            sides = ["verify", "grader"] if round_ % 2 == 0 else ["grader", "verify"]
            for side in sides:
                if side == "verify":
                    ours.append(run_verify(args.problems, args.candidates, args.workers, args.time_limit, scratch / "verify"))
                    print(f"round {round_ + 1}: builder verify {ours[-1]['wall_s']:.1f} s", flush=True)
                elif args.lcb_runner is not None:
                    theirs.append(run_grader(args.lcb_runner, args.problems, args.candidates, args.workers, args.time_limit, scratch / "grader"))
                    print(f"round {round_ + 1}: LiveCodeBench's grader {theirs[-1]['wall_s']:.1f} s", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    load_after = os.getloadavg()
    a = min(ours, key=lambda r: r["wall_s"])  # type: ignore[arg-type,return-value]
    n = len(a["passed"])  # type: ignore[arg-type]
    print(f"\nlcb pack, {n} candidates, {args.workers} processes, {args.time_limit:g} s per test (best of {args.rounds}):")
    print(f"  builder verify            {a['wall_s']:7.1f} s wall (workers busy {a['busy_s']} s)  verdicts {a['verdicts']}")
    result: dict[str, object] = {"candidates": n, "workers": args.workers, "time_limit_s": args.time_limit,
                                 "verify_wall_s": [r["wall_s"] for r in ours], "verify_busy_s": a["busy_s"], "verdicts": a["verdicts"]}
    if theirs:
        b = min(theirs, key=lambda r: r["wall_s"])  # type: ignore[arg-type,return-value]
        agree = sum(a["passed"][cid] == b["passed"].get(cid) for cid in a["passed"])  # type: ignore[index,union-attr]
        ratio = a["wall_s"] / b["wall_s"]  # type: ignore[operator]
        print(f"  LiveCodeBench's grader    {b['wall_s']:7.1f} s wall ({b['grading_s']:.1f} s grading, the rest loading)")
        print(f"  builder verify / LiveCodeBench's grader: {ratio:.2f}x (target <= 0.8)")
        print(f"  agree on 'passes every public test': {agree} of {n}")
        result.update(grader_wall_s=[r["wall_s"] for r in theirs], ratio=ratio, agree=agree)
    else:
        print("  (no --lcb-runner: LiveCodeBench's grader not run)")
    print(f"  load average before {[round(x, 2) for x in load_before]}, after {[round(x, 2) for x in load_after]}")
    result.update(load_before=load_before, load_after=load_after)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
