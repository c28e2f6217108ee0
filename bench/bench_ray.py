"""Benchmark the Ray engine's execution (issue 16, done-when 4): 1 against 2 execution actors, and Ray's overhead per
candidate against the local engine on the same candidates, side by side in one run.

The candidates are the same for every build: the demo problems (``data/demo``, or ``--problems``) with ``--copies``
responses each, every response an accepted solution of the problem (``data/demo/solutions.jsonl``, or ``--solutions``)
in a ```` ```python ```` block, written into the generation chunk cache of each build's work folder with the
generation stage's own record builder (:func:`builder.generate.stage.samples_to_records`) and keys, so generation
reads them back and the builds time extraction, execution and judging. The recipe names an OpenAI-compatible endpoint
that is never contacted (every chunk is on disk).

Builds, alternated over ``--rounds`` (the best of each kept): the local engine (:func:`builder.pipeline.build`) with
2 workers, and the Ray engine (:func:`builder.ray_engine.build`) on a local Ray cluster of 2 CPUs with 1 and with 2
execution actors. Each time is the build's "generation and execution together" wall time (actors or workers start,
sandboxes warm up, every candidate judged, verdicts on disk), not the dataset writing. Printed: candidates per second
of each, the ratio 2 actors / 1 actor, Ray (2 actors) / local (2 workers) per candidate, the difference per candidate
in ms, and the load averages before and after (this machine is shared: timings are noisy).

    python bench/bench_ray.py                      # 30 demo problems x 8 = 240 candidates, 2 rounds
    python bench/bench_ray.py --copies 32 --rounds 3 --json ray.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def recipe_for(problems: Path, copies: int, chunk_size: int, workers: int):  # -> Recipe
    from builder.core.recipe import parse_recipe

    return parse_recipe({
        "name": "bench-ray",
        "seed": 7,
        "sources": [{"kind": "local", "path": str(problems)}],
        "model": {"backend": "openai", "path": "replayed-solutions", "base_url": "http://127.0.0.1:9/v1"},
        "sampling": {"n": copies, "max_tokens": 1024},
        "generation": {"chunk_size": chunk_size},
        "execution": {"workers": workers, "time_limit_s": 4.0, "memory_limit_mb": 512},
        "problems": {"near_dedup": False},
    }, where="bench")


def seed_cache(recipe, solutions: dict[str, str], work: Path) -> int:  # noqa: ANN001
    """Write every chunk of the recipe's problems into ``work/<name>/generate`` as generation would have; returns the
    number of candidates."""
    from builder.generate.base import Sample
    from builder.generate.cache import ChunkCache
    from builder.generate.stage import FEATURES, plan_chunks, samples_to_records
    from builder.problems.stage import collect_problems

    problems = collect_problems(recipe.sources, recipe.problems).problems
    cache = ChunkCache(work / recipe.name / "generate", FEATURES)
    size, n, total = recipe.generation.chunk_size, recipe.sampling.n, 0
    languages = recipe.generation.languages
    for i, key in enumerate(plan_chunks(problems, recipe)):
        ids = problems["problem_id"][i * size : (i + 1) * size]
        outputs = [[Sample(text=f"```python\n{solutions[pid]}\n```", finish_reason="stop", num_tokens=64)] * n for pid in ids for _ in languages]
        cache.save(key, samples_to_records(ids, outputs, recipe.model.path, n, languages))
        total += len(ids) * n * len(languages)
    return total


def timed(label: str, run) -> float:  # noqa: ANN001
    result = run()
    seconds = result.times.seconds["generation+execution"]
    bad = {k: v for k, v in result.verdicts.items() if k != "passed"}
    print(f"  {label}: {seconds:.2f} s for {result.candidates} candidates{'' if not bad else f' (not passed: {bad})'}", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=Path, default=ROOT / "data" / "demo" / "problems.jsonl")
    parser.add_argument("--solutions", type=Path, default=ROOT / "data" / "demo" / "solutions.jsonl")
    parser.add_argument("--copies", type=int, default=8, help="responses per problem (each an accepted solution)")
    parser.add_argument("--chunk-size", type=int, default=8, help="problems per generation chunk")
    parser.add_argument("--batch-size", type=int, default=16, help="candidates per execution task on Ray")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    import ray

    from builder import pipeline, ray_engine

    solutions = {}
    for line in args.solutions.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        solutions.setdefault(row["problem_id"], row.get("solution") or row["response"])
    scratch = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {"local_2_workers": [], "ray_1_actor": [], "ray_2_actors": []}
    try:
        ray.init(num_cpus=2, _temp_dir=ray_tmp, object_store_memory=200 << 20, include_dashboard=False, log_to_driver=False)
        local = recipe_for(args.problems, args.copies, args.chunk_size, workers=2)
        candidates = 0

        def fresh(tag: str, recipe) -> Path:  # noqa: ANN001
            nonlocal candidates
            work = scratch / tag
            shutil.rmtree(work, ignore_errors=True)
            candidates = seed_cache(recipe, solutions, work)
            return work

        def on_ray(actors: int):  # noqa: ANN202
            recipe = local.model_copy(update={"engine": local.engine.model_copy(update={"kind": "ray", "execution_actors": actors, "batch_size": args.batch_size})})
            work = fresh(f"ray{actors}", recipe)
            return lambda: ray_engine.build(recipe, dist_root=scratch / "dist", work_root=work, echo=lambda _: None)

        def on_local():  # noqa: ANN202
            work = fresh("local", local)
            return lambda: pipeline.build(local, dist_root=scratch / "dist", work_root=work, echo=lambda _: None)

        runs = {"local_2_workers": on_local, "ray_1_actor": lambda: on_ray(1), "ray_2_actors": lambda: on_ray(2)}
        for round_ in range(args.rounds):
            order = list(runs) if round_ % 2 == 0 else list(reversed(runs))
            print(f"round {round_ + 1}:", flush=True)
            for name in order:
                times[name].append(timed(name, runs[name]()))
    finally:
        ray.shutdown()
        shutil.rmtree(ray_tmp, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    load_after = os.getloadavg()

    best = {name: min(values) for name, values in times.items()}
    rate = {name: candidates / seconds for name, seconds in best.items()}
    result = {
        "candidates": candidates,
        "problems": args.problems.name,
        "copies": args.copies,
        "batch_size": args.batch_size,
        "seconds": {k: [round(v, 3) for v in vs] for k, vs in times.items()},
        "candidates_per_s": {k: round(v, 1) for k, v in rate.items()},
        "ray_2_over_1_actor_throughput": round(rate["ray_2_actors"] / rate["ray_1_actor"], 3),
        "ray_over_local_time_per_candidate": round(best["ray_2_actors"] / best["local_2_workers"], 3),
        "ray_overhead_ms_per_candidate": round(1000 * (best["ray_2_actors"] - best["local_2_workers"]) / candidates, 2),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
    }
    print(f"\nexecution of {candidates} candidates (best of {args.rounds}; this machine is shared, the numbers are noisy):")
    for name in times:
        print(f"  {name:16s} {best[name]:7.2f} s  {rate[name]:7.1f} candidates/s")
    print(f"  Ray, 2 actors / 1 actor throughput: {result['ray_2_over_1_actor_throughput']:.2f}x")
    print(
        f"  Ray (2 actors) / local (2 workers), time per candidate: {result['ray_over_local_time_per_candidate']:.2f}x "
        f"({result['ray_overhead_ms_per_candidate']:+.1f} ms per candidate)"
    )
    print(f"  load average before {result['load_before']}, after {result['load_after']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
