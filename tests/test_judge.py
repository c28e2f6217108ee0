"""Output comparison and the taxonomy's decision order, on measured run results."""

from __future__ import annotations

import pytest

from builder.core import taxonomy as T
from builder.judge.compare import tokens_match
from builder.judge.verdict import SKIPPED, candidate_verdict, run_verdict
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


# The classes of output a judge sees, on the program's raw stdout bytes. Expected outcomes are what a testlib-style
# default checker says (Codeforces' wcmp for tokens, its double comparison for non-integer expected numbers); where
# this judge deliberately differs, the comment says so.
OUTPUT_CLASSES: list[tuple[str, str, bytes, bool]] = [
    # line endings, trailing and leading whitespace, final newline
    ("crlf", "1 2\n3\n", b"1 2\r\n3\r\n", True),
    ("lone cr", "1\n2", b"1\r2", True),
    ("trailing spaces", "1 2\n", b"1 2   \n", True),
    ("leading blank lines", "1\n", b"\n\n  1", True),
    ("blank lines between", "1\n2\n", b"1\n\n\n2\n", True),
    ("no final newline", "1 2\n", b"1 2", True),
    ("tabs", "1 2", b"1\t2", True),
    ("vertical tab and form feed separate", "1 2 3", b"1\x0b2\x0c3", True),  # C isspace (testlib: only space/\t/\n/\r)
    ("missing token", "1 2", b"1", False),
    ("extra token", "1", b"1 1", False),
    ("tokens glued", "1 2", b"12", False),
    # empty output and whitespace-only output
    ("both empty", "", b"", True),
    ("whitespace only vs nothing", "", b" \r\n\t\n", True),
    ("something vs nothing", "0", b"", False),
    ("nothing vs something", "", b"0", False),
    # Unicode spaces are not separators (a token holds them)
    ("no-break space", "1 2", "1\u00a02".encode(), False),
    ("ideographic space", "1 2", "1\u30002".encode(), False),
    ("em space", "1 2", "1\u20032".encode(), False),
    ("next line U+0085", "1 2", "1\u00852".encode(), False),
    ("line separator U+2028", "1\n2", "1\u20282".encode(), False),
    ("ASCII file separator 0x1c", "1 2", b"1\x1c2", False),  # str.split() would split here
    ("no-break space vs itself", "a\u00a0b", "a\u00a0b".encode(), True),
    ("no-break space expected, space printed", "a\u00a0b", b"a b", False),
    # byte order mark, NUL bytes, control bytes
    ("utf-8 bom", "42", b"\xef\xbb\xbf42", False),
    ("trailing nul", "42", b"42\x00", False),
    ("leading nul", "42", b"\x0042", False),
    ("nul as separator", "4 2", b"4\x002", False),
    ("nul after newline", "42\n", b"42\n\x00", False),
    # invalid UTF-8 never equals valid text (no decoding with replacement characters)
    ("invalid byte vs U+FFFD", "\ufffd", b"\xff", False),
    ("invalid byte inside a token vs U+FFFD", "a\ufffdb", b"a\x80b", False),
    ("truncated sequence vs U+FFFD", "\ufffd", b"\xe2\x82", False),
    ("surrogate bytes vs U+FFFD", "\ufffd", b"\xed\xa0\x80", False),
    ("overlong '/' vs '/'", "/", b"\xc0\xaf", False),
    ("latin-1 e-acute vs e-acute", "\u00e9", b"\xe9", False),
    ("real U+FFFD vs U+FFFD", "\ufffd", "\ufffd".encode(), True),
    ("utf-8 text vs itself", "\u00e9t\u00e9 \u4e2d\u6587", "\u00e9t\u00e9 \u4e2d\u6587".encode(), True),
    ("invalid byte vs a float", "0.5", b"0.5\xff", False),
    # non-ASCII digits and signs are plain tokens, never numbers
    ("arabic-indic digits", "0.5", "\u0660.\u0665".encode(), False),
    ("arabic decimal separator", "0.5", "0\u066b5".encode(), False),
    ("fullwidth digits", "0.5", "\uff10.\uff15".encode(), False),
    ("fullwidth integer", "5", "\uff15".encode(), False),
    ("devanagari digits", "12", "\u0967\u0968".encode(), False),
    ("superscript two", "2", "\u00b2".encode(), False),
    ("unicode minus sign", "-0.5", "\u22120.5".encode(), False),
    ("fullwidth full stop", "0.5", "0\uff0e5".encode(), False),
    ("arabic-indic expected, ascii printed", "\u0660.\u0665", b"0.5", False),
    ("arabic-indic vs itself", "\u0660.\u0665", "\u0660.\u0665".encode(), True),
    ("underscore digits", "1000.5", b"1_000.5", False),
    ("underscore in an integer", "1000", b"1_000", False),
    ("hex float", "0.5", b"0x1p-1", False),
    ("comma decimal", "0.5", b"0,5", False),
    # exponent forms, decimal points, signs
    ("exponent printed", "0.0000001", b"1e-7", True),
    ("exponent expected", "1e-7", b"0.0000001", True),
    ("upper-case exponent", "0.5", b"5E-1", True),
    ("exponent with plus", "1500.5", b"1.5005e+3", True),
    ("zero exponent", "0.5", b"0.5e0", True),
    ("dangling exponent", "0.5", b"0.5e", False),
    ("exponent only", "0.1", b"e-1", False),
    ("leading dot", "0.5", b".5", True),
    ("trailing dot", "5.0", b"5.", True),
    ("lone dot", "0.0", b".", False),
    ("leading plus, float", "0.5", b"+0.5", True),
    ("leading plus, integer", "5", b"+5", False),  # integers compare as words
    ("double sign", "0.5", b"--0.5", False),
    ("leading zeros, float", "0.5", b"000.5", True),
    ("leading zeros, integer", "5", b"05", False),
    ("integer expected, float printed", "3", b"3.0", False),
    ("float expected, integer printed", "3.0", b"3", True),
    ("integer-valued exponent expected", "1e5", b"100000", True),  # not an integer token: tolerance applies
    # negative zero
    ("-0 vs 0 (integers)", "0", b"-0", False),
    ("0 vs -0 (integers)", "-0", b"0", False),
    ("-0.0 vs 0.0", "0.0", b"-0.0", True),
    ("0.000 vs -0.000", "-0.000", b"0.000", True),
    ("-0.0 expected, 0 printed", "-0.0", b"0", True),
    # tolerance: |a - b| <= 1e-6 * max(1, |b|)
    ("absolute below 1", "0.5", b"0.5000009", True),
    ("absolute below 1, over", "0.5", b"0.500002", False),
    ("relative above 1", "123456.789", b"123456.9", True),
    ("relative above 1, over", "123456.789", b"123457.1", False),
    ("negative", "-2.5", b"-2.500001", True),
    ("sign flipped", "2.5", b"-2.5", False),
    # nan and infinity are plain tokens
    ("nan vs nan", "nan", b"nan", True),
    ("NaN vs nan", "NaN", b"nan", False),
    ("nan printed for a float", "0.5", b"nan", False),
    ("inf printed for a float", "0.5", b"inf", False),
    ("inf vs inf", "inf", b"inf", True),
    ("inf vs Infinity", "inf", b"Infinity", False),
    ("huge exponent for a float", "0.5", b"1e999", False),
    ("tiny exponent for zero", "0.0", b"1e-400", True),
    # very long numbers
    ("long integer, equal", "9" * 5000, b"9" * 5000, True),
    ("long integer, last digit off", "9" * 5000, b"9" * 4999 + b"8", False),
    ("long decimal expected", "0." + "3" * 5000, b"0.333333333", True),
    ("long decimal printed", "0.5", b"0.5" + b"0" * 100_000 + b"1", True),
    ("overflowing decimals, equal text", "1" * 400 + ".5", b"1" * 400 + b".5", True),
    ("overflowing decimals, different", "1" * 400 + ".5", b"1" * 400 + b".4", False),  # both parse to inf: never by tolerance
]


@pytest.mark.parametrize(("name", "expected", "actual", "ok"), OUTPUT_CLASSES, ids=[c[0] for c in OUTPUT_CLASSES])
def test_output_classes(name: str, expected: str, actual: bytes, ok: bool) -> None:
    assert tokens_match(expected, actual) is ok, name


YES_NO_CLASSES: list[tuple[str, bytes, bool]] = [
    ("YES", b"yes", True),
    ("Yes", b"yEs", True),
    ("NO", b"no", True),
    ("YES", "\uff59\uff45\uff53".encode(), False),  # fullwidth yes
    ("YES", "YE\u017f".encode(), False),  # long s: casefolds to 's' in Python, not an ASCII letter
    ("NO", "N\u03bf".encode(), False),  # Greek omicron
    ("YES", "\u0130ES".encode(), False),  # dotted capital I is not ASCII
    ("YES", b"YES\x00", False),
    ("Alice", b"alice", False),  # only yes/no tokens
]


@pytest.mark.parametrize(("expected", "actual", "ok"), YES_NO_CLASSES)
def test_case_insensitive_yes_no_is_ascii_only(expected: str, actual: bytes, ok: bool) -> None:
    assert tokens_match(expected, actual, case_insensitive=True) is ok
    assert tokens_match(expected, actual) is (actual == expected.encode())


def test_huge_outputs() -> None:
    expected = " ".join(str(i) for i in range(500_000))
    printed = "\n".join(str(i) for i in range(500_000)).encode()
    assert tokens_match(expected, printed)
    assert not tokens_match(expected, printed + b"\n0")
    assert not tokens_match(expected, printed[:-1] + b"8")
    floats = " ".join(f"{i / 7:.9f}" for i in range(200_000))
    assert tokens_match(floats, " ".join(f"{i / 7:.7f}" for i in range(200_000)).encode())
    assert not tokens_match(floats, " ".join(f"{i / 7:.4f}" for i in range(200_000)).encode())


def test_text_actual_is_taken_as_surrogate_escaped_bytes() -> None:
    assert tokens_match("\ufffd", "\ufffd")
    assert not tokens_match("\ufffd", b"\xff".decode("utf-8", errors="surrogateescape"))
    assert not tokens_match("\ufffd", "\udcff")


def _run(**kw: object) -> RunResult:
    defaults: dict[str, object] = {"status": base.EXITED, "exit_code": 0, "stdin_consumed": True, "stdout": b"42\n"}
    defaults.update(kw)
    return RunResult(**defaults)  # type: ignore[arg-type]


def _match(actual: bytes) -> bool:
    assert isinstance(actual, bytes)  # comparisons see the raw output
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


@pytest.mark.parametrize(
    ("stdout", "expected", "verdict"),
    [
        (b"", "42", T.EMPTY_OUTPUT),
        (b" \t\r\n\x0b\x0c", "42", T.EMPTY_OUTPUT),  # ASCII whitespace only
        ("\u00a0\n".encode(), "42", T.WA),  # a no-break space is output, not blank
        ("\u3000".encode(), "42", T.WA),
        (b"\x00", "42", T.WA),
        (b"\xef\xbb\xbf", "42", T.WA),  # a lone byte order mark
        (b"\xff", "\ufffd", T.WA),  # invalid UTF-8 never equals U+FFFD
        ("\ufffd".encode(), "\ufffd", T.PASSED),
        (b"", "\u3000", T.EMPTY_OUTPUT),  # an expected U+3000 is a token: something was expected
        (b"", " \n", T.PASSED),  # nothing but whitespace expected
        (b"\n", "", T.PASSED),
    ],
)
def test_run_verdict_on_raw_output(stdout: bytes, expected: str, verdict: str) -> None:
    seen: list[bytes] = []

    def ok(actual: bytes) -> bool:
        seen.append(actual)
        return tokens_match(expected, actual)

    assert run_verdict(_run(stdout=stdout), "1", expected, ok) == verdict
    assert seen == [stdout]  # the comparison got the raw bytes


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


class _RecordingSandbox:
    """Records what a checker run receives; the checker 'accepts' (exit 0)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def run(self, code: str, stdin: bytes, limits: object, argv: tuple[str, ...] = (), files: dict[str, bytes] | None = None) -> RunResult:
        self.files = dict(files or {})
        return RunResult(status=base.EXITED, exit_code=0)


def test_checker_receives_the_raw_output_bytes() -> None:
    from builder.judge.verdict import checker_accepts
    from builder.sandbox.base import Limits

    box = _RecordingSandbox()
    raw = b"\xef\xbb\xbf4\x002 \xff\xfe\r\n"
    assert checker_accepts(box, "checker", "1\n", "42 \u00e9\n", raw, Limits(cpu_s=1.0, memory_mb=64)) is True  # type: ignore[arg-type]
    assert box.files == {"input.txt": b"1\n", "output.txt": raw, "answer.txt": "42 \u00e9\n".encode()}


BINARY_CHECKER = """
import sys
out = open(sys.argv[2], "rb").read()
ans = open(sys.argv[3], "rb").read()
sys.exit(0 if out == b"\\xff\\xfe 42\\r\\n" and ans == "42 \\u00e9\\n".encode() else 1)
"""


@pytest.mark.parametrize("kind", ["spawn", "auto"])
def test_raw_bytes_through_a_sandbox(kind: str) -> None:
    """End to end: invalid UTF-8 output is `wa` against U+FFFD, and a checker reads the exact bytes printed."""
    from builder.core.settings import ExecutionSettings
    from builder.judge.execute import judge_candidate
    from builder.sandbox import make_sandbox

    def problem(output: str, **kw: object) -> dict[str, object]:
        return {"problem_id": "p", "tests": [{"input": "1\n", "output": output}], "time_limit": 2.0, "memory_limit": 256,
                "float_tolerance": None, "checker": None, "case_insensitive": False, "test_type": "stdin", **kw}

    with make_sandbox(kind) as box:
        invalid = "import sys\ninput()\nsys.stdout.buffer.write(b'\\xff\\n')"
        valid = "import sys\ninput()\nsys.stdout.buffer.write('\\ufffd\\n'.encode())"
        assert judge_candidate(invalid, problem("\ufffd\n"), box, ExecutionSettings())["verdict"] == T.WA
        assert judge_candidate(valid, problem("\ufffd\n"), box, ExecutionSettings())["verdict"] == T.PASSED
        digits = "input()\nprint('\\u0660.\\u0665')"
        assert judge_candidate(digits, problem("0.5\n"), box, ExecutionSettings())["verdict"] == T.WA
        raw = "import sys\ninput()\nsys.stdout.buffer.write(b'\\xff\\xfe 42\\r\\n')"
        checked = problem("42 \u00e9\n", checker=BINARY_CHECKER)
        assert judge_candidate(raw, checked, box, ExecutionSettings())["verdict"] == T.PASSED
        other = "import sys\ninput()\nsys.stdout.buffer.write(b'\\xef\\xbf\\xbd\\xfe 42\\r\\n')"
        assert judge_candidate(other, checked, box, ExecutionSettings())["verdict"] == T.WA
