"""The verdict taxonomy: `passed`, the nine rejection types in their decision order, and `sandbox_error`.

The order of ``REJECTION_TYPES`` is the order in which they are checked (README, "Verdicts"): the first that
applies wins. ``sandbox_error`` is not a model failure and is reported apart.
"""

from __future__ import annotations

PASSED = "passed"
NO_CODE = "no_code"
SYNTAX_ERROR = "syntax_error"
TIMEOUT = "timeout"
MEMORY = "memory"
NO_STDIN = "no_stdin"
LOGIC_ERROR = "logic_error"
RUNTIME_ERROR = "runtime_error"
EMPTY_OUTPUT = "empty_output"
WA = "wa"
SANDBOX_ERROR = "sandbox_error"

#: Rejection types in the order they are decided.
REJECTION_TYPES: tuple[str, ...] = (
    NO_CODE,
    SYNTAX_ERROR,
    TIMEOUT,
    MEMORY,
    NO_STDIN,
    LOGIC_ERROR,
    RUNTIME_ERROR,
    EMPTY_OUTPUT,
    WA,
)

#: Every verdict a candidate can get.
VERDICTS: tuple[str, ...] = (PASSED, *REJECTION_TYPES, SANDBOX_ERROR)

DESCRIPTIONS: dict[str, str] = {
    PASSED: "passed every test",
    NO_CODE: "no code block could be extracted from the response",
    SYNTAX_ERROR: "the code does not compile (SyntaxError, IndentationError)",
    TIMEOUT: "over the time limit (CPU or wall)",
    MEMORY: "over the memory limit",
    NO_STDIN: "never read its standard input although the test gave it some",
    LOGIC_ERROR: "uncaught exception that is a real bug (IndexError, KeyError, ValueError, ...)",
    RUNTIME_ERROR: "other crash: other exception, non-zero exit, signal, output over the limit",
    EMPTY_OUTPUT: "exited cleanly, printed nothing, and something was expected",
    WA: "exited cleanly and printed a wrong answer",
    SANDBOX_ERROR: "the executor itself failed (not the program's fault); never a model failure",
}

#: Uncaught exception classes that count as a `logic_error`; any other exception is a `runtime_error`.
LOGIC_EXCEPTIONS: frozenset[str] = frozenset(
    {
        "IndexError",
        "KeyError",
        "ValueError",
        "TypeError",
        "ZeroDivisionError",
        "RecursionError",
        "AttributeError",
        "NameError",
        "UnboundLocalError",
        "AssertionError",
        "OverflowError",
        "StopIteration",
    }
)


def is_model_failure(verdict: str) -> bool:
    """True for the nine rejection types (not for `passed` nor `sandbox_error`)."""
    return verdict in REJECTION_TYPES
