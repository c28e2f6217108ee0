"""Verdicts: one test run in the taxonomy's order, a candidate from its tests, and checker programs.

Checkers use the testlib convention: the checker program runs (in the sandbox, like any candidate) as
``checker input.txt output.txt answer.txt`` with those three files in its working directory (the test input, the
candidate's output, the expected answer). Exit code 0 accepts, 1 or 2 (testlib WA / presentation error) reject;
anything else (a crash, testlib's FAIL = 3, a timeout) is a failure of the checker, hence ``sandbox_error``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from builder.core import taxonomy as T
from builder.judge.compare import expected_bytes, output_bytes
from builder.sandbox import base
from builder.sandbox.base import Limits, RunResult, Sandbox

#: exceptions raised while compiling that mean "does not compile"
COMPILE_FAILURES = frozenset({"SyntaxError", "IndentationError", "TabError", "ValueError", "RecursionError", "OverflowError"})
SKIPPED = "skipped"


def stopped_verdict(run: RunResult) -> str | None:
    """What stopped a run before its output counts, in the taxonomy's order: its code does not compile
    (``syntax_error``; ``memory`` when compiling ran out of it), then ``timeout``, then ``memory``; None for neither."""
    if run.exception_phase == "compile":
        return T.MEMORY if run.exception == "MemoryError" else T.SYNTAX_ERROR
    if run.status == base.TIMEOUT:
        return T.TIMEOUT
    if run.status == base.MEMORY or run.exception == "MemoryError":
        return T.MEMORY
    return None


def run_verdict(run: RunResult, stdin: str | bytes, expected: str, output_ok: Callable[[bytes], bool | None]) -> str:
    """The verdict of one test run, in the taxonomy's order.

    ``output_ok(actual)`` compares the program's output (its raw stdout bytes) with the expected answer (token
    comparison, functional comparison or a checker); it is only called when the program exited cleanly, and may
    return None when the comparison itself failed (a broken checker), which gives ``sandbox_error``.
    """
    if run.status == base.SANDBOX_ERROR:
        return T.SANDBOX_ERROR
    stopped = stopped_verdict(run)
    if stopped is not None:
        return stopped
    clean = run.status == base.EXITED and run.exit_code == 0 and run.exception is None
    actual = run.stdout
    if clean:
        ok = output_ok(actual)
        if ok is None:
            return T.SANDBOX_ERROR
        if ok:
            return T.PASSED
    if len(stdin) > 0 and not run.stdin_consumed:
        return T.NO_STDIN
    if run.exception in T.LOGIC_EXCEPTIONS:
        return T.LOGIC_ERROR
    if not clean:
        return T.RUNTIME_ERROR
    if run.mode in ("stdin", "exec"):  # a script, or a compiled program
        produced = bool(actual.split())  # ASCII whitespace only
    else:  # call / unit-test mode: the runner's result or outcome record is the output
        produced = run.result is not None or run.outcome is not None
    if not produced and expected_bytes(expected).split():
        return T.EMPTY_OUTPUT
    return T.WA


def candidate_verdict(test_verdicts: Sequence[str]) -> str:
    """The candidate's verdict: `passed` when every test passed, else the first failing test's verdict.

    A ``sandbox_error`` on any test makes the whole candidate ``sandbox_error`` (it is never counted as a model
    failure), unless a real failure came first.
    """
    for verdict in test_verdicts:
        if verdict not in (T.PASSED, SKIPPED):
            return verdict
    return T.PASSED


def checker_accepts(
    sandbox: Sandbox, checker: str, test_input: str, expected: str, actual: str | bytes, limits: Limits
) -> bool | None:
    """Run a checker program on (input, output, answer); True / False, or None when the checker itself failed.

    ``output.txt`` holds the program's raw output bytes, exactly as it wrote them.
    """
    files = {
        "input.txt": test_input.encode("utf-8", errors="surrogateescape"),
        "output.txt": output_bytes(actual),
        "answer.txt": expected_bytes(expected),
    }
    run = sandbox.run(checker, b"", limits, argv=("input.txt", "output.txt", "answer.txt"), files=files)
    if run.status != base.EXITED or run.exception_phase == "compile":
        return None
    if run.exception not in (None, "AssertionError"):  # a bug in the checker is not the candidate's fault
        return None
    if run.exit_code == 0:
        return True
    if run.exit_code in (1, 2):
        return False
    return None
