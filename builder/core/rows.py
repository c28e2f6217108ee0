"""One input row at a time: checked against its schema and normalized, or refused with a reason.

No single row can fail a whole load: every value a row keeps is checked against its feature before it is written
(strings must be encodable as UTF-8, so a lone surrogate such as JSON's ``"\ud800"`` or invalid UTF-8 bytes in a
Parquet string column make a reason, with the field and the position; integers must fit their column; lists and
structs must have the feature's shape), and limits must be plausible (finite, not negative, at most 3600 s and 1 TiB:
a time limit in milliseconds or a memory limit in bytes is a reason, not a silent 40-minute test).
:mod:`builder.core.tables` quarantines a refused row with its reason.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from datasets import Features, LargeList, List, Value

from builder.core import languages as L
from builder.core.schema import JUDGE_PROTOCOLS, PROBLEM_DEFAULTS, PROBLEM_FEATURES, TOLERANCE_KINDS

#: Input candidate columns (besides these, rows may carry anything; other keys are dropped).
CANDIDATE_INPUT_FEATURES = Features(
    {
        "candidate_id": Value("string"),
        "problem_id": Value("string"),
        "candidate_index": Value("int32"),
        "language": Value("string"),
        "model": Value("string"),
        "response": Value("string"),
        "solution": Value("string"),
        "finish_reason": Value("string"),
        "num_tokens": Value("int32"),
        "label": Value("string"),
    }
)


def printable(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udXXX`` escapes, so it can always be stored as UTF-8."""
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


def _as_str(value: Any, name: str = "value") -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"{name} must be a string, got {type(value).__name__}")


def _as_float(value: Any, name: str = "value") -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{name} must be a number, got an integer of {int(value).bit_length()} bits") from None
    except ValueError:
        raise ValueError(f"{name} must be a number, got {printable(repr(value))[:80]}") from None


_ASCII_INT = re.compile(r"[+-]?[0-9]+")


def _as_int(value: Any, name: str = "value") -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _ASCII_INT.fullmatch(value.strip()):
        return int(value)
    number = _as_float(value, name)
    if number is None:
        return None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {number}")
    return int(number)


def _as_bool(value: Any, name: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{name} must be true or false, got {printable(repr(value))[:80]}")


#: plausible bounds of a problem's own limits (the recipe's and the CLI's bounds too); a value above is a unit mistake
MAX_TIME_LIMIT_S = 3600.0


MAX_MEMORY_LIMIT_MB = 1 << 20


def _check_limits(out: dict[str, Any]) -> None:
    time_limit, memory_limit, tol = out["time_limit"], out["memory_limit"], out["float_tolerance"]
    if time_limit is not None and not (math.isfinite(time_limit) and 0 <= time_limit <= MAX_TIME_LIMIT_S):
        raise ValueError(f"time_limit must be a number of seconds in [0, {MAX_TIME_LIMIT_S:g}] (milliseconds?), got {time_limit}")
    if memory_limit is not None and not 0 <= memory_limit <= MAX_MEMORY_LIMIT_MB:
        raise ValueError(f"memory_limit must be a number of MB in [0, {MAX_MEMORY_LIMIT_MB}] (bytes?), got {memory_limit}")
    if tol is not None and not (math.isfinite(tol) and tol >= 0):
        raise ValueError(f"float_tolerance must be a finite number >= 0, got {tol}")


_INT_RANGES = {f"int{bits}": (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) for bits in (8, 16, 32, 64)}
_INT_RANGES.update({f"uint{bits}": (0, (1 << bits) - 1) for bits in (8, 16, 32, 64)})


def check_row(features: Mapping[str, Any], row: Mapping[str, Any]) -> None:
    """Raise ValueError naming the field (and the position) of the first value that cannot be stored as ``features``.

    Strings must be encodable as UTF-8 (no lone surrogates), integers must fit their width, lists and structs must
    have the feature's shape. A row that passes is written by ``Dataset.from_generator`` without error.
    """
    for name, feature in features.items():
        _check_value(feature, row.get(name), name)


def _check_value(feature: Any, value: Any, where: str) -> None:
    if value is None:
        return
    if isinstance(feature, Value):
        dtype = feature.dtype
        if dtype in ("string", "large_string"):
            if not isinstance(value, str):
                raise TypeError(f"field {where} must be a string, got {type(value).__name__}")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                char = ord(value[exc.start])
                raise ValueError(
                    f"field {where}: lone surrogate U+{char:04X} at index {exc.start} cannot be encoded as UTF-8"
                    + (" (an invalid UTF-8 byte in the input)" if 0xDC80 <= char <= 0xDCFF else "")
                ) from None
        elif dtype in _INT_RANGES:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"field {where} must be an integer, got {type(value).__name__}")
            lo, hi = _INT_RANGES[dtype]
            if not lo <= value <= hi:
                shown = value if abs(value) < 10**30 else f"an integer of {value.bit_length()} bits"
                raise ValueError(f"field {where} must be an integer in [{lo}, {hi}], got {shown}")
        elif dtype.startswith("float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"field {where} must be a number, got {type(value).__name__}")
            if isinstance(value, int) and abs(value) > 2**1023:
                raise ValueError(f"field {where} is too large for a float")
        elif dtype == "bool":
            if not isinstance(value, bool):
                raise TypeError(f"field {where} must be true or false, got {type(value).__name__}")
        return
    if isinstance(feature, (List, LargeList)):
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"field {where} must be a list, got {type(value).__name__}")
        for i, item in enumerate(value):
            _check_value(feature.feature, item, f"{where}[{i}]")
        return
    if isinstance(feature, dict):
        if not isinstance(value, Mapping):
            raise TypeError(f"field {where} must be an object, got {type(value).__name__}")
        for key, sub in feature.items():
            _check_value(sub, value.get(key), f"{where}.{key}")


def normalize_problem(row: Mapping[str, Any]) -> dict[str, Any]:
    """A normalized problem row; raises ValueError/TypeError with the reason when the row is malformed."""
    problem_id = _as_str(row.get("problem_id"), "problem_id")
    if not problem_id:
        raise ValueError("missing problem_id")
    label = printable(problem_id)
    tests = row.get("tests")
    if isinstance(tests, str):
        try:
            tests = json.loads(tests)
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"problem {label}: tests is not valid JSON: {printable(str(exc) or type(exc).__name__)}") from None
    if tests is None or isinstance(tests, (list, tuple)) and len(tests) == 0:
        raise ValueError(f"problem {label} has no tests")
    if not isinstance(tests, (list, tuple)):
        raise ValueError(f"problem {label} has no tests (tests must be a list of {{input, output}}, got {type(tests).__name__})")
    clean_tests = []
    for i, test in enumerate(tests):
        if not isinstance(test, Mapping) or not isinstance(test.get("input"), str) or not isinstance(test.get("output"), str):
            raise ValueError(f"problem {label}: test {i} needs string 'input' and 'output'")
        clean_tests.append({"input": test["input"], "output": test["output"]})
    out: dict[str, Any] = {}
    for key, default in PROBLEM_DEFAULTS.items():
        value = row.get(key, default)
        out[key] = default if value is None and default is not None else value
    out.update(problem_id=problem_id, tests=clean_tests)
    out["time_limit"] = _as_float(out["time_limit"], "time_limit")
    out["memory_limit"] = _as_int(out["memory_limit"], "memory_limit")
    out["float_tolerance"] = _as_float(out["float_tolerance"], "float_tolerance")
    _check_limits(out)
    out["case_insensitive"] = _as_bool(out["case_insensitive"], "case_insensitive")
    for key in ("source", "difficulty", "title", "problem", "checker", "test_type", "fn_name", "starter_code", "license", "origin"):
        out[key] = _as_str(out[key], key)
    if out["test_type"] not in ("stdin", "functional", "pytest"):
        raise ValueError(f"problem {label}: unknown test_type {printable(repr(out['test_type']))[:80]}")
    if out["tolerance_kind"] is not None and out["tolerance_kind"] not in TOLERANCE_KINDS:
        raise ValueError(f"problem {label}: unknown tolerance_kind {printable(repr(out['tolerance_kind']))[:80]} ({', '.join(TOLERANCE_KINDS)})")
    _normalize_judges(out, label)
    check_row(PROBLEM_FEATURES, out)
    return out


def _normalize_judges(out: dict[str, Any], label: str) -> None:
    """A checker's and an interactor's language and protocol (null: python, testlib), and the files they include."""
    for role in ("checker", "interactor"):
        out[role] = _as_str(out[role], role)
        language = out[f"{role}_language"]
        try:
            out[f"{role}_language"] = None if language is None else L.normalize(language)
        except ValueError as exc:
            raise ValueError(f"problem {label}: {role}_language: {printable(str(exc))[:120]}") from None
        protocol = _as_str(out[f"{role}_protocol"], f"{role}_protocol")
        if protocol is not None and protocol not in JUDGE_PROTOCOLS:
            raise ValueError(f"problem {label}: unknown {role}_protocol {printable(repr(protocol))[:80]} ({', '.join(JUDGE_PROTOCOLS)})")
        out[f"{role}_protocol"] = protocol
    if out["interactor"] is not None and out["test_type"] != "stdin":
        raise ValueError(f"problem {label}: an interactor needs test_type stdin (each test is one conversation)")
    files = out["judge_files"]
    if files is not None:
        if not isinstance(files, (list, tuple)) or not all(isinstance(f, Mapping) for f in files):
            raise ValueError(f"problem {label}: judge_files must be a list of {{name, content}}")
        clean = []
        for f in files:
            name, content = _as_str(f.get("name"), "judge_files.name"), _as_str(f.get("content"), "judge_files.content")
            if not name or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,99}", name) or content is None:
                raise ValueError(f"problem {label}: judge_files needs plain file names and string contents, got {printable(repr(name))[:80]}")
            clean.append({"name": name, "content": content})
        out["judge_files"] = clean or None


def normalize_candidate(row: Mapping[str, Any]) -> dict[str, Any]:
    """A normalized candidate input row; raises ValueError/TypeError with the reason when malformed."""
    candidate_id = _as_str(row.get("candidate_id"), "candidate_id")
    problem_id = _as_str(row.get("problem_id"), "problem_id")
    if not candidate_id:
        raise ValueError("missing candidate_id")
    label = printable(candidate_id)
    if not problem_id:
        raise ValueError(f"candidate {label} has no problem_id")
    response, solution = _as_str(row.get("response"), "response"), _as_str(row.get("solution"), "solution")
    if response is None and solution is None:
        raise ValueError(f"candidate {label} has neither 'response' nor 'solution'")
    index = row.get("candidate_index")
    if index is None:  # "{problem_id}_{index}" ids carry it; other ids are numbered in input order (see below)
        tail = candidate_id.rsplit("_", 1)[-1]
        ascii_index = tail.isascii() and tail.isdigit() and len(tail) <= 9
        index = int(tail) if candidate_id == f"{problem_id}_{tail}" and ascii_index else None
    try:
        language = L.normalize(_as_str(row.get("language"), "language"))
    except ValueError as exc:
        raise ValueError(f"candidate {label}: {printable(str(exc))[:120]}") from None
    clean = {
        "candidate_id": candidate_id,
        "problem_id": problem_id,
        "candidate_index": _as_int(index, "candidate_index"),
        "language": language,
        "model": _as_str(row.get("model"), "model"),
        "response": response,
        "solution": solution,
        "finish_reason": _as_str(row.get("finish_reason"), "finish_reason"),
        "num_tokens": _as_int(row.get("num_tokens"), "num_tokens"),
        "label": _as_str(row.get("label"), "label"),
    }
    check_row(CANDIDATE_INPUT_FEATURES, clean)
    return clean


#: what a malformed row raises while it is normalized (never a reason to fail the whole load)
ROW_ERRORS = (ValueError, TypeError, OverflowError, RecursionError, KeyError)
