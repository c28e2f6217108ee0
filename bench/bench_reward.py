"""Benchmark the execution reward (``builder.reward.ExecutionReward``) on a GRPO-sized batch against a
spawn-a-process-per-completion reward, in the same run.

The batch: 8 demo problems x 8 completions = 64 completions, each problem's tests cycled to 10 (640 test runs a
batch). The completions are what a policy writes: the accepted solution (5 of 8, each formatted differently), a
wrong answer, a crash and a response without code. Both rewards use the same number of parallel workers and must give
the same rewards. Reported: the throughput of each (completions/s and tests/s over ``--batches`` batches, after the
pool's start-up), their ratio, the reward's latency per batch (median and worst) and its one-time start-up.

    python bench/bench_reward.py [--batches 5] [--workers 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
CHILD = Path(__file__).with_name("spawn_reward_child.py")
PROBLEMS, PER_PROBLEM, TESTS = 8, 8, 10
TIME_LIMIT_S = 4.0


def batch() -> tuple[Any, list[str], list[str]]:
    """The problems (tests cycled to 10), and 64 completions with their problem ids."""
    from datasets import Dataset

    from builder.core.tables import load_problems

    problems, _ = load_problems(str(DEMO / "problems.jsonl"))
    solutions = {}
    for line in (DEMO / "solutions.jsonl").read_text().splitlines():
        row = json.loads(line)
        solutions.setdefault(row["problem_id"], row["solution"])
    rows = [p for p in problems.to_list() if p["problem_id"] in solutions][:PROBLEMS]
    for p in rows:
        p["tests"] = [p["tests"][i % len(p["tests"])] for i in range(TESTS)]
    completions, problem_ids = [], []
    for p in rows:
        code = solutions[p["problem_id"]]
        variants = [f"# attempt {k}\n{code}" for k in range(5)]
        variants += [f"{code}\nprint(0)", f"raise RuntimeError('gave up')\n{code}"]
        for variant in variants:
            completions.append(f"Let me think.\n\n```python\n{variant}\n```\n")
        completions.append("I am not sure how to solve this.")
        problem_ids += [p["problem_id"]] * PER_PROBLEM
    return Dataset.from_list(rows, features=problems.features), completions, problem_ids


def spawn_reward(completions: list[str], problem_ids: list[str], tests: dict[str, list[dict[str, str]]], workers: int) -> list[float]:
    """The baseline: one fresh interpreter per completion, ``workers`` at a time."""
    from builder.reward import program_of

    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}

    def one(i: int) -> float:
        code = program_of(completions[i])
        if code is None:
            return 0.0
        task = json.dumps({"code": code, "tests": tests[problem_ids[i]], "time_limit_s": TIME_LIMIT_S})
        out = subprocess.run([sys.executable, "-s", str(CHILD)], input=task, capture_output=True, text=True, env=env, timeout=600)
        try:
            return json.loads(out.stdout)["passed"] / len(tests[problem_ids[i]])
        except (ValueError, KeyError):
            return 0.0

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(len(completions))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=5, help="batches timed for each reward")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))

    from builder.core.settings import ExecutionSettings
    from builder.reward import ExecutionReward

    problems, completions, problem_ids = batch()
    tests = {p["problem_id"]: p["tests"] for p in problems.to_list()}
    n_tests = sum(len(tests[p]) for p in problem_ids)
    settings = ExecutionSettings(workers=args.workers, time_limit_s=TIME_LIMIT_S, limits="flat")
    load_before = os.getloadavg()

    started = time.perf_counter()
    reward = ExecutionReward(problems, execution=settings)
    startup = time.perf_counter() - started
    try:
        ours = reward(completions, problem_id=problem_ids)  # warm: the first batch is not timed
        latencies = []
        for _ in range(args.batches):
            t = time.perf_counter()
            again = reward(completions, problem_id=problem_ids)
            latencies.append(time.perf_counter() - t)
            assert again == ours, "the reward changed between identical batches"
        verdicts = [j.verdict for j in reward.last]
        level = reward.describe().get("level")
    finally:
        reward.close()

    spawn_times = []
    for _ in range(args.batches):
        t = time.perf_counter()
        theirs = spawn_reward(completions, problem_ids, tests, args.workers)
        spawn_times.append(time.perf_counter() - t)
    load_after = os.getloadavg()
    agree = [round(a, 9) for a in ours] == [round(b, 9) for b in theirs]

    ours_s, spawn_s = sum(latencies), sum(spawn_times)
    total = args.batches * len(completions)
    ratio = spawn_s / ours_s
    print(f"reward benchmark: {len(completions)} completions x {TESTS} tests a batch ({n_tests} test runs), "
          f"{args.batches} batches, {args.workers} workers, cpus={os.cpu_count()}")
    print(f"sandbox: {level}; verdicts of a batch: {dict(sorted((v, verdicts.count(v)) for v in set(verdicts)))}")
    print(f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f}")
    print(f"{'reward':<38}{'seconds':>9}{'completions/s':>15}{'tests/s':>10}")
    for name, seconds in (("builder.reward, warm pool (a)", ours_s), ("spawn a process per completion (b)", spawn_s)):
        print(f"{name:<38}{seconds:>9.2f}{total / seconds:>15.1f}{args.batches * n_tests / seconds:>10.1f}")
    print(f"throughput ratio warm pool / spawn-per-completion: {ratio:.1f}x")
    print(f"latency per batch of {len(completions)}: median {statistics.median(latencies) * 1000:.0f} ms, "
          f"worst {max(latencies) * 1000:.0f} ms (spawn-per-completion: median {statistics.median(spawn_times) * 1000:.0f} ms)")
    print(f"one-time start-up of the pool ({args.workers} workers, a sandbox each): {startup:.2f} s")
    print(f"rewards agree: {agree} (mean reward {sum(ours) / len(ours):.3f})")
    if args.json:
        args.json.write_text(json.dumps({
            "completions": len(completions), "tests_per_batch": n_tests, "batches": args.batches, "workers": args.workers,
            "level": level, "reward_s": ours_s, "spawn_s": spawn_s, "ratio": ratio, "latency_s": latencies,
            "spawn_latency_s": spawn_times, "startup_s": startup, "agree": agree, "load": [load_before, load_after],
        }, indent=2))
    if not agree:
        raise SystemExit("the two rewards disagree: the comparison is not like for like")


if __name__ == "__main__":
    main()
