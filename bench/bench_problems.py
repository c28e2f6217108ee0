"""Benchmark the problems stage's checks (issue 17): dedup and decontamination on 10,000 synthetic statements, and
reference-solution validation of the lcb pack.

1. **Statements.** 10,000 synthetic problem statements (seeded: words drawn from a competitive-programming vocabulary,
   150-300 words, with the platforms' boilerplate), 3% of them lightly reworded copies of others and 2% copies of a
   500-problem synthetic benchmark. Baseline: normalizing the 10,000 rows as a local source does (writing them as a
   problems file and loading it with :func:`builder.core.tables.load_problems`). Then each step on the loaded rows:
   the exact hash dedup, MinHash LSH near-duplicates, 13-gram decontamination and embedding decontamination
   (``--no-embedding`` skips it), each timed on its own, with what it found and its ratio to the baseline.
2. **Validation.** With ``../shared/data`` present: the lcb pack's 525 accepted candidates as references, judged with
   ``--workers`` (default 2) workers, uncached (:func:`builder.problems.validate.judge_references`).

    python bench/bench_problems.py [--statements 10000] [--benchmark 500] [--workers 2] [--no-embedding] [--no-validation]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = (
    "array integer integers sequence string strings tree graph vertex vertices edge edges query queries prefix sum "
    "maximum minimum number numbers count pairs subarray substring path paths cost weight modulo prime answer print "
    "output input line lines given each between distinct positive non-negative element elements index indices operation "
    "operations choose select remove insert swap sort sorted order lexicographically smallest largest first last "
    "interval segment range grid cell cells row column rows columns matrix robot move moves step steps turn turns game "
    "player players alice bob wins optimal optimally strategy coin coins bag box boxes color colors red blue "
    "permutation permutations divisor divisors multiple gcd lcm parity even odd binary bit bits xor and or shift"
).split()
BOILERPLATE = [
    "The input is given from Standard Input in the following format:",
    "All input values are integers.",
    "Print the answer on a single line.",
    "If there are multiple solutions, print any of them.",
]


def statement(rng: random.Random) -> str:
    sentences = []
    for _ in range(rng.randint(12, 24)):
        sentences.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16))).capitalize() + ".")
    sentences[rng.randrange(len(sentences))] += " " + " ".join(BOILERPLATE)
    return " ".join(sentences) + f" Constraints: 1 \\le N \\le 10^{rng.randint(3, 9)}."


def reword(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for _ in range(max(1, len(words) // 60)):  # one word in sixty replaced
        words[rng.randrange(len(words))] = rng.choice(WORDS)
    return " ".join(words)


def make_sets(n: int, bench_n: int, seed: int = 17) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    bench = [{"problem_id": f"bench-{i}", "problem": statement(rng), "tests": [{"input": "1\n", "output": "1\n"}]} for i in range(bench_n)]
    rows: list[dict] = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.03 and rows:
            text = reword(rng.choice(rows)["problem"], rng)
        elif roll < 0.05:
            text = rng.choice(bench)["problem"] + " " + statement(rng)[:200]
        else:
            text = statement(rng)
        rows.append({"problem_id": f"p-{i}", "source": "synthetic", "problem": text, "tests": [{"input": "1\n", "output": "1\n"}]})
    return rows, bench


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=10_000)
    parser.add_argument("--benchmark", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-embedding", action="store_true")
    parser.add_argument("--no-validation", action="store_true")
    args = parser.parse_args()

    import datasets

    datasets.disable_progress_bars()
    from builder.core.tables import load_problems
    from builder.problems.decontaminate import decontaminate, load_benchmark
    from builder.problems.dedup import dedup_problems, near_dedup_problems

    rows, bench_rows = make_sets(args.statements, args.benchmark)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-problems-") as tmp:
        path = Path(tmp) / "problems.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        bench_path = Path(tmp) / "bench" / "problems.jsonl"
        bench_path.parent.mkdir()
        bench_path.write_text("".join(json.dumps(r) + "\n" for r in bench_rows))
        datasets.config.HF_DATASETS_CACHE = Path(tmp) / "cache"  # every step computes, nothing comes from a cache
        base, (problems, _) = timed(lambda: load_problems(str(path)))
        results.append(("baseline: load + normalize", base, f"{len(problems)} problems"))
        seconds, out = timed(lambda: dedup_problems(problems))
        results.append(("exact dedup (normalized hash)", seconds, f"{out.merged} merged"))
        seconds, near = timed(lambda: near_dedup_problems(problems))
        results.append(("near-duplicates (MinHash LSH)", seconds, f"{near.merged} merged into {near.groups} groups"))
        benchmark = load_benchmark(str(bench_path))
        seconds, ngram = timed(lambda: decontaminate(problems, [benchmark], methods=("ngram",)))
        results.append((f"13-gram decontamination ({len(bench_rows)} benchmark problems)", seconds, f"{len(ngram.dropped)} dropped"))
        if not args.no_embedding:
            seconds, emb = timed(lambda: decontaminate(problems, [benchmark], methods=("embedding",)))
            results.append(("embedding decontamination (all-MiniLM-L6-v2, CPU)", seconds, f"{len(emb.dropped)} dropped"))
    print(f"\nproblems stage checks on {args.statements:,} synthetic statements "
          f"({int(args.statements * 0.03):,} reworded copies and {int(args.statements * 0.02):,} benchmark copies planted, about)")
    print(f"{'step':<58}{'seconds':>9}{'x baseline':>12}  result")
    for name, seconds, what in results:
        print(f"{name:<58}{seconds:>9.2f}{seconds / base:>12.2f}  {what}")

    data = ROOT.parent / "shared" / "data" / "lcb"
    if args.no_validation or not data.is_dir():
        print("\nvalidation: skipped" + ("" if args.no_validation else " (no ../shared/data/lcb)"))
        return
    from builder.core.settings import ExecutionSettings, SourceSettings
    from builder.problems.sources import load_source
    from builder.problems.validate import judge_references, reference_candidates

    source = load_source("local", str(data / "problems.jsonl"), solutions=str(data / "candidates.jsonl"))
    references, _ = reference_candidates(source.problems, source.solutions, 3)
    seconds, verdicts = timed(lambda: judge_references(references, source.problems, ExecutionSettings(workers=args.workers)))
    passed = sum(v["verdict"] == "passed" for v in verdicts.values())
    tests = sum(v["tests_total"] for v in verdicts.values())
    print(f"\nvalidation of the lcb pack: {len(references)} references ({tests:,} test runs) with {args.workers} workers: "
          f"{seconds:.1f} s ({len(references) / seconds:.1f} references/s), {passed} passed")


if __name__ == "__main__":
    main()
