"""Output comparison: a program's output against the expected answer, as judges compare them.

**Tokens** (stdin tests): the program's raw output bytes and the expected text (encoded to UTF-8) are split on ASCII
whitespace only (space, \t, \n, \r, \v, \f: trailing spaces, blank lines, CRLF and a missing final newline don't
matter while a missing or extra token does; U+00A0 or U+3000 are not separators) and compared token by token as bytes.
Invalid UTF-8 in the output therefore never equals valid expected text (nothing is decoded with replacement
characters). Where the expected token is a non-integer ASCII number (``[+-]``, digits ``0-9``, an optional decimal
point and exponent; underscores, ``inf``/``nan`` and non-ASCII digits compare as plain tokens), an ASCII number ``a``
is accepted within the problem's tolerance ``tol`` (default 1e-6) of the kind the problem states
(:data:`TOLERANCE_KINDS`): ``either`` (absolute or relative error, the default) ``|a - b| <= tol * max(1, |b|)``,
``absolute`` ``|a - b| <= tol``, ``relative`` ``|a - b| <= tol * |b|``. A source may switch on case-insensitive yes/no
tokens (ASCII case only).

**Values** (call-based tests): the called function's return value, as JSON, against the expected JSON value, with the
same float tolerance (and kind) inside lists and dicts (:func:`compare_functional`).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

#: builder.core.schema.TOLERANCE_KINDS, repeated so that the judge (every execution worker) does not import ``datasets``
#: (tests/test_stream_pool.py checks that they agree)
TOLERANCE_KINDS = ("either", "absolute", "relative")

DEFAULT_TOLERANCE = 1e-6
#: ASCII numbers only (a bytes pattern's classes are ASCII); fullmatch on a whitespace-free token
_NUMBER = re.compile(rb"[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(rb"[+-]?[0-9]+")
_YES_NO = frozenset({b"yes", b"no"})


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


def within_tolerance(expected: float, actual: float, tol: float, kind: str | None = None) -> bool:
    """Is ``actual`` within ``tol`` of ``expected`` (finite numbers), by the rule of ``kind``?

    ``either`` (or None): absolute or relative error at most ``tol``, ``|a - b| <= tol * max(1, |b|)``;
    ``absolute``: ``|a - b| <= tol``; ``relative``: ``|a - b| <= tol * |b|`` (so an expected 0 needs an exact 0).
    """
    error = abs(actual - expected)
    if kind is None or kind == "either":
        return error <= tol * max(1.0, abs(expected))
    if kind == "absolute":
        return error <= tol
    if kind == "relative":
        return error <= tol * abs(expected)
    raise ValueError(f"unknown tolerance kind {kind!r} ({', '.join(TOLERANCE_KINDS)})")


def _float_token_match(expected: bytes, actual: bytes, tol: float, kind: str | None = None) -> bool:
    if _INTEGER.fullmatch(expected) or not _NUMBER.fullmatch(expected) or not _NUMBER.fullmatch(actual):
        return False
    b, a = float(expected.decode("ascii")), float(actual.decode("ascii"))
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    return within_tolerance(b, a, tol, kind)


def tokens_match(
    expected: str | bytes,
    actual: str | bytes,
    tol: float | None = None,
    case_insensitive: bool = False,
    kind: str | None = None,
) -> bool:
    """ASCII-whitespace token comparison of raw bytes, with float tolerance and optional case-insensitive yes/no.

    ``actual`` is the program's raw stdout (bytes); ``expected`` the answer text (encoded to UTF-8); ``kind`` is the
    problem's ``tolerance_kind`` (:func:`within_tolerance`).
    """
    if kind is not None and kind not in TOLERANCE_KINDS:
        raise ValueError(f"unknown tolerance kind {kind!r} ({', '.join(TOLERANCE_KINDS)})")
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
        if _float_token_match(e, a, tolerance, kind):
            continue
        return False
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def values_match(expected: Any, actual: Any, tol: float, kind: str | None = None) -> bool:
    """Structural equality of JSON values; floats (anywhere inside lists/dicts) within ``tol`` by the rule of
    ``kind`` (:func:`within_tolerance`; default ``tol * max(1, |b|)``)."""
    if isinstance(expected, float) or isinstance(actual, float):
        if not (_is_number(expected) and _is_number(actual)):
            return expected == actual
        b, a = float(expected), float(actual)
        if math.isnan(b) or math.isnan(a):
            return math.isnan(b) and math.isnan(a)
        if math.isinf(b) or math.isinf(a):
            return a == b
        return within_tolerance(b, a, tol, kind)
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(
            values_match(e, a, tol, kind) for e, a in zip(expected, actual)
        )
    if isinstance(expected, dict):
        return isinstance(actual, dict) and expected.keys() == actual.keys() and all(
            values_match(expected[k], actual[k], tol, kind) for k in expected
        )
    return bool(expected == actual)


def compare_functional(
    expected: str, actual_stdout: str, tol: float, match: str | None = None, kind: str | None = None
) -> bool:
    """Does the program's result (the last non-empty line of stdout, as JSON) equal ``expected`` (JSON)?

    Floats are compared with tolerance ``tol`` by the rule of ``kind`` (:func:`within_tolerance`; default relative to
    ``max(1, |expected|)``), also inside lists and dicts; tuples arrive as lists. A result line that is not JSON never matches; an expected value that is not JSON is
    compared as text.

    ``match`` is the problem's ``functional_match`` (see :data:`builder.core.schema.FUNCTIONAL_MATCHES`): ``None`` or
    ``"exact"`` compares the value itself (LiveCodeBench); ``"exact_or_first"`` also accepts the first element of an
    expected non-empty list, as TACO's and APPS' ``testing_util.py`` do (``output == outputs[i]``, or
    ``output == outputs[i][0]`` when ``outputs[i]`` is a non-empty list): those upstreams store most expected
    return values wrapped in a one-element list, some not.
    """
    if match not in (None, "exact", "exact_or_first"):
        raise ValueError(f"unknown functional_match {match!r} (exact, exact_or_first)")
    lines = [line for line in actual_stdout.splitlines() if line.strip()]
    if not lines:
        return False
    try:
        actual = json.loads(lines[-1])
    except ValueError:
        return False
    try:
        wanted = json.loads(expected)
    except ValueError:
        return expected.strip() == lines[-1].strip()
    if values_match(wanted, actual, tol, kind):
        return True
    first = match == "exact_or_first" and isinstance(wanted, list) and len(wanted) > 0
    return first and values_match(wanted[0], actual, tol, kind)
