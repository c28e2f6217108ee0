"""Benchmark the streaming build against generation alone and the old sequential order (issue 15, done-when 1 and 3).

Generation is an OpenAI-compatible server on loopback (``tests/fakes/replay_server.py``, the project's
``backend = "openai"``) replaying the lcb pack's recorded solutions (``../shared/data/lcb``; each wrapped in a
```` ```python ```` fence) at a fixed token rate: one modelled GPU stream, a global virtual clock, so generating T tokens
takes T / rate seconds whatever the CPU is doing. Execution runs the real public tests of those problems in the
sandbox. Over the same problems, in one run on this machine:

  A. generation alone: :func:`builder.generate.stage.generate_chunks` to the end;
  B. the old sequential order, with the same components: ``generate_chunks`` to the end, then every chunk extracted
     and judged by :class:`builder.judge.stream.ChunkedExecution` (its worker pool started only then, as the old
     ``datasets.map(num_proc)`` did);
  C. the streaming build: :func:`builder.pipeline.build` (problems, stream, dist/), timed over its stream.

Printed: streaming / generation alone (target <= 1.10 when execution takes less than generation), sequential /
(generation + execution), where execution is B's judging phase, and the load averages before and after.

Then the main process's peak memory of a whole build at two problem counts (``--rss-problems`` and 8 times as many):
each build in a fresh process, responses padded with ``--reasoning-words`` of reasoning (long responses, as a
reasoning model writes, so that holding every candidate in Python objects would show), generation as fast as the
server answers. Printed: peak RSS (``ru_maxrss``) and peak anonymous RSS (``RssAnon`` sampled every 50 ms) of each,
and their ratio (target: within 15%).

    python bench/bench_build.py                      # the defaults: 96 problems, 2 samples, chunks of 8
    python bench/bench_build.py --problems 240 --generation-s 80 --skip-rss
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "tests"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
LCB = ROOT.parent / "shared" / "data" / "lcb"


def select(problems_file: Path, candidates_file: Path, count: int, out: Path) -> tuple[Path, Path]:
    """``count`` problems spread evenly over the pack (every k-th), and their candidates, as two JSONL files."""
    rows = [json.loads(line) for line in problems_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if count > len(rows):
        raise SystemExit(f"--problems {count}: the pack has {len(rows)}")
    picked = [rows[(i * len(rows)) // count] for i in range(count)]
    ids = {r["problem_id"] for r in picked}
    out.mkdir(parents=True, exist_ok=True)
    p, c = out / "problems.jsonl", out / "candidates.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in picked), encoding="utf-8")
    with candidates_file.open(encoding="utf-8") as src, c.open("w", encoding="utf-8") as dst:
        for line in src:
            if line.strip() and json.loads(line)["problem_id"] in ids:
                dst.write(line)
    return p, c


def total_tokens(problems: Path, candidates: Path, n: int, reasoning_words: int) -> int:
    from fakes.replay_server import count_tokens, load_responses

    _, responses = load_responses(problems, candidates, reasoning_words)
    return sum(count_tokens(r[i % len(r)]) for r in responses.values() for i in range(n))


def recipe_text(name: str, problems: Path, url: str, args: argparse.Namespace, chunk_size: int) -> str:
    return f"""
name = "{name}"
seed = 7

[[sources]]
kind = "local"
path = {json.dumps(str(problems))}

[model]
backend = "openai"
path = "replay"
base_url = "{url}"
concurrency = {args.concurrency}

[sampling]
n = {args.n}
max_tokens = 100000

[generation]
chunk_size = {chunk_size}

[execution]
workers = {args.workers}
time_limit_s = {args.time_limit}
memory_limit_mb = 1024
"""


def load_recipe_text(text: str, where: Path):
    from builder.core.recipe import load_recipe

    where.write_text(text, encoding="utf-8")
    return load_recipe(str(where))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def generation_alone(recipe, problems, work: Path) -> float:
    from builder.generate.stage import generate_chunks

    start = time.monotonic()
    for _ in generate_chunks(problems, recipe, work / "generate"):
        pass
    return time.monotonic() - start


def sequential(recipe, problems, work: Path) -> dict[str, float]:
    """Generate every chunk, then judge every chunk: the order the build had before streaming."""
    from builder.extract import extract_batch
    from builder.generate.stage import generate_chunks
    from builder.judge.stream import ChunkedExecution
    from builder.pipeline import STREAM_FEATURES

    start = time.monotonic()
    chunks = list(generate_chunks(problems, recipe, work / "generate"))
    generated = time.monotonic()
    cpu = children_cpu()
    with ChunkedExecution(problems, recipe.execution, work / "execute", STREAM_FEATURES) as execution:
        for key, records, _origin in chunks:
            records.update(extract_batch(records))
            execution.submit(execution.chunk_key(key, records["problem_id"]), records)
        judged = execution.result()
    end = time.monotonic()
    return {
        "wall_s": end - start, "generation_s": generated - start, "execution_s": end - generated,
        "workers_busy_s": execution.report.worker_s, "execution_cpu_s": children_cpu() - cpu, "candidates": len(judged),
    }


def streaming(recipe, work: Path, dist: Path) -> dict[str, Any]:
    from builder.pipeline import build

    cpu = children_cpu()
    start = time.monotonic()
    result = build(recipe, dist_root=dist, work_root=work, echo=lambda line: None)
    seconds = result.times.seconds
    return {
        "wall_s": seconds["generation+execution"], "build_s": time.monotonic() - start,
        "generation_s": seconds.get("generation", 0.0), "execution_busy_s": seconds.get("execution", 0.0),
        "hidden_s": result.hidden_s, "workers_busy_s": result.execution.worker_s, "execution_cpu_s": children_cpu() - cpu,
        "candidates": result.candidates, "verdicts": dict(result.verdicts),
    }


# --- the demo build: its time, and its output against a sequential build of the same tree -------------------------


def sequential_build(recipe, dist_root: Path, work_root: Path) -> Path:
    """The build in the old order with the same components (generate every chunk, then judge every chunk, then write
    dist/): what the streaming build must give byte for byte."""
    from builder.core import meta as build_metadata
    from builder.dataset.dist import write_dist
    from builder.judge.limits import limits_report
    from builder.problems.stage import collect_problems
    from builder.sandbox import make_sandbox

    config = recipe.execution
    with make_sandbox(config.sandbox, allow_unsandboxed=config.allow_unsandboxed) as sandbox:
        sandbox_info = dict(sandbox.describe())
    collected = collect_problems(recipe.sources, recipe.problems)
    problems = collected.problems
    work = work_root / recipe.name
    from builder.extract import extract_batch
    from builder.generate.stage import generate_chunks
    from builder.judge.stream import ChunkedExecution
    from builder.pipeline import STREAM_FEATURES

    chunks = list(generate_chunks(problems, recipe, work / "generate"))
    with ChunkedExecution(problems, config, work / "execute", STREAM_FEATURES) as execution:
        for key, records, _origin in chunks:
            records.update(extract_batch(records))
            execution.submit(execution.chunk_key(key, records["problem_id"]), records)
        judged = execution.result()
        meta = build_metadata.from_recipe(recipe, collected.source_records(), sandbox_info, limits_report(problems, config), collected.record())
        write_dist(dist_root / recipe.name, judged, problems, meta)
    return dist_root / recipe.name


def file_digests(folder: Path) -> dict[str, str]:
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def demo(tmp: Path, recipe_path: Path) -> None:
    """`builder build` of the demo recipe (timed, as `just build` runs it), then a sequential build of the same recipe
    in fresh folders: every file of dist/ compared."""
    from builder.core.recipe import load_recipe

    print(f"demo: load averages before {loads()}")
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "builder.cli", "build", "--recipe", str(recipe_path), "--dist-dir", str(tmp / "stream" / "dist"),
         "--work-dir", str(tmp / "stream" / "work")], cwd=ROOT, capture_output=True, text=True,
    )
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"the demo build failed:\n{proc.stderr[-3000:]}")
    print(f"demo: `builder build --recipe {recipe_path.relative_to(ROOT) if recipe_path.is_relative_to(ROOT) else recipe_path}` took "
          f"{wall:.1f} s (load averages after {loads()})")
    for line in proc.stdout.splitlines():
        if line.startswith(("time:", "chunks:")) or " candidates for " in line:
            print(f"  {line}")
    start = time.monotonic()
    seq = sequential_build(load_recipe(str(recipe_path)), tmp / "seq" / "dist", tmp / "seq" / "work")
    print(f"demo: sequential build of the same tree took {time.monotonic() - start:.1f} s")
    a, b = file_digests(tmp / "stream" / "dist" / seq.name), file_digests(seq)
    differ = sorted(name for name in set(a) | set(b) if a.get(name) != b.get(name))
    print(f"demo: {len(a)} files in dist/{seq.name}; streaming vs sequential: "
          + ("byte-identical" if not differ else f"{len(differ)} differ: {', '.join(differ)}"))


# --- peak memory of a whole build, in a fresh process ----------------------------------------------------------


def rss_child(recipe_path: str, root: str) -> None:
    """Run one build in this process and print its peak memory as JSON (``--rss-child``): the peak resident set
    (``ru_maxrss``: anonymous memory plus the pages of memory-mapped files it touched) and the peak anonymous
    resident memory (``RssAnon``, sampled every 50 ms), for the stream (problems, generation, execution) and for
    writing dist/ apart."""
    import threading

    import builder.pipeline as pipeline
    from builder.core.recipe import load_recipe

    phase = ["stream"]
    peaks = {"stream": [0, 0], "writing": [0, 0]}  # [anonymous, resident] in kB
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
            anon, rss = int(status["RssAnon"].split()[0]), int(status["VmRSS"].split()[0])
            peak = peaks[phase[0]]
            peak[0], peak[1] = max(peak[0], anon), max(peak[1], rss)
            stop.wait(0.05)

    write_dist = pipeline.write_dist

    def writing(*args: Any, **kwargs: Any) -> None:
        phase[0] = "writing"
        write_dist(*args, **kwargs)

    pipeline.write_dist = writing  # type: ignore[assignment]
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.monotonic()
    result = pipeline.build(load_recipe(recipe_path), dist_root=Path(root) / "dist", work_root=Path(root) / "work", echo=lambda line: None)
    stop.set()
    sampler.join()
    print(json.dumps({
        "candidates": result.candidates, "chunks": result.execution.chunks, "wall_s": time.monotonic() - start,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_anon_mb": max(p[0] for p in peaks.values()) / 1024,
        "stream_anon_mb": peaks["stream"][0] / 1024, "stream_rss_mb": peaks["stream"][1] / 1024,
        "writing_anon_mb": peaks["writing"][0] / 1024, "writing_rss_mb": peaks["writing"][1] / 1024,
    }))


def rss_run(args: argparse.Namespace, count: int, tmp: Path) -> dict[str, Any]:
    from fakes.replay_server import ReplayServer

    problems, candidates = select(LCB / "problems.jsonl", LCB / "candidates.jsonl", count, tmp / f"rss{count}")
    with ReplayServer(problems, candidates, rate=1e9, reasoning_words=args.reasoning_words) as server:
        recipe = tmp / f"rss{count}.toml"
        recipe.write_text(recipe_text("rss", problems, server.url, args, args.chunk_size), encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, __file__, "--rss-child", str(recipe), str(tmp / f"rss{count}-run")],
            cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    if proc.returncode != 0:
        raise SystemExit(f"the build of {count} problems failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def loads() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=96, help="problems of the lcb pack (spread over it)")
    parser.add_argument("--n", type=int, default=2, help="samples per problem (the pack records 2)")
    parser.add_argument("--chunk-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--time-limit", type=float, default=6.0, help="CPU seconds per test")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (the openai backend's)")
    parser.add_argument("--generation-s", type=float, default=40.0, help="seconds generation alone takes: sets the token rate")
    parser.add_argument("--rss-problems", type=int, default=40, help="problems of the smaller memory build (the larger: 8x)")
    parser.add_argument("--rss-factor", type=int, default=8)
    parser.add_argument("--reasoning-words", type=int, default=20000, help="reasoning words per response in the memory builds")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--skip-stream", action="store_true")
    parser.add_argument("--demo", action="store_true", help="only the demo build: its time, and its output against a sequential build")
    parser.add_argument("--demo-recipe", type=Path, default=ROOT / "recipes" / "demo.toml")
    parser.add_argument("--keep", type=Path, help="keep the work folders here")
    parser.add_argument("--rss-child", nargs=2, metavar=("RECIPE", "ROOT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(*args.rss_child)
        return
    if not args.demo and not (LCB / "problems.jsonl").is_file():
        raise SystemExit(f"the lcb data pack is not at {LCB}")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ["TQDM_DISABLE"] = "1"  # the openai backend's request bar; this bench prints its own lines
    import datasets

    datasets.disable_progress_bars()
    from fakes.replay_server import ReplayServer

    import builder.core.progress as progress

    progress.VERBOSITY = 0  # no progress display: the builds' own lines are not printed either (echo is silent)
    tmp = Path(tempfile.mkdtemp(prefix="bench-build-")) if args.keep is None else args.keep
    tmp.mkdir(parents=True, exist_ok=True)
    print(f"load averages at start: {loads()}  (cores: {os.cpu_count()})")
    try:
        if args.demo:
            demo(tmp, args.demo_recipe.resolve())
            return
        if not args.skip_stream:
            problems_file, candidates_file = select(LCB / "problems.jsonl", LCB / "candidates.jsonl", args.problems, tmp / "data")
            tokens = total_tokens(problems_file, candidates_file, args.n, 0)
            rate = tokens / args.generation_s
            print(f"{args.problems} problems x {args.n} samples, chunks of {args.chunk_size}, {args.workers} workers, "
                  f"{args.time_limit:g} s per test; {tokens:,} tokens replayed at {rate:,.0f} tokens/s")
            with ReplayServer(problems_file, candidates_file, rate=rate) as server:
                recipe = load_recipe_text(recipe_text("bench", problems_file, server.url, args, args.chunk_size), tmp / "bench.toml")
                from builder.problems.stage import collect_problems

                problems = collect_problems(recipe.sources, recipe.problems).problems
                gen = generation_alone(recipe, problems, tmp / "A")
                print(f"A generation alone:   {gen:7.1f} s   (load {loads()})")
                seq = sequential(recipe, problems, tmp / "B")
                print(f"B sequential:         {seq['wall_s']:7.1f} s = generation {seq['generation_s']:.1f} + execution "
                      f"{seq['execution_s']:.1f} (workers busy {seq['workers_busy_s']:.1f} s, CPU {seq['execution_cpu_s']:.1f} s)   (load {loads()})")
                stream = streaming(recipe, tmp / "C" / "work", tmp / "C" / "dist")
                print(f"C streaming:          {stream['wall_s']:7.1f} s   (whole build {stream['build_s']:.1f} s; workers busy "
                      f"{stream['workers_busy_s']:.1f} s, CPU {stream['execution_cpu_s']:.1f} s; {stream['hidden_s']:.1f} s of "
                      f"execution hidden behind generation)   (load {loads()})")
                gen2 = generation_alone(recipe, problems, tmp / "A2")
                print(f"A' generation alone:  {gen2:7.1f} s   (again, after)")
            if seq["execution_s"] >= gen:
                print(f"note: execution ({seq['execution_s']:.1f} s) took longer than generation ({gen:.1f} s) here: "
                      f"streaming can only hide as much as generation lasts; raise --generation-s")
            base = min(gen, gen2)
            print(f"streaming / generation alone = {stream['wall_s'] / base:.3f}  (target <= 1.10)")
            print(f"sequential / (generation + execution) = {seq['wall_s'] / (base + seq['execution_s']):.3f}  "
                  f"(sequential / generation alone = {seq['wall_s'] / base:.3f})")
        if not args.skip_rss:
            small = rss_run(args, args.rss_problems, tmp)
            large = rss_run(args, args.rss_problems * args.rss_factor, tmp)
            for label, r in (("1x", small), (f"{args.rss_factor}x", large)):
                print(f"memory {label}: {r['candidates']} candidates in {r['chunks']} chunks ({args.reasoning_words} words of "
                      f"reasoning each), {r['wall_s']:.0f} s: peak RSS {r['maxrss_mb']:.0f} MB (stream {r['stream_rss_mb']:.0f}, "
                      f"writing dist/ {r['writing_rss_mb']:.0f}), peak anonymous RSS {r['peak_anon_mb']:.0f} MB (stream "
                      f"{r['stream_anon_mb']:.0f}, writing dist/ {r['writing_anon_mb']:.0f})")
            ratio = {k: large[k] / small[k] for k in ("maxrss_mb", "peak_anon_mb", "stream_rss_mb", "stream_anon_mb", "writing_rss_mb", "writing_anon_mb")}
            print(f"peak RSS {args.rss_factor}x / 1x = {ratio['maxrss_mb']:.3f} (target < 1.15), anonymous {ratio['peak_anon_mb']:.3f}; "
                  f"the stream alone: RSS {ratio['stream_rss_mb']:.3f}, anonymous {ratio['stream_anon_mb']:.3f}; writing dist/: "
                  f"RSS {ratio['writing_rss_mb']:.3f}, anonymous {ratio['writing_anon_mb']:.3f}")
        print(f"load averages at end: {loads()}")
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
