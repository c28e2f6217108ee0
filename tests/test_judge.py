"""Output comparison and the taxonomy's decision order, on measured run results."""

from __future__ import annotations

import pytest

from builder import taxonomy as T
from builder.judge import SKIPPED, candidate_verdict, run_verdict, tokens_match
from builder.sandbox import base
from builder.sandbox.base import RunResult


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        ("1 2 3\n", "1 2 3", True),
        ("1 2 3\n", "1  2\t3  \r\n\n", True),
        ("1\n2\n", "1 2", True),  # whitespace tokens: line structure does not matter
        ("1 2 3", "1 2", False),
        ("1 2", "1 2 3", False),
        ("", "", True),
        ("", "0", False),
        ("0.5", "0.5000001", True),
        ("0.5", "0.50001", False),
        ("1000000.0", "1000000.5", True),  # relative to max(1, |b|)
        ("1000000.0", "1000002.0", False),
        ("3", "3.0", False),  # integer expected: exact
        ("3.0", "3", True),
        ("1e-3", "0.001", True),
        ("nan", "nan", True),  # identical tokens
        ("0.1", "nan", False),
        ("YES", "yes", False),
    ],
)
def test_tokens_match(expected: str, actual: str, ok: bool) -> None:
    assert tokens_match(expected, actual) is ok


def test_tolerance_and_case_options() -> None:
    assert tokens_match("0.5", "0.51", tol=0.05)
    assert not tokens_match("0.5", "0.51", tol=1e-3)
    assert tokens_match("Yes\nNO", "YES no", case_insensitive=True)
    assert not tokens_match("Yes", "Yess", case_insensitive=True)
    assert not tokens_match("Alice", "alice", case_insensitive=True)  # only yes/no tokens


def _run(**kw: object) -> RunResult:
    defaults: dict[str, object] = {"status": base.EXITED, "exit_code": 0, "stdin_consumed": True, "stdout": b"42\n"}
    defaults.update(kw)
    return RunResult(**defaults)  # type: ignore[arg-type]


def _match(actual: str) -> bool:
    return tokens_match("42", actual)


@pytest.mark.parametrize(
    ("run", "stdin", "verdict"),
    [
        (_run(), "1\n", T.PASSED),
        (_run(stdin_consumed=False), "1\n", T.PASSED),  # not reading is fine when the answer is right
        (_run(exception_phase="compile", exception="SyntaxError", exit_code=1, stdout=b""), "1", T.SYNTAX_ERROR),
        (_run(exception_phase="compile", exception="IndentationError", exit_code=1), "1", T.SYNTAX_ERROR),
        (_run(status=base.TIMEOUT, stdin_consumed=False, stdout=b""), "1", T.TIMEOUT),
        (_run(status=base.MEMORY, exception="MemoryError", exit_code=1), "1", T.MEMORY),
        (_run(exit_code=1, exception="MemoryError"), "1", T.MEMORY),
        (_run(stdin_consumed=False, stdout=b"7"), "1\n", T.NO_STDIN),
        (_run(stdin_consumed=False, exit_code=1, exception="NameError", stdout=b""), "1\n", T.NO_STDIN),
        (_run(stdin_consumed=False, stdout=b"7"), "", T.WA),  # no input given: no_stdin cannot apply
        (_run(exit_code=1, exception="IndexError", stdout=b""), "1", T.LOGIC_ERROR),
        (_run(exit_code=1, exception="RecursionError", stdout=b""), "1", T.LOGIC_ERROR),
        (_run(exit_code=1, exception="ImportError", stdout=b""), "1", T.RUNTIME_ERROR),
        (_run(exit_code=3, stdout=b"42"), "1", T.RUNTIME_ERROR),  # right output, non-zero exit
        (_run(status=base.SIGNALED, signal=11, exit_code=None, stdout=b""), "1", T.RUNTIME_ERROR),
        (_run(status=base.OUTPUT_LIMIT, exit_code=1, exception="OSError"), "1", T.RUNTIME_ERROR),
        (_run(stdout=b"  \n"), "1", T.EMPTY_OUTPUT),
        (_run(stdout=b"41"), "1", T.WA),
        (_run(status=base.SANDBOX_ERROR, error="zygote died"), "1", T.SANDBOX_ERROR),
    ],
)
def test_run_verdict_order(run: RunResult, stdin: str, verdict: str) -> None:
    assert run_verdict(run, stdin, "42", _match) == verdict


def test_broken_checker_is_a_sandbox_error() -> None:
    assert run_verdict(_run(), "1", "42", lambda actual: None) == T.SANDBOX_ERROR


def test_candidate_verdict_is_first_failure() -> None:
    assert candidate_verdict([T.PASSED, T.PASSED]) == T.PASSED
    assert candidate_verdict([T.PASSED, T.WA, T.TIMEOUT]) == T.WA
    assert candidate_verdict([T.TIMEOUT, SKIPPED]) == T.TIMEOUT
    assert candidate_verdict([T.SANDBOX_ERROR, T.WA]) == T.SANDBOX_ERROR
    assert candidate_verdict([]) == T.PASSED


def test_taxonomy_order_is_the_design_order() -> None:
    assert T.REJECTION_TYPES == (
        "no_code", "syntax_error", "timeout", "memory", "no_stdin",
        "logic_error", "runtime_error", "empty_output", "wa",
    )
    assert set(T.DESCRIPTIONS) == set(T.VERDICTS)
