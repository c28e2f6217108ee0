"""Reading and writing tables: JSONL / Parquet files, local dataset folders and Hub dataset ids.

Input rows are validated and normalized one by one; a malformed row (bad JSON, missing tests, wrong types, a
duplicate id) is quarantined with its reason instead of failing the whole load. Problems and candidates come out
as :class:`datasets.Dataset` objects with the features of :mod:`builder.core.schema`.

No single row can fail a whole load: every value a row keeps is checked against its feature before it is written
(strings must be encodable as UTF-8, so a lone surrogate such as JSON's ``"\ud800"`` or invalid UTF-8 bytes in a
Parquet string column quarantine the row, with the field and the position; integers must fit their column; lists
and structs must have the feature's shape), and limits must be plausible (finite, not negative, at most 3600 s and
1 TiB: a time limit in milliseconds or a memory limit in bytes is a reason, not a silent 40-minute test).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
from datasets import Dataset, Features, LargeList, List, Value

from builder.core.errors import UserError
from builder.core.schema import PROBLEM_DEFAULTS, PROBLEM_FEATURES, QUARANTINE_FEATURES

REASON = "_quarantine_reason"
RAW = "_raw_row"

#: Input candidate columns (besides these, rows may carry anything; other keys are dropped).
CANDIDATE_INPUT_FEATURES = Features(
    {
        "candidate_id": Value("string"),
        "problem_id": Value("string"),
        "candidate_index": Value("int32"),
        "model": Value("string"),
        "response": Value("string"),
        "solution": Value("string"),
        "finish_reason": Value("string"),
        "num_tokens": Value("int32"),
        "label": Value("string"),
    }
)


@dataclass
class Loaded:
    """Rows that loaded, and the quarantined ones with their reasons."""

    rows: Dataset
    quarantine: Dataset


def _is_hub_id(spec: str) -> bool:
    parts = spec.split("/")
    return len(parts) == 2 and all(parts) and not spec.startswith((".", "/")) and not Path(spec).suffix


def _iter_source(spec: str, split: str, used: frozenset[str] = frozenset()) -> Iterator[tuple[str, dict[str, Any] | None, str | None]]:
    """Yield (row id hint, row or None, parse error) for every input row.

    JSON lines are decoded with ``surrogateescape``, so invalid UTF-8 bytes become lone surrogates in the field that
    holds them and the row is quarantined by :func:`check_row`, naming that field. Table rows (Parquet, folders, Hub
    ids) are converted one batch at a time; a row holding invalid UTF-8 in a column in ``used`` comes with its error
    (field and byte position), and such bytes in a column nobody reads are dropped.
    """
    path = Path(spec)
    if path.is_file() and path.suffix in (".jsonl", ".json"):
        with path.open("rb") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                text = line.decode("utf-8", errors="surrogateescape")
                if lineno == 1:
                    text = text.removeprefix("\ufeff")
                try:
                    row = json.loads(text)
                except (ValueError, RecursionError) as exc:
                    yield f"line {lineno}", None, f"malformed JSON on line {lineno}: {printable(str(exc) or type(exc).__name__)}"
                    continue
                if not isinstance(row, dict):
                    yield f"line {lineno}", None, f"line {lineno} is not a JSON object"
                    continue
                yield f"line {lineno}", row, None
        return
    ds = _load_dataset(spec, split)
    if ds._indices is not None:
        ds = ds.flatten_indices()
    offset = 0
    for batch in ds.data.table.to_batches(max_chunksize=1024):
        try:
            rows = batch.to_pylist()
        except UnicodeDecodeError:
            for j in range(batch.num_rows):
                row, error = _table_row(batch, j, used)
                yield f"row {offset + j}", row, error
        else:
            for j, row in enumerate(rows):
                yield f"row {offset + j}", row, None
        offset += batch.num_rows


def _table_row(batch: pa.RecordBatch, j: int, used: frozenset[str]) -> tuple[dict[str, Any], str | None]:
    """Row ``j`` of a batch that failed to convert: the row (bad values shown escaped) and the first bad field."""
    row: dict[str, Any] = {}
    error = None
    for name, column in zip(batch.schema.names, batch.columns):
        scalar = column[j]
        try:
            row[name] = scalar.as_py()
        except UnicodeDecodeError:
            where, position, byte = _invalid_utf8(scalar, name) or (name, -1, 0)
            if name not in used:
                row[name] = None
                continue
            row[name] = f"<invalid UTF-8 at byte {position} of {where}>"
            if error is None:
                error = f"field {where}: invalid UTF-8 at byte {position} (0x{byte:02x})"
    return row, error


def _invalid_utf8(scalar: pa.Scalar, where: str) -> tuple[str, int, int] | None:
    """The path, byte offset and byte of the first invalid UTF-8 string inside a (nested) Arrow scalar."""
    if not scalar.is_valid:
        return None
    kind = scalar.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        data = scalar.as_buffer().to_pybytes()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return where, exc.start, data[exc.start]
        return None
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        for i in range(len(scalar)):
            found = _invalid_utf8(scalar[i], f"{where}[{i}]")
            if found:
                return found
        return None
    if pa.types.is_struct(kind):
        for field in kind:
            found = _invalid_utf8(scalar[field.name], f"{where}.{field.name}")
            if found:
                return found
    return None


def _load_dataset(spec: str, split: str) -> Dataset:
    path = Path(spec)
    try:
        if path.is_file():
            if path.suffix == ".parquet":
                return datasets.load_dataset("parquet", data_files=str(path), split="train")
            raise UserError(f"{spec}: unsupported file type {path.suffix!r} (use .jsonl, .json or .parquet)")
        if path.is_dir():
            if (path / "state.json").exists() or (path / "dataset_info.json").exists() and any(path.glob("*.arrow")):
                return datasets.load_from_disk(str(path))
            return datasets.load_dataset(str(path), split=split)
        if _is_hub_id(spec):
            return datasets.load_dataset(spec, split=split)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - any loader failure is a user-facing input problem here
        raise UserError(f"cannot load {spec}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    raise UserError(f"no such file or folder: {spec}")


_SOURCE_HASH = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def _stamp(spec: str) -> str:
    """Something that changes when the input (or this loader) changes, so cached Arrow files are never stale."""
    return f"{_SOURCE_HASH}|{_input_stamp(spec)}"


def _input_stamp(spec: str) -> str:
    path = Path(spec)
    if path.is_file():
        st = path.stat()
        return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    if path.is_dir():
        return ";".join(
            f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in sorted(path.rglob("*")) if p.is_file()
        )
    return spec


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
    check_row(PROBLEM_FEATURES, out)
    return out


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
    clean = {
        "candidate_id": candidate_id,
        "problem_id": problem_id,
        "candidate_index": _as_int(index, "candidate_index"),
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


def _rows_with_reasons(spec: str, split: str, kind: str, stamp: str) -> Iterator[dict[str, Any]]:
    """Generator for Dataset.from_generator: every input row, normalized or with its quarantine reason."""
    del stamp  # part of the cache key only
    normalize = normalize_problem if kind == "problems" else normalize_candidate
    empty = _empty_row(kind)
    id_key = "problem_id" if kind == "problems" else "candidate_id"
    used = frozenset(PROBLEM_FEATURES) | frozenset(PROBLEM_DEFAULTS) if kind == "problems" else frozenset(CANDIDATE_INPUT_FEATURES)
    seen: set[str] = set()
    per_problem: dict[str, int] = {}
    for hint, row, error in _iter_source(spec, split, used):
        if row is not None and error is None:
            try:
                clean = normalize(row)
            except ROW_ERRORS as exc:
                error = str(exc) or type(exc).__name__
            else:
                if clean[id_key] in seen:
                    error = f"duplicate {id_key} {clean[id_key]}"
                else:
                    seen.add(clean[id_key])
                    if kind == "candidates":
                        order = per_problem.get(clean["problem_id"], 0)
                        per_problem[clean["problem_id"]] = order + 1
                        if clean["candidate_index"] is None:
                            clean["candidate_index"] = order
                    yield {**clean, REASON: None, RAW: None}
                    continue
        row_id = _row_id(row, id_key) or hint
        yield {**empty, id_key: printable(row_id)[:1000], REASON: printable(f"{hint}: {error}"), RAW: _raw(row)}


def _row_id(row: Mapping[str, Any] | None, id_key: str) -> str | None:
    value = row.get(id_key) if isinstance(row, Mapping) else None
    if value is None or isinstance(value, (dict, list)):
        return None
    try:
        return str(value)
    except ValueError:  # an integer over 4,300 digits
        return None


def _raw(row: Mapping[str, Any] | None) -> str | None:
    """The quarantined row as JSON text (cut at 20,000 characters), always storable."""
    if row is None:
        return None
    try:
        text = json.dumps(row, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):  # a value json cannot write (an integer over 4,300 digits, deep nesting)
        try:
            text = repr(row)
        except (ValueError, RecursionError) as exc:
            text = f"<row not printable: {exc}>"
    return printable(text[:20000])


def _empty_row(kind: str) -> dict[str, Any]:
    features = PROBLEM_FEATURES if kind == "problems" else CANDIDATE_INPUT_FEATURES
    row: dict[str, Any] = {key: None for key in features}
    if kind == "problems":
        row.update(tests=[], case_insensitive=False)
    return row


def load_rows(spec: str, kind: str, split: str = "train", cache_dir: str | None = None) -> Loaded:
    """Load problems (``kind="problems"``) or candidates (``kind="candidates"``) from a file, folder or Hub id."""
    if kind not in ("problems", "candidates"):
        raise ValueError(kind)
    if not Path(spec).exists() and not _is_hub_id(spec):
        raise UserError(f"no such file or folder: {spec}")
    features = Features({**(PROBLEM_FEATURES if kind == "problems" else CANDIDATE_INPUT_FEATURES), REASON: Value("string"), RAW: Value("string")})
    try:
        table = Dataset.from_generator(
            _rows_with_reasons,
            features=features,
            gen_kwargs={"spec": spec, "split": split, "kind": kind, "stamp": _stamp(spec)},
            cache_dir=cache_dir,
        )
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - a UserError raised inside the generator arrives wrapped
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, UserError):
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, UserError):
            raise cause from None
        raise UserError(f"cannot read {kind} from {spec}: {type(exc).__name__}: {exc}") from None
    good = table.filter(lambda reason: reason is None, input_columns=[REASON]).remove_columns([REASON, RAW])
    bad = table.filter(lambda reason: reason is not None, input_columns=[REASON])
    id_key = "problem_id" if kind == "problems" else "candidate_id"
    quarantine = bad.map(
        lambda row: {"kind": kind, "row_id": row[id_key], "reason": row[REASON], "row": row[RAW]},
        remove_columns=bad.column_names,
        features=QUARANTINE_FEATURES,
    )
    return Loaded(rows=good, quarantine=quarantine)


def quarantine_rows(ds: Dataset, kind: str, reason: str, id_key: str) -> Dataset:
    """Quarantine records for every row of ``ds`` with one reason."""
    return ds.map(
        lambda row: {"kind": kind, "row_id": row[id_key], "reason": reason, "row": json.dumps(row, ensure_ascii=False, default=str)[:20000]},
        remove_columns=ds.column_names,
        features=QUARANTINE_FEATURES,
    )


def write_table(ds: Dataset, out: str | os.PathLike[str]) -> Path:
    """Write ``ds`` to ``.parquet`` or ``.jsonl`` (chosen by the extension)."""
    path = Path(out)
    if path.suffix not in (".parquet", ".jsonl"):
        raise UserError(f"{out}: the output must end in .parquet or .jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        ds.to_parquet(str(path))
    else:
        ds.to_json(str(path), lines=True, force_ascii=False)
    return path


def load_problems(spec: str, split: str = "train") -> tuple[Dataset, Dataset]:
    """Normalized problems and the quarantined rows (with reasons) from a file, folder or Hub id."""
    loaded = load_rows(spec, "problems", split)
    return loaded.rows, loaded.quarantine


def load_candidates(spec: str, split: str = "train") -> tuple[Dataset, Dataset]:
    """Candidate rows (candidate_id, problem_id, response and/or solution, ...) and the quarantined ones."""
    loaded = load_rows(spec, "candidates", split)
    return loaded.rows, loaded.quarantine


def load_table(spec: str, split: str = "train") -> Dataset:
    """Any table as it is (no normalization): .jsonl/.json/.parquet file, dataset folder or Hub id."""
    path = Path(spec)
    if path.is_file() and path.suffix in (".jsonl", ".json"):
        try:
            return datasets.load_dataset("json", data_files=str(path), split="train")
        except Exception as exc:  # noqa: BLE001
            raise UserError(f"cannot read {spec}: {type(exc).__name__}: {exc}") from None
    if not path.exists() and not _is_hub_id(spec):
        raise UserError(f"no such file or folder: {spec}")
    return _load_dataset(spec, split)
