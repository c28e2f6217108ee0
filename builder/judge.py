"""Judging: output comparison, checker programs, and per-test / per-candidate verdicts.

Comparison (DESIGN.md) works on the program's raw output bytes, as testlib-style judges do. Both outputs are split on
ASCII whitespace only (space, \t, \n, \r, \v, \f: so trailing spaces, blank lines, CRLF and a missing final newline
don't matter while a missing or extra token does; U+00A0 or U+3000 are not separators) and compared token by token as
bytes, the expected text encoded to UTF-8. Invalid UTF-8 in the output therefore never equals valid expected text
(no decoding with replacement characters). Where the expected token is a non-integer ASCII number (``[+-]``, digits
``0-9``, an optional decimal point and exponent; no underscores, ``inf``/``nan`` or non-ASCII digits, which all
compare as plain tokens), an ASCII number ``a`` is accepted when ``|a - b| <= tol * max(1, |b|)`` (default tol 1e-6).
A source may switch on case-insensitive yes/no tokens (ASCII case only).

Checkers use the testlib convention: the checker program runs (in the sandbox, like any candidate) as
``checker input.txt output.txt answer.txt`` with those three files in its working directory (the test input, the
candidate's output, the expected answer). Exit code 0 accepts, 1 or 2 (testlib WA / presentation error) reject;
anything else (a crash, testlib's FAIL = 3, a timeout) is a failure of the checker, hence ``sandbox_error``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from builder import taxonomy as T
from builder.sandbox import base
from builder.sandbox.base import Limits, RunResult, Sandbox

DEFAULT_TOLERANCE = 1e-6
#: ASCII numbers only (a bytes pattern's classes are ASCII); fullmatch on a whitespace-free token
_NUMBER = re.compile(rb"[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(rb"[+-]?[0-9]+")
_YES_NO = frozenset({b"yes", b"no"})
#: exceptions raised while compiling that mean "does not compile"
COMPILE_FAILURES = frozenset({"SyntaxError", "IndentationError", "TabError", "ValueError", "RecursionError", "OverflowError"})
SKIPPED = "skipped"


def expected_bytes(expected: str | bytes) -> bytes:
    """The expected answer as the bytes a correct program prints: UTF-8.

    Text that is not valid Unicode (a lone surrogate; the loaders quarantine such rows) is kept as its
    surrogate-pass bytes, which are invalid UTF-8 and so equal no valid output.
    """
    if isinstance(expected, bytes):
        return expected
    try:
        return expected.encode("utf-8")
    except UnicodeEncodeError:
        return expected.encode("utf-8", errors="surrogatepass")


def output_bytes(actual: str | bytes) -> bytes:
    """A program's output as raw bytes (text is taken as raw bytes decoded with ``surrogateescape``)."""
    if isinstance(actual, bytes):
        return actual
    return actual.encode("utf-8", errors="surrogateescape")


def _float_token_match(expected: bytes, actual: bytes, tol: float) -> bool:
    if _INTEGER.fullmatch(expected) or not _NUMBER.fullmatch(expected) or not _NUMBER.fullmatch(actual):
        return False
    b, a = float(expected.decode("ascii")), float(actual.decode("ascii"))
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    return abs(a - b) <= tol * max(1.0, abs(b))


def tokens_match(
    expected: str | bytes, actual: str | bytes, tol: float | None = None, case_insensitive: bool = False
) -> bool:
    """ASCII-whitespace token comparison of raw bytes, with float tolerance and optional case-insensitive yes/no.

    ``actual`` is the program's raw stdout (bytes); ``expected`` the answer text (encoded to UTF-8).
    """
    exp, act = expected_bytes(expected).split(), output_bytes(actual).split()  # bytes.split(): ASCII whitespace
    if exp == act:
        return True
    if len(exp) != len(act):
        return False
    tolerance = DEFAULT_TOLERANCE if tol is None else tol
    for e, a in zip(exp, act):
        if e == a:
            continue
        if case_insensitive and e.lower() in _YES_NO and a.lower() == e.lower():  # bytes.lower(): ASCII only
            continue
        if _float_token_match(e, a, tolerance):
            continue
        return False
    return True


def run_verdict(run: RunResult, stdin: str | bytes, expected: str, output_ok: Callable[[bytes], bool | None]) -> str:
    """The verdict of one test run, in the taxonomy's order.

    ``output_ok(actual)`` compares the program's output (its raw stdout bytes) with the expected answer (token
    comparison, functional comparison or a checker); it is only called when the program exited cleanly, and may
    return None when the comparison itself failed (a broken checker), which gives ``sandbox_error``.
    """
    if run.status == base.SANDBOX_ERROR:
        return T.SANDBOX_ERROR
    if run.exception_phase == "compile":
        return T.MEMORY if run.exception == "MemoryError" else T.SYNTAX_ERROR
    if run.status == base.TIMEOUT:
        return T.TIMEOUT
    if run.status == base.MEMORY or run.exception == "MemoryError":
        return T.MEMORY
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
    if run.mode == "stdin":
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
