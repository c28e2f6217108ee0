"""Judging one candidate: every test of its problem run in a sandbox, each run turned into a verdict, the first failing
test deciding the candidate's.

:func:`judge_candidate` is what an execution worker (:mod:`builder.judge.pool`) does for each candidate; the caller,
not the sandbox, holds the expected outputs: a program only ever receives its code and its stdin. A C or C++
candidate is compiled once, in the sandbox, then its binary runs every test (:mod:`builder.judge.compiled`); a
problem with an ``interactor`` runs each test as a conversation (:mod:`builder.judge.interactive`); a checker may be
Python, C or C++, testlib- or Kattis-style.
"""

from __future__ import annotations

from typing import Any


from builder.core import languages as L
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
            test["output"], run.result, tol if tol is not None else 1e-6, problem.get("functional_match"),
            problem.get("tolerance_kind"),
        )
    if run.mode == "unittest":
        return lambda _stdout: run.outcome == "pass" and run.finished
    if problem.get("checker"):
        if L.normalize(problem.get("checker_language")) == L.PYTHON and (problem.get("checker_protocol") or "testlib") == "testlib":
            return lambda actual: checker_accepts(sandbox, problem["checker"], test["input"], test["output"], actual, limits)
        from builder.judge.compiled import judge_program_accepts

        headers = judge_headers(problem)
        return lambda actual: judge_program_accepts(
            sandbox, problem["checker"], problem.get("checker_language"), problem.get("checker_protocol"), test["input"],
            test["output"], bytes(actual), limits, headers,
        )
    insensitive, kind = bool(problem.get("case_insensitive")), problem.get("tolerance_kind")
    return lambda actual: tokens_match(test["output"], actual, tol, insensitive, kind)


def judge_headers(problem: dict[str, Any]) -> dict[str, str]:
    """The files a problem's checker or interactor includes (``judge_files``: name and content), by name."""
    return {f["name"]: f["content"] for f in problem.get("judge_files") or [] if f and f.get("name")}


def _actual_head(run: RunResult) -> str:
    """What the program produced, for the first failing test: the call's result, the test's failure, or stdout."""
    if run.mode == "call":
        return (run.result or "")[:HEAD]
    if run.mode == "unittest":
        return (run.failure or run.outcome or "")[:HEAD]
    return run.stdout[:HEAD].decode("utf-8", errors="replace")


def judge_candidate(
    solution: str | None, problem: dict[str, Any], sandbox: Sandbox, config: ExecutionSettings, language: str | None = None
) -> dict[str, Any]:
    """Run one candidate (written in ``language``, Python by default) against every test of its problem and return the
    verdict columns."""
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
    language = L.normalize(language)
    binary = None
    if L.is_compiled(language):
        if (problem.get("test_type") or "stdin") != "stdin":
            raise ValueError(f"problem {problem.get('problem_id')}: {language} candidates are judged on stdin tests only")
        from builder.judge.compiled import compile_source

        compiled = compile_source(sandbox, language, solution, retries=config.retries)
        result.update(max_cpu_s=compiled.cpu_s, max_wall_s=compiled.wall_s, peak_memory_mb=compiled.peak_memory_mb)
        if compiled.binary is None:  # the compile stage: syntax_error (or the executor's failure), no test runs
            verdicts = [compiled.verdict] + [SKIPPED] * (len(tests) - 1) if tests else []
            result.update(
                verdict=compiled.verdict, test_verdicts=verdicts, first_failed_test=0 if tests else -1,
                failed_expected_head=tests[0]["output"][:HEAD] if tests else None, failed_actual_head="",
                failed_stderr_tail=compiled.diagnostics[-STDERR_TAIL:], exception="CompileError" if compiled.verdict == T.SYNTAX_ERROR else None,
            )
            return result
        binary = compiled.binary
    try:
        return _judge_tests(solution, binary, problem, sandbox, config, limits, result)
    finally:
        if binary is not None:
            binary.close()


def _judge_tests(solution: str, binary: Any, problem: dict[str, Any], sandbox: Sandbox, config: ExecutionSettings,
                 limits: Limits, result: dict[str, Any]) -> dict[str, Any]:
    """Every test in order (a Python program, a compiled binary, or either one talking to an interactor)."""
    tests = problem["tests"]
    interactor = _interactor(problem, sandbox) if problem.get("interactor") else None
    verdicts: list[str] = []
    stop = False
    for i, test in enumerate(tests):
        if stop:
            verdicts.append(SKIPPED)
            continue
        program = program_for_test(solution, problem, test)
        run = RunResult(status="sandbox_error")
        actual_head: str | None = None
        for _attempt in range(1 + config.retries):
            if interactor is not None:
                verdict, run, actual_head = _interactive_test(interactor, solution, binary, problem, test, sandbox, limits)
            elif binary is not None:
                from builder.judge.compiled import run_binary

                run = run_binary(sandbox, binary, program.stdin.encode("utf-8", errors="surrogateescape"), limits)
                verdict = run_verdict(run, program.stdin, test["output"], output_checker(problem, test, run, sandbox, limits))
            else:
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
                failed_actual_head=_actual_head(run) if actual_head is None else actual_head[:HEAD],
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


def _interactor(problem: dict[str, Any], sandbox: Sandbox) -> Any:
    """The problem's interactor, ready to run: Python code, or its binary (compiled once per problem and worker)."""
    from builder.judge.compiled import JUDGE_BINARIES
    from builder.judge.interactive import Side

    language = L.normalize(problem.get("interactor_language"))
    if not L.is_compiled(language):
        return Side(code=problem["interactor"])
    compiled = JUDGE_BINARIES.get(sandbox, language, problem["interactor"], judge_headers(problem))
    if compiled.binary is None:
        return RunResult(status="sandbox_error", error=f"the interactor does not compile: {compiled.diagnostics[-800:]}")
    return Side(binary=compiled.binary)


def _interactive_test(interactor: Any, solution: str, binary: Any, problem: dict[str, Any], test: dict[str, str],
                      sandbox: Sandbox, limits: Limits) -> tuple[str, RunResult, str]:
    """One test as a conversation: (verdict, the program's run, what the interactor said)."""
    from builder.judge.interactive import Side, interact

    if isinstance(interactor, RunResult):  # it did not compile: a judge error
        return T.SANDBOX_ERROR, interactor, ""
    if (problem.get("test_type") or "stdin") != "stdin":
        raise ValueError(f"problem {problem.get('problem_id')}: an interactive problem's tests are stdin conversations")
    program = Side(binary=binary) if binary is not None else Side(code=solution)
    talk = interact(sandbox, program, interactor, problem.get("interactor_protocol") or "testlib", test, limits)
    said = talk.interactor.stderr_tail.decode("utf-8", errors="replace").strip()
    head = f"interactor {talk.decision}" + (" first" if talk.interactor_first else "") + (f": {said}" if said else "")
    if talk.verdict == T.SANDBOX_ERROR and talk.program.status != "sandbox_error":
        talk.program.error = f"interactor failed ({talk.interactor.status}, exit {talk.interactor.exit_code}, signal {talk.interactor.signal}): {said or talk.interactor.error or ''}"
    return talk.verdict, talk.program, head
