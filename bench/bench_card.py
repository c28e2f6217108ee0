"""Benchmark `builder card` (done-when 3): a generated dataset of 100,000 candidates over 12,000 problems.

Builds the dataset folder once with ``write_dist`` (synthetic, realistic judged candidates), then times
``builder card DIST`` and ``builder card DIST --check`` as child processes and reads their peak RSS.
Targets: under 30 s and under 2 GB each.

    python bench/bench_card.py [--candidates 100000] [--problems 12000] [--out work/bench_card] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_child(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    code = "import resource, subprocess, sys, time\n" \
           "t = time.perf_counter(); rc = subprocess.run(sys.argv[1:]).returncode; dt = time.perf_counter() - t\n" \
           "print(dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)\n"
    # a fresh wrapper per run, so RUSAGE_CHILDREN holds only this run's peak
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True)
    wall, rss_kb, rc = out.stdout.strip().splitlines()[-1].split()
    if int(rc) != 0:
        raise SystemExit(f"{' '.join(args)} exited {rc}")
    return float(wall), int(rss_kb) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--problems", type=int, default=12_000)
    parser.add_argument("--out", type=Path, default=ROOT / "work" / "bench_card" / "dist")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="reuse an existing dataset folder at --out")
    args = parser.parse_args()

    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    build_s = None
    if not (args.reuse and (args.out / "build.json").exists()):
        from builder.core.meta import BuildMeta
        from builder.dataset.dist import write_dist
        from fakes.synthetic import synthetic_candidates, synthetic_problems

        shutil.rmtree(args.out, ignore_errors=True)
        t = time.perf_counter()
        problems = synthetic_problems(args.problems, seed=0)
        candidates = synthetic_candidates(problems, args.candidates, seed=0)
        gen_s = time.perf_counter() - t
        meta = {"name": "bench", "seed": 0, "recipe": 'name = "bench"\nseed = 0\n', "model": "synthetic",
                "sampling": {"n": 8, "temperature": 0.8}, "limits": {"time_limit_s": 4.0, "memory_limit_mb": 512}}
        t = time.perf_counter()
        write_dist(args.out, candidates, problems, BuildMeta.model_validate(meta))
        build_s = time.perf_counter() - t
        print(f"generated {args.candidates:,} candidates in {gen_s:.1f} s; write_dist {build_s:.1f} s", file=sys.stderr)

    size_mb = sum(p.stat().st_size for p in args.out.rglob("*.parquet")) / 2**20
    builder = [sys.executable, "-m", "builder.cli", "card", str(args.out)]
    results = {"candidates": args.candidates, "problems": args.problems, "parquet_mb": round(size_mb, 1), "write_dist_s": build_s}
    for label, cmd in (("card", builder), ("card_check", [*builder, "--check"])):
        runs = [run_child(cmd) for _ in range(args.repeat)]
        results[label] = {
            "wall_s": [round(w, 2) for w, _ in runs],
            "max_wall_s": round(max(w for w, _ in runs), 2),
            "peak_rss_mb": round(max(m for _, m in runs), 1),
        }
    results["within_targets"] = all(results[k]["max_wall_s"] < 30 and results[k]["peak_rss_mb"] < 2048 for k in ("card", "card_check"))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
