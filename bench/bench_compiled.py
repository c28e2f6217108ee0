"""Compiled-language benchmark (``just bench``): C/C++ compile time, and per-test cost of a binary in the sandbox.

In one run, each number side by side with its baseline:

* **compile**: every C and C++ submission of the kattis fixture (``tests/fixtures/kattis/candidates_cpp.jsonl``, 19
  programs) compiled inside the fork-server sandbox (``builder.judge.compiled.compile_source``: the same flags, its own
  limits, a throwaway folder, seccomp, cgroup ...) against the same compiler command run bare in a temporary folder:
  seconds per candidate (median, max) and the ratio of the medians;
* **run**: a small C++ program (reads two numbers, prints their sum) compiled once, then ``--runs`` tests through the
  sandbox (``run_binary``: the zygote spawns the exec launcher, which locks down and ``execveat``s the sealed binary;
  kill and clean-up; output read back) against a bare ``fork`` + ``execve`` of the same binary with stdin/stdout on
  memfds (no isolation, no limits): milliseconds per test and their ratio (target <= 2); and, beside them, the same
  tests in a sandbox with the launcher disabled (a fork of the zygote's interpreter starts each binary);
* **interactive**: the kattis ``guess`` problem's accepted C++ submission against its real interactor (both compiled)
  through two sandboxes joined by pipes (``builder.judge.interactive.interact``) against the two binaries started
  bare with ``fork`` + ``execve``, joined by plain pipes: milliseconds per conversation and their ratio.

Every output is checked. Wall-clock numbers on a shared machine are noisy: run it on a quiet machine; the load
average is printed with the results (and CPU seconds of the whole process tree beside wall time where it matters).

    python bench/bench_compiled.py [--runs 300] [--conversations 30] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from builder.core import languages as L  # noqa: E402
from builder.judge.compiled import COMPILE_LIMITS, compile_command, compile_source, run_binary  # noqa: E402
from builder.sandbox.base import Limits  # noqa: E402

KATTIS = REPO / "tests" / "fixtures" / "kattis"
SUM_CPP = "#include <cstdio>\nint main() { long long a, b; if (scanf(\"%lld %lld\", &a, &b) != 2) return 1; printf(\"%lld\\n\", a + b); }\n"
LIMITS = Limits(cpu_s=2.0, memory_mb=256)


def _children_cpu() -> float:
    usage = os.times()
    return usage.children_user + usage.children_system


def compile_numbers(box) -> dict[str, object]:
    rows = [json.loads(line) for line in (KATTIS / "candidates_cpp.jsonl").open(encoding="utf-8")]
    sandboxed, bare, failures = [], [], []
    for row in rows:
        language = L.normalize(row["language"])
        started = time.perf_counter()
        compiled = compile_source(box, language, row["solution"])
        sandboxed.append(time.perf_counter() - started)
        if compiled.binary is None:
            failures.append(row["candidate_id"])
        else:
            compiled.binary.close()
        folder = tempfile.mkdtemp(prefix="bench-compile-")
        try:
            source = L.SPECS[language].source_name
            Path(folder, source).write_text(row["solution"], encoding="utf-8")
            started = time.perf_counter()
            done = subprocess.run(compile_command(language, source), cwd=folder, capture_output=True,
                                  timeout=COMPILE_LIMITS.wall, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
            bare.append(time.perf_counter() - started)
            if done.returncode != 0:
                failures.append(f"{row['candidate_id']} (bare)")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return {
        "candidates": len(rows),
        "failures": failures,
        "sandbox_s": {"median": statistics.median(sandboxed), "max": max(sandboxed), "total": sum(sandboxed)},
        "bare_s": {"median": statistics.median(bare), "max": max(bare), "total": sum(bare)},
        "ratio_median": statistics.median(sandboxed) / statistics.median(bare),
    }


def _memfd(data: bytes = b"") -> int:
    fd = os.memfd_create("bench")
    if data:
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
    return fd


def bare_runs(path: str, tests: list[tuple[bytes, bytes]]) -> dict[str, float]:
    """The floor: fork this process, ``execve`` the binary with stdin/stdout on memfds, wait; read the output back."""
    ok = 0
    cpu0 = _children_cpu()
    started = time.perf_counter()
    for stdin, expected in tests:
        fin, fout = _memfd(stdin), _memfd()
        pid = os.fork()
        if pid == 0:
            try:
                os.dup2(fin, 0)
                os.dup2(fout, 1)
                os.execve(path, [path], {})
            finally:
                os._exit(127)
        os.waitpid(pid, 0)
        ok += os.pread(fout, 1 << 16, 0).split() == expected.split()
        os.close(fin)
        os.close(fout)
    elapsed = time.perf_counter() - started
    return {"tests": len(tests), "correct": ok, "ms_per_test": 1000 * elapsed / len(tests),
            "cpu_ms_per_test": 1000 * (_children_cpu() - cpu0) / len(tests)}


def sandbox_runs(box, binary, tests: list[tuple[bytes, bytes]]) -> dict[str, float]:
    ok = 0
    cpu = 0.0
    started = time.perf_counter()
    for stdin, expected in tests:
        run = run_binary(box, binary, stdin, LIMITS)
        ok += run.stdout.split() == expected.split()
        cpu += run.cpu_s
    elapsed = time.perf_counter() - started
    return {"tests": len(tests), "correct": ok, "ms_per_test": 1000 * elapsed / len(tests), "program_cpu_ms_per_test": 1000 * cpu / len(tests)}


def run_numbers(box, runs: int, forked_box=None) -> dict[str, object]:
    compiled = compile_source(box, L.CPP, SUM_CPP)
    assert compiled.binary is not None, compiled.diagnostics
    folder = tempfile.mkdtemp(prefix="bench-binary-")
    path = os.path.join(folder, "solution")
    try:
        with open(f"/proc/self/fd/{compiled.binary.fd}", "rb") as fh:
            Path(path).write_bytes(fh.read())
        os.chmod(path, 0o755)
        tests = [(f"{i} {i * 7}\n".encode(), f"{i * 8}\n".encode()) for i in range(runs)]
        sandbox_runs(box, compiled.binary, tests[:10])  # warm both
        bare_runs(path, tests[:10])
        if forked_box is not None:
            sandbox_runs(forked_box, compiled.binary, tests[:10])
        first = sandbox_runs(box, compiled.binary, tests)
        bare = bare_runs(path, tests)
        forked = sandbox_runs(forked_box, compiled.binary, tests) if forked_box is not None else None
        second = sandbox_runs(box, compiled.binary, tests)  # again after the baseline: less drift
        sandboxed = {k: (first[k] + second[k]) / 2 for k in first}
        launched = run_binary(box, compiled.binary, tests[0][0], LIMITS).extra.get("launched")
    finally:
        compiled.binary.close()
        shutil.rmtree(folder, ignore_errors=True)
    out = {"sandbox": sandboxed, "bare": bare, "ratio": sandboxed["ms_per_test"] / bare["ms_per_test"], "launched": launched}
    if forked is not None:  # the same sandbox without the exec launcher: every test from a forked interpreter
        out.update(forked=forked, forked_ratio=forked["ms_per_test"] / bare["ms_per_test"])
    return out


def interactive_numbers(box, conversations: int) -> dict[str, object]:
    from kattis_judges import problems_with_judges

    from builder.judge.compiled import JUDGE_BINARIES
    from builder.judge.interactive import Side, interact

    guess = next(p for p in problems_with_judges(KATTIS) if p["problem_id"] == "kattis-guess")
    rows = {json.loads(line)["candidate_id"]: json.loads(line) for line in (KATTIS / "candidates_cpp.jsonl").open()}
    program = compile_source(box, L.CPP, rows["kattis-guess_accepted_guess"]["solution"])
    judge = JUDGE_BINARIES.get(box, L.CPP, guess["interactor"], {f["name"]: f["content"] for f in guess["judge_files"]})
    assert program.binary is not None and judge.binary is not None
    tests = [guess["tests"][i % len(guess["tests"])] for i in range(conversations)]
    folder = tempfile.mkdtemp(prefix="bench-interactive-")
    try:
        paths = {}
        for name, binary in (("program", program.binary), ("interactor", judge.binary)):
            with open(f"/proc/self/fd/{binary.fd}", "rb") as fh:
                Path(folder, name).write_bytes(fh.read())
            os.chmod(Path(folder, name), 0o755)
            paths[name] = str(Path(folder, name))
        interact(box, Side(binary=program.binary), Side(binary=judge.binary), "kattis", tests[0], LIMITS)  # warm
        started = time.perf_counter()
        verdicts = [interact(box, Side(binary=program.binary), Side(binary=judge.binary), "kattis", t, LIMITS).verdict for t in tests]
        sandboxed = 1000 * (time.perf_counter() - started) / len(tests)
        started = time.perf_counter()
        bare_ok = sum(_bare_conversation(paths, folder, t) for t in tests)
        bare = 1000 * (time.perf_counter() - started) / len(tests)
    finally:
        program.binary.close()
        shutil.rmtree(folder, ignore_errors=True)
    return {"conversations": len(tests), "passed": verdicts.count("passed"), "bare_accepted": bare_ok,
            "sandbox_ms": sandboxed, "bare_ms": bare, "ratio": sandboxed / bare}


def _bare_conversation(paths: dict[str, str], folder: str, test: dict[str, str]) -> bool:
    """The interactor and the program as two bare processes joined by two pipes (problemtools' runner, minus its
    limits): True when the interactor accepts (exit 42) and the program exits 0."""
    Path(folder, "in.txt").write_text(test["input"])
    Path(folder, "ans.txt").write_text(test["output"])
    to_program_r, to_program_w = os.pipe()
    to_judge_r, to_judge_w = os.pipe()
    judge = os.fork()
    if judge == 0:
        try:
            os.chdir(folder)
            os.dup2(to_judge_r, 0)
            os.dup2(to_program_w, 1)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.execve(paths["interactor"], [paths["interactor"], "in.txt", "ans.txt", "./"], {})
        finally:
            os._exit(127)
    program = os.fork()
    if program == 0:
        try:
            os.dup2(to_program_r, 0)
            os.dup2(to_judge_w, 1)
            os.execve(paths["program"], [paths["program"]], {})
        finally:
            os._exit(127)
    for fd in (to_program_r, to_program_w, to_judge_r, to_judge_w):
        os.close(fd)
    _, judge_status = os.waitpid(judge, 0)
    _, program_status = os.waitpid(program, 0)
    return os.waitstatus_to_exitcode(judge_status) == 42 and os.waitstatus_to_exitcode(program_status) == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300, help="tests of the binary, per executor")
    parser.add_argument("--conversations", type=int, default=30, help="interactive tests, per executor")
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    args = parser.parse_args()
    from builder.judge.compiled import toolchain_problem
    from builder.sandbox.forkserver import ForkServerSandbox

    problem = toolchain_problem(L.CPP)
    if problem:
        raise SystemExit(problem)
    box = ForkServerSandbox()
    forked_box = ForkServerSandbox(disable=["launcher"])
    try:
        load = os.getloadavg()
        out = {"level": box.level, "load_average": load, "compiler": " ".join(compile_command(L.CPP, "solution.cpp"))}
        out["compile"] = compile_numbers(box)
        out["run"] = run_numbers(box, args.runs, forked_box)
        out["interactive"] = interactive_numbers(box, args.conversations)
        out["load_average_after"] = os.getloadavg()
    finally:
        box.close()
        forked_box.close()
    c, r, i = out["compile"], out["run"], out["interactive"]
    print(f"sandbox {out['level']}; load average {load[0]:.1f} before, {out['load_average_after'][0]:.1f} after")
    print(f"compiler: {out['compiler']}")
    print(f"compile, {c['candidates']} kattis C/C++ candidates: sandbox median {c['sandbox_s']['median']:.2f} s (max "
          f"{c['sandbox_s']['max']:.2f}), bare median {c['bare_s']['median']:.2f} s (max {c['bare_s']['max']:.2f}): "
          f"ratio {c['ratio_median']:.2f}" + (f"; FAILED {c['failures']}" if c["failures"] else ""))
    print(f"run, {r['sandbox']['tests']:.0f} tests of one binary: sandbox {r['sandbox']['ms_per_test']:.2f} ms/test "
          f"({r['sandbox']['correct']:.0f} correct), bare fork+exec {r['bare']['ms_per_test']:.2f} ms/test "
          f"({r['bare']['correct']} correct): ratio {r['ratio']:.2f} (target <= 2)"
          + ("" if r["launched"] else " [the exec launcher was NOT used]"))
    if "forked" in r:
        print(f"run, the same tests without the exec launcher (a forked interpreter starts each binary): "
              f"{r['forked']['ms_per_test']:.2f} ms/test: ratio {r['forked_ratio']:.2f}")
    print(f"interactive, {i['conversations']} guess conversations: sandbox {i['sandbox_ms']:.1f} ms ({i['passed']} passed), "
          f"bare pipes {i['bare_ms']:.1f} ms ({i['bare_accepted']} accepted): ratio {i['ratio']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
