"""The execution map: every candidate runs against its problem's tests in a sandbox, in parallel.

``execute_stage`` is a ``datasets.map(num_proc=workers)`` over candidates. Each worker process creates its own
sandbox (for the fork-server: one warm zygote per worker) on first use and keeps it for all its candidates. The
worker, not the sandbox, holds the expected outputs: a program only ever receives its code and its stdin.
"""

from __future__ import annotations

import atexit
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from datasets import Dataset, Features

from builder.core import taxonomy as T
from builder.judge.harness import program_for_test
from builder.judge.compare import tokens_match
from builder.judge.verdict import SKIPPED, candidate_verdict, checker_accepts, run_verdict
from builder.sandbox import Sandbox, make_sandbox
from builder.sandbox.base import Limits, RunResult
from builder.core.schema import CONTEXT_FEATURES, VERDICT_FEATURES

HEAD = 200
STDERR_TAIL = 1000


#: How a problem's own limits and the configured ``time_limit_s`` / ``memory_limit_mb`` combine (``ExecutionConfig.limits``,
#: the recipe's ``execution.limits``, ``builder verify --limits``):
#:
#: - ``own`` (default): each problem's own limits; the configured values only fill in for a problem that states none;
#: - ``cap``: each problem's own limits, capped at the configured values (which also fill in);
#: - ``flat``: the configured values for every problem, whatever it states.
LIMIT_MODES = ("own", "cap", "flat")
#: How one problem's time or memory limit was decided: its own value, capped, a configured value where the problem
#: stated none, or a flat value that replaced a different own value.
LIMIT_ORIGINS = ("own", "capped", "defaulted", "overridden")


@dataclass(frozen=True)
class ExecutionConfig:
    """How candidates are executed. ``limits`` says how the problem's own limits and the values here combine."""

    #: CPU seconds per test: for problems that state no time limit (mode ``own``), the cap (``cap``) or every
    #: problem's limit (``flat``)
    time_limit_s: float = 10.0
    #: memory per test in MB, the same way
    memory_limit_mb: int = 1024
    limits: str = "own"
    stop_on_timeout: bool = True
    sandbox: str = "auto"
    allow_unsandboxed: bool = False
    output_limit_mb: int = 32
    #: extra attempts for a test whose run failed in the executor (sandbox_error)
    retries: int = 2


def _stated(value: Any) -> float | None:
    """A problem's own limit, or None when it states none (missing, zero, negative or not a finite number)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _resolve(stated: float | None, configured: float, mode: str) -> tuple[float, str]:
    """The limit that applies, and its origin (one of :data:`LIMIT_ORIGINS`)."""
    if mode not in LIMIT_MODES:
        raise ValueError(f"unknown limits mode {mode!r} ({', '.join(LIMIT_MODES)})")
    if stated is None:
        return configured, "defaulted"
    if mode == "own":
        return stated, "own"
    if mode == "cap":
        return (configured, "capped") if stated > configured else (stated, "own")
    return configured, "own" if stated == configured else "overridden"


def limit_origins(problem: Mapping[str, Any], config: ExecutionConfig) -> tuple[str, str]:
    """How the problem's time and memory limits were decided (each one of :data:`LIMIT_ORIGINS`)."""
    _, time_origin = _resolve(_stated(problem.get("time_limit")), config.time_limit_s, config.limits)
    _, memory_origin = _resolve(_stated(problem.get("memory_limit")), config.memory_limit_mb, config.limits)
    return time_origin, memory_origin


def limits_for(problem: Mapping[str, Any], config: ExecutionConfig) -> Limits:
    """The limits one problem's tests run under: see :data:`LIMIT_MODES`."""
    cpu, _ = _resolve(_stated(problem.get("time_limit")), config.time_limit_s, config.limits)
    memory, _ = _resolve(_stated(problem.get("memory_limit")), config.memory_limit_mb, config.limits)
    return Limits(cpu_s=cpu, memory_mb=max(1, int(memory)), output_mb=config.output_limit_mb)


def limits_report(problems: Dataset | Iterable[Mapping[str, Any]], config: ExecutionConfig) -> dict[str, Any]:
    """The limits section of ``build.json`` and of the summaries: the mode, the configured values, and how many
    problems ran under their own time / memory limit, a capped one, a default (they stated none) or a flat value
    that replaced their own."""
    if isinstance(problems, Dataset):  # only the two columns (not the tests)
        problems = (
            {"time_limit": t, "memory_limit": m} for t, m in zip(problems["time_limit"], problems["memory_limit"])
        )
    counts = {"time": dict.fromkeys(LIMIT_ORIGINS, 0), "memory": dict.fromkeys(LIMIT_ORIGINS, 0)}
    total = 0
    for problem in problems:
        time_origin, memory_origin = limit_origins(problem, config)
        counts["time"][time_origin] += 1
        counts["memory"][memory_origin] += 1
        total += 1
    return {
        "mode": config.limits,
        "time_limit_s": config.time_limit_s,
        "memory_limit_mb": config.memory_limit_mb,
        "problems": total,
        **counts,
    }


def limits_line(report: Mapping[str, Any]) -> str:
    """One summary line, e.g. ``limits (own; 10 s / 1024 MB where a problem states none), 42 problems: time 40 own,
    0 capped, 2 defaulted; memory 0 own, 0 capped, 42 defaulted``."""
    values = f"{report['time_limit_s']:g} s / {report['memory_limit_mb']} MB"
    where = {"own": "where a problem states none", "cap": "at most, and where a problem states none", "flat": "for every problem"}
    shown = ("own", "overridden", "defaulted") if report["mode"] == "flat" else ("own", "capped", "defaulted")
    parts = [f"{kind} " + ", ".join(f"{report[kind].get(o, 0)} {o}" for o in shown) for kind in ("time", "memory")]
    return f"limits ({report['mode']}; {values} {where.get(report['mode'], '')}), {report['problems']} problems: " + "; ".join(parts)


# --- per-worker state ------------------------------------------------------------------------------

_STATE: dict[str, Any] = {}


def _worker_state(config: ExecutionConfig) -> dict[str, Any]:
    """This process's sandbox and problem index (reset in a forked child: never share a parent's zygote)."""
    if _STATE.get("pid") != os.getpid():
        _STATE.clear()
        _STATE["pid"] = os.getpid()
    if _STATE.get("config") != config:
        old = _STATE.pop("sandbox", None)
        if old is not None:
            old.close()
        sandbox = make_sandbox(config.sandbox, allow_unsandboxed=config.allow_unsandboxed)
        atexit.register(sandbox.close)
        _STATE.update(config=config, sandbox=sandbox)
    return _STATE


def _problem(problems: Dataset, problem_id: str) -> dict[str, Any] | None:
    key = ("index", problems._fingerprint)
    index = _STATE.get(key)
    if index is None:
        index = {pid: i for i, pid in enumerate(problems["problem_id"])}
        _STATE[key] = index
    cached = _STATE.get("last_problem")
    if cached is not None and cached["problem_id"] == problem_id:
        return cached
    if problem_id not in index:
        return None
    row = problems[index[problem_id]]
    _STATE["last_problem"] = row
    return row


# --- judging one candidate ---------------------------------------------------------------------------


def output_checker(problem: dict[str, Any], test: dict[str, str], run: RunResult, sandbox: Sandbox, limits: Limits):
    """How the output of ``run`` is compared: the call's result or the test's outcome (from the runner's records), a
    checker program, or the token comparison of stdout."""
    tol = problem.get("float_tolerance")
    if run.mode == "call":
        from builder.judge.compare import compare_functional

        return lambda _stdout: run.result is not None and compare_functional(
            test["output"], run.result, tol if tol is not None else 1e-6, problem.get("functional_match")
        )
    if run.mode == "unittest":
        return lambda _stdout: run.outcome == "pass" and run.finished
    if problem.get("checker"):
        return lambda actual: checker_accepts(sandbox, problem["checker"], test["input"], test["output"], actual, limits)
    insensitive = bool(problem.get("case_insensitive"))
    return lambda actual: tokens_match(test["output"], actual, tol, insensitive)


def _actual_head(run: RunResult) -> str:
    """What the program produced, for the first failing test: the call's result, the test's failure, or stdout."""
    if run.mode == "call":
        return (run.result or "")[:HEAD]
    if run.mode == "unittest":
        return (run.failure or run.outcome or "")[:HEAD]
    return run.stdout[:HEAD].decode("utf-8", errors="replace")


def judge_candidate(solution: str | None, problem: dict[str, Any], sandbox: Sandbox, config: ExecutionConfig) -> dict[str, Any]:
    """Run one candidate against every test of its problem and return the verdict columns."""
    tests = problem["tests"]
    result: dict[str, Any] = {
        "verdict": T.NO_CODE,
        "tests_passed": 0,
        "tests_total": len(tests),
        "test_pass_rate": 0.0,
        "test_verdicts": [],
        "first_failed_test": -1,
        "failed_expected_head": None,
        "failed_actual_head": None,
        "failed_stderr_tail": None,
        "exception": None,
        "max_cpu_s": 0.0,
        "max_wall_s": 0.0,
        "peak_memory_mb": 0.0,
    }
    if not solution or not solution.strip():
        return result
    limits = limits_for(problem, config)
    verdicts: list[str] = []
    stop = False
    for i, test in enumerate(tests):
        if stop:
            verdicts.append(SKIPPED)
            continue
        program = program_for_test(solution, problem, test)
        run = RunResult(status="sandbox_error")
        for _attempt in range(1 + config.retries):
            run = sandbox.run(
                program.code, program.stdin.encode("utf-8", errors="surrogateescape"), limits, mode=program.mode, spec=program.spec
            )
            verdict = run_verdict(run, program.stdin, test["output"], output_checker(problem, test, run, sandbox, limits))
            if verdict != T.SANDBOX_ERROR:
                break
        verdicts.append(verdict)
        result["max_cpu_s"] = max(result["max_cpu_s"], run.cpu_s)
        result["max_wall_s"] = max(result["max_wall_s"], run.wall_s)
        result["peak_memory_mb"] = max(result["peak_memory_mb"], run.peak_memory_mb)
        if verdict != T.PASSED and result["first_failed_test"] < 0:
            result.update(
                first_failed_test=i,
                failed_expected_head=test["output"][:HEAD],
                failed_actual_head=_actual_head(run),
                failed_stderr_tail=(run.error or run.stderr_tail.decode("utf-8", errors="replace"))[-STDERR_TAIL:],
                exception=run.exception,
            )
        if verdict == T.SYNTAX_ERROR or (config.stop_on_timeout and verdict in (T.TIMEOUT, T.MEMORY)):
            stop = True
    passed = sum(v == T.PASSED for v in verdicts)
    result.update(
        verdict=candidate_verdict(verdicts),
        tests_passed=passed,
        test_pass_rate=passed / len(tests) if tests else 0.0,
        test_verdicts=verdicts,
    )
    return result


def _execute_row(row: dict[str, Any], problems: Dataset, config_dict: dict[str, Any]) -> dict[str, Any]:
    config = ExecutionConfig(**config_dict)
    state = _worker_state(config)
    problem = _problem(problems, row["problem_id"])
    if problem is None:  # callers quarantine unknown problem ids first; this is a guard
        raise KeyError(f"unknown problem_id {row['problem_id']}")
    solution = row["solution"] if row.get("extraction") != T.NO_CODE else None
    out = judge_candidate(solution, problem, state["sandbox"], config)
    out["source"] = problem.get("source")
    out["difficulty"] = problem.get("difficulty")
    return out


def execute_stage(
    candidates: Dataset,
    problems: Dataset,
    config: ExecutionConfig,
    workers: int = 1,
    *,
    new_fingerprint: str | None = None,
    cache_file_name: str | None = None,
) -> Dataset:
    """Add the verdict columns to ``candidates`` (which must have ``solution`` and ``extraction``).

    Every candidate's ``problem_id`` must exist in ``problems``. Without a fingerprint the result is never taken from
    a cache (a cached verdict could come from an older executor).
    """
    drop = [c for c in (*VERDICT_FEATURES, *CONTEXT_FEATURES) if c in candidates.column_names]
    if drop:
        candidates = candidates.remove_columns(drop)
    features = Features({**candidates.features, **VERDICT_FEATURES, **CONTEXT_FEATURES})
    num_proc = max(1, min(workers, len(candidates)))
    return candidates.map(
        _execute_row,
        fn_kwargs={"problems": problems, "config_dict": asdict(config)},
        features=features,
        num_proc=num_proc if num_proc > 1 else None,
        desc="Executing candidates",
        load_from_cache_file=new_fingerprint is not None,
        new_fingerprint=new_fingerprint,
        cache_file_name=cache_file_name,
    )
