"""Judging one candidate: every test of its problem run in a sandbox, each run turned into a verdict, the first failing
test deciding the candidate's.

:func:`judge_candidate` is what an execution worker (:mod:`builder.judge.pool`) does for each candidate; the caller,
not the sandbox, holds the expected outputs: a program only ever receives its code and its stdin.
"""

from __future__ import annotations

from typing import Any


from builder.core import taxonomy as T
from builder.core.settings import ExecutionSettings
from builder.judge.compare import tokens_match
from builder.judge.harness import program_for_test
from builder.judge.limits import limits_for
from builder.judge.verdict import (
    SKIPPED,
    candidate_verdict,
    checker_accepts,
    run_verdict,
)
from builder.sandbox import Sandbox
from builder.sandbox.base import Limits, RunResult

HEAD = 200
STDERR_TAIL = 1000


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


def judge_candidate(solution: str | None, problem: dict[str, Any], sandbox: Sandbox, config: ExecutionSettings) -> dict[str, Any]:
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
