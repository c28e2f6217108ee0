"""Sandbox benchmark (``just bench``): fork-server vs spawn-per-test on the same candidates and tests.

In one run, with the same programs and inputs:

* throughput with ``--workers`` worker processes (default 2, like ``datasets.map(num_proc=2)``), each with its own
  executor: (a) the fork-server (:class:`ForkServerSandbox`, one zygote per worker) and (b) the spawn-per-test
  baseline (:class:`SpawnSandbox`: a fresh ``sys.executable`` per test, with rlimits); printed as tests/s and their
  ratio (target on trivial tests: >= 5);
* per-test latency, one worker, against a bare ``fork`` + ``exec`` of a pre-compiled code object in a warm
  interpreter (stdin/stdout on memfds, nothing else): the cost of isolation on top of the cheapest possible
  in-process executor (target: within 4x).

Every output is checked, so a fast but wrong executor shows up as errors. The machine's load matters (these are
wall-clock numbers): run it on a quiet machine and report the load average printed with the results.

    python bench/bench_sandbox.py [--tests 600] [--workers 2] [--json out.json] [--baseline-rev REV]

``--baseline-rev REV`` also measures the fork-server of an earlier git revision (its ``builder/`` package, extracted
into a temporary folder and run in a subprocess) on the same tests, between two runs of the current one: what the
changes since REV cost per test, as a ratio measured in one run.

Isolation tiers (README, "Isolation tiers"): the fork-server above runs at the tier this process reaches (tier 1 as
root). Run as root, the benchmark also measures it at the other tiers of this machine, in the same run, each in a
subprocess started by ``tests/tiers/launch.py``: tier 2 as a normal user (``--tier2-user``, default: the first of
builder-ci, sbxtest, nobody that exists) and tier 3 as a default Docker container (no CAP_SYS_ADMIN, Docker's seccomp
refusals). ``--tiers 1`` measures only this process's tier.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if "--package-root" in sys.argv:  # a baseline revision's package, for --baseline-rev
    sys.path.insert(0, sys.argv[sys.argv.index("--package-root") + 1])
else:
    sys.path.insert(0, str(REPO))

from builder.sandbox.base import Limits  # noqa: E402

#: trivial candidates (what most generated solutions to easy problems look like) and a test generator for each
CANDIDATES: list[tuple[str, str]] = [
    ("double", "print(2 * int(input()))"),
    ("sum_pair", "a, b = map(int, input().split())\nprint(a + b)"),
    ("sum_all", "import sys\nprint(sum(map(int, sys.stdin.read().split())))"),
    ("sort", "n = int(input())\nxs = sorted(map(int, input().split()))\nprint(*xs)"),
    ("counter", "from collections import Counter\ninput()\nc = Counter(input().split())\nprint(max(c.values()))"),
    ("dp", "n = int(input())\nf = [0, 1]\nfor i in range(n): f.append((f[-1] + f[-2]) % 1000000007)\nprint(f[n])"),
]


def _test(kind: str, i: int) -> tuple[str, str]:
    if kind == "double":
        return f"{i}\n", f"{2 * i}\n"
    if kind == "sum_pair":
        return f"{i} {i + 7}\n", f"{2 * i + 7}\n"
    if kind == "sum_all":
        xs = list(range(i % 50 + 1))
        return " ".join(map(str, xs)) + "\n", f"{sum(xs)}\n"
    if kind == "sort":
        xs = [(i * 7919 + k * 104729) % 1000 for k in range(20)]
        return f"{len(xs)}\n{' '.join(map(str, xs))}\n", " ".join(map(str, sorted(xs))) + "\n"
    if kind == "counter":
        xs = [str((i + k) % 5) for k in range(30)]
        from collections import Counter

        return f"{len(xs)}\n{' '.join(xs)}\n", f"{max(Counter(xs).values())}\n"
    n = i % 200 + 2
    f = [0, 1]
    for _ in range(n):
        f.append((f[-1] + f[-2]) % 1000000007)
    return f"{n}\n", f"{f[n]}\n"


def workload(n_tests: int) -> list[tuple[str, bytes, bytes]]:
    """(code, stdin, expected stdout) for ``n_tests`` tests spread over the candidates."""
    items = []
    for i in range(n_tests):
        name, code = CANDIDATES[i % len(CANDIDATES)]
        stdin, expected = _test(name, i)
        items.append((code, stdin.encode(), expected.encode()))
    return items


LIMITS = Limits(cpu_s=2.0, memory_mb=256)

# --- worker side -------------------------------------------------------------------------------------------------
_BOX = None


def _init_worker(kind: str) -> None:
    global _BOX
    if kind == "forkserver":
        from builder.sandbox.forkserver import ForkServerSandbox

        _BOX = ForkServerSandbox()
    elif kind == "spawn":
        from builder.sandbox.spawn import SpawnSandbox

        _BOX = SpawnSandbox()
    _BOX.run("print(1)", b"", LIMITS)  # warm: the zygote is up before the clock starts


def _run_chunk(chunk: list[tuple[str, bytes, bytes]]) -> tuple[int, int]:
    ok = 0
    for code, stdin, expected in chunk:
        result = _BOX.run(code, stdin, LIMITS)
        ok += result.stdout.split() == expected.split()
    return ok, len(chunk)


def throughput(kind: str, items: list[tuple[str, bytes, bytes]], workers: int) -> dict[str, float]:
    chunks = [items[i : i + 10] for i in range(0, len(items), 10)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(kind,)) as pool:
        pool.map(_noop, range(workers * 4))  # every worker initialized (sandbox started and warm)
        started = time.perf_counter()
        results = pool.map(_run_chunk, chunks, chunksize=1)
        elapsed = time.perf_counter() - started
    ok = sum(r[0] for r in results)
    total = sum(r[1] for r in results)
    return {"tests": total, "correct": ok, "seconds": elapsed, "tests_per_s": total / elapsed}


def _noop(_: int) -> None:
    time.sleep(0.05)


# --- latency, one worker -----------------------------------------------------------------------------------------
def _memfd(data: bytes = b"") -> int:
    fd = os.memfd_create("bench")
    if data:
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
    return fd


def bare_fork_exec(items: list[tuple[str, bytes, bytes]]) -> dict[str, float]:
    """The floor: fork a warm interpreter and exec a pre-compiled code object; no isolation, no limits."""
    compiled = {code: compile(code, "solution.py", "exec") for code, _, _ in items}
    ok = 0
    started = time.perf_counter()
    for code, stdin, expected in items:
        fin, fout = _memfd(stdin), _memfd()
        pid = os.fork()
        if pid == 0:
            try:
                os.dup2(fin, 0)
                os.dup2(fout, 1)
                sys.stdin = open(0, closefd=False)  # noqa: SIM115
                sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
                exec(compiled[code], {"__name__": "__main__"})
                sys.stdout.flush()
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        ok += os.pread(fout, 1 << 20, 0).split() == expected.split()
        os.close(fin)
        os.close(fout)
    elapsed = time.perf_counter() - started
    return {"tests": len(items), "correct": ok, "seconds": elapsed, "ms_per_test": 1000 * elapsed / len(items)}


def latency(kind: str, items: list[tuple[str, bytes, bytes]]) -> dict[str, float]:
    _init_worker(kind)
    started = time.perf_counter()
    ok, total = _run_chunk(items)
    elapsed = time.perf_counter() - started
    if hasattr(_BOX, "close"):
        _BOX.close()
    return {"tests": total, "correct": ok, "seconds": elapsed, "ms_per_test": 1000 * elapsed / total}


def baseline_latency(rev: str, n_tests: int) -> dict[str, float]:
    """Per-test latency of the fork-server at git revision ``rev``, measured in a subprocess."""
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "builder"], check=True, capture_output=True).stdout
        with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        out = subprocess.run(
            [sys.executable, __file__, "--latency-only", "--latency-tests", str(n_tests), "--package-root", tmp],
            check=True, capture_output=True, text=True, cwd=tmp,
        ).stdout
    return json.loads(out.strip().splitlines()[-1])


def tier_numbers(n_tests: int, workers: int, latency_tests: int) -> dict[str, object]:
    """The fork-server at the tier this process reaches: level, throughput (``workers``), latency (one worker)."""
    from builder.sandbox.forkserver import ForkServerSandbox

    with ForkServerSandbox() as probe:
        level = probe.level
    return {"level": level, "throughput": throughput("forkserver", workload(n_tests), workers),
            "latency": latency("forkserver", workload(latency_tests))}


def _average(runs: list[dict[str, object]]) -> dict[str, object]:
    """The mean of a tier's runs (throughput and latency figures), or the first error."""
    for run in runs:
        if "error" in run:
            return run
    out: dict[str, object] = {"level": runs[0]["level"]}
    for part in ("throughput", "latency"):
        numbers = [run[part] for run in runs]
        out[part] = {key: sum(n[key] for n in numbers) / len(numbers) for key in numbers[0]}  # type: ignore[index,union-attr]
    return out


def other_tier(tier: int, args: argparse.Namespace) -> dict[str, object]:
    """Run this benchmark's fork-server part at ``tier`` in a subprocess: this process's own (tier 1, as root), or
    through tests/tiers/launch.py as a user (tier 2) or a default container (tier 3)."""
    import pwd

    launch = [sys.executable, str(REPO / "tests" / "tiers" / "launch.py"), "--tier", str(tier), "--cwd", str(REPO)]
    for path in {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)} | {str(REPO)}:
        launch += ["--share", path]
    if tier == 2:
        user = args.tier2_user
        for candidate in ("builder-ci", "sbxtest", "nobody"):
            if user is None:
                try:
                    pwd.getpwnam(candidate)
                    user = candidate
                except KeyError:
                    pass
        launch += ["--user", str(user)]
    elif tier == 3:
        launch += ["--ro-cgroup"]
    command = [sys.executable, str(Path(__file__).resolve()), "--tier-only", "--tests", str(args.tests),
               "--workers", str(args.workers), "--latency-tests", str(args.latency_tests)]
    if tier != 1:
        command = [*launch, "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["exit status " + str(done.returncode)])[-1][:300]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=600, help="tests per executor in the throughput run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--latency-tests", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    parser.add_argument("--baseline-rev", default=None, help="also measure the fork-server of this git revision")
    parser.add_argument("--latency-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--package-root", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--tiers", default="all", help="'all' (every tier this machine reaches; needs root) or '1'")
    parser.add_argument("--tier2-user", default=None, help="the user tier 2 runs as (default: builder-ci, sbxtest or nobody)")
    parser.add_argument("--tier-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.latency_only:
        print(json.dumps(latency("forkserver", workload(args.latency_tests))))
        return
    if args.tier_only:  # launched at another tier: the fork-server's throughput and latency there, as JSON
        print(json.dumps(tier_numbers(args.tests, args.workers, args.latency_tests)))
        return

    from builder.sandbox.forkserver import ForkServerSandbox

    with ForkServerSandbox(allow_unsandboxed=True) as probe:
        level = probe.level
    items = workload(args.tests)
    load_before = os.getloadavg()
    fork_tp = throughput("forkserver", items, args.workers)
    spawn_items = items[: max(60, args.tests // 4)]  # spawn is slow: a quarter of the tests gives a stable rate
    spawn_tp = throughput("spawn", spawn_items, args.workers)
    lat_items = workload(args.latency_tests)
    bare = bare_fork_exec(lat_items)
    fork_lat = latency("forkserver", lat_items)
    baseline = None
    if args.baseline_rev:
        baseline = baseline_latency(args.baseline_rev, args.latency_tests)
        again = latency("forkserver", lat_items)  # the current one again, after the baseline: less drift
        fork_lat = {k: (fork_lat[k] + again[k]) / 2 for k in fork_lat}
    tiers: dict[int, dict[str, object]] = {}
    if args.tiers == "all" and os.geteuid() == 0:
        # each tier in a subprocess of its own (tier 1 too, so all are measured alike), in the order 1 2 3 3 2 1: the
        # two runs of a tier are averaged, which cancels a load that drifts linearly during the run
        runs: dict[int, list[dict[str, object]]] = {}
        for tier in (1, 2, 3, 3, 2, 1):
            runs.setdefault(tier, []).append(other_tier(tier, args))
        for tier, pair in runs.items():
            tiers[tier] = _average(pair)
    load_after = os.getloadavg()

    ratio = fork_tp["tests_per_s"] / spawn_tp["tests_per_s"]
    overhead = fork_lat["ms_per_test"] / bare["ms_per_test"]
    print(f"sandbox benchmark: {len(CANDIDATES)} trivial candidates, {args.workers} workers, cpus={os.cpu_count()}")
    print(f"fork-server isolation level: {level}")
    print(f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f}")
    print(f"{'executor':<28}{'tests':>7}{'correct':>9}{'seconds':>9}{'tests/s':>10}")
    for name, r in (("fork-server (a)", fork_tp), ("spawn-per-test (b)", spawn_tp)):
        print(f"{name:<28}{r['tests']:>7}{r['correct']:>9}{r['seconds']:>9.2f}{r['tests_per_s']:>10.1f}")
    print(f"throughput ratio fork-server / spawn: {ratio:.1f}x (target >= 5)")
    print(f"{'latency, 1 worker':<28}{'tests':>7}{'correct':>9}{'seconds':>9}{'ms/test':>10}")
    for name, r in (("bare fork+exec(code)", bare), ("fork-server", fork_lat)):
        print(f"{name:<28}{r['tests']:>7}{r['correct']:>9}{r['seconds']:>9.2f}{r['ms_per_test']:>10.2f}")
    print(f"per-test cost of the fork-server vs bare fork+exec: {overhead:.1f}x (target <= 4)")
    if tiers:
        print(f"isolation tiers, same tests, each tier run twice (order 1 2 3 3 2 1) and averaged (fork-server; spawn-per-test "
              f"{spawn_tp['tests_per_s']:.1f} tests/s, bare fork+exec {bare['ms_per_test']:.2f} ms/test):")
        print(f"{'tier':<6}{'tests/s':>9}{'x spawn':>9}{'ms/test':>9}{'x bare':>8}{'correct':>9}  level")
        for tier, numbers in sorted(tiers.items()):
            if "error" in numbers:
                print(f"{tier:<6}  unavailable: {numbers['error']}")
                continue
            tp, lat = numbers["throughput"], numbers["latency"]
            print(f"{tier:<6}{tp['tests_per_s']:>9.1f}{tp['tests_per_s'] / spawn_tp['tests_per_s']:>9.1f}{lat['ms_per_test']:>9.2f}"
                  f"{lat['ms_per_test'] / bare['ms_per_test']:>8.1f}{tp['correct'] + lat['correct']:>6.0f}/{tp['tests'] + lat['tests']:<4.0f}"
                  f"{numbers['level']}")
    if baseline is not None:
        print(f"{'fork-server @ ' + args.baseline_rev[:10]:<28}{baseline['tests']:>7.0f}{baseline['correct']:>9.0f}"
              f"{baseline['seconds']:>9.2f}{baseline['ms_per_test']:>10.2f}")
        print(f"cost of the changes since {args.baseline_rev[:10]}: {fork_lat['ms_per_test'] / baseline['ms_per_test']:.2f}x per test")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "level": level,
                    "workers": args.workers,
                    "load_before": load_before,
                    "load_after": load_after,
                    "forkserver": fork_tp,
                    "spawn": spawn_tp,
                    "ratio": ratio,
                    "bare_fork_exec": bare,
                    "forkserver_latency": fork_lat,
                    "overhead_vs_bare": overhead,
                    "baseline": {"rev": args.baseline_rev, **baseline} if baseline else None,
                    "tiers": {str(k): v for k, v in tiers.items()},
                },
                indent=2,
            )
        )
    wrong = (fork_tp["tests"] - fork_tp["correct"]) + (spawn_tp["tests"] - spawn_tp["correct"])
    for numbers in tiers.values():
        if "error" not in numbers:
            wrong += sum(numbers[k]["tests"] - numbers[k]["correct"] for k in ("throughput", "latency"))
    if wrong:
        print(f"ERROR: {wrong} wrong outputs", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
