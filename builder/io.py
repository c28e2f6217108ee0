"""Reading and writing tables: JSONL / Parquet files, local dataset folders and Hub dataset ids.

Input rows are validated and normalized one by one; a malformed row (bad JSON, missing tests, wrong types, a
duplicate id) is quarantined with its reason instead of failing the whole load. Problems and candidates come out
as :class:`datasets.Dataset` objects with the features of :mod:`builder.schema`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
from datasets import Dataset, Features, Value

from builder.errors import UserError
from builder.schema import PROBLEM_DEFAULTS, PROBLEM_FEATURES, QUARANTINE_FEATURES

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


def _iter_source(spec: str, split: str) -> Iterator[tuple[str, dict[str, Any] | None, str | None]]:
    """Yield (row id hint, row or None, parse error) for every input row."""
    path = Path(spec)
    if path.is_file() and path.suffix in (".jsonl", ".json"):
        with path.open("rb") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    yield f"line {lineno}", None, f"malformed JSON on line {lineno}: {exc}"
                    continue
                if not isinstance(row, dict):
                    yield f"line {lineno}", None, f"line {lineno} is not a JSON object"
                    continue
                yield f"line {lineno}", row, None
        return
    ds = _load_dataset(spec, split)
    for i, row in enumerate(ds):
        yield f"row {i}", row, None


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


def _as_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _as_float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TypeError("expected a number, got a boolean")
    return float(value)


def _as_int(value: Any) -> int | None:
    number = _as_float(value)
    return None if number is None else int(number)


def normalize_problem(row: Mapping[str, Any]) -> dict[str, Any]:
    """A normalized problem row; raises ValueError/TypeError with the reason when the row is malformed."""
    problem_id = _as_str(row.get("problem_id"))
    if not problem_id:
        raise ValueError("missing problem_id")
    tests = row.get("tests")
    if isinstance(tests, str):
        tests = json.loads(tests)
    if not isinstance(tests, list) or not tests:
        raise ValueError(f"problem {problem_id} has no tests")
    clean_tests = []
    for i, test in enumerate(tests):
        if not isinstance(test, Mapping) or not isinstance(test.get("input"), str) or not isinstance(test.get("output"), str):
            raise ValueError(f"problem {problem_id}: test {i} needs string 'input' and 'output'")
        clean_tests.append({"input": test["input"], "output": test["output"]})
    out: dict[str, Any] = {}
    for key, default in PROBLEM_DEFAULTS.items():
        value = row.get(key, default)
        out[key] = default if value is None and default is not None else value
    out.update(problem_id=problem_id, tests=clean_tests)
    out["time_limit"] = _as_float(out["time_limit"])
    out["memory_limit"] = _as_int(out["memory_limit"])
    out["float_tolerance"] = _as_float(out["float_tolerance"])
    out["case_insensitive"] = bool(out["case_insensitive"])
    for key in ("source", "difficulty", "title", "problem", "checker", "test_type", "fn_name", "starter_code", "license", "origin"):
        out[key] = _as_str(out[key])
    if out["test_type"] not in ("stdin", "functional", "pytest"):
        raise ValueError(f"problem {problem_id}: unknown test_type {out['test_type']!r}")
    return out


def normalize_candidate(row: Mapping[str, Any]) -> dict[str, Any]:
    """A normalized candidate input row; raises ValueError/TypeError with the reason when malformed."""
    candidate_id = _as_str(row.get("candidate_id"))
    problem_id = _as_str(row.get("problem_id"))
    if not candidate_id:
        raise ValueError("missing candidate_id")
    if not problem_id:
        raise ValueError(f"candidate {candidate_id} has no problem_id")
    response, solution = _as_str(row.get("response")), _as_str(row.get("solution"))
    if response is None and solution is None:
        raise ValueError(f"candidate {candidate_id} has neither 'response' nor 'solution'")
    index = row.get("candidate_index")
    if index is None:  # "{problem_id}_{index}" ids carry it; other ids are numbered in input order (see below)
        tail = candidate_id.rsplit("_", 1)[-1]
        index = int(tail) if candidate_id == f"{problem_id}_{tail}" and tail.isdigit() else None
    return {
        "candidate_id": candidate_id,
        "problem_id": problem_id,
        "candidate_index": _as_int(index),
        "model": _as_str(row.get("model")),
        "response": response,
        "solution": solution,
        "finish_reason": _as_str(row.get("finish_reason")),
        "num_tokens": _as_int(row.get("num_tokens")),
        "label": _as_str(row.get("label")),
    }


def _rows_with_reasons(spec: str, split: str, kind: str, stamp: str) -> Iterator[dict[str, Any]]:
    """Generator for Dataset.from_generator: every input row, normalized or with its quarantine reason."""
    del stamp  # part of the cache key only
    normalize = normalize_problem if kind == "problems" else normalize_candidate
    empty = _empty_row(kind)
    id_key = "problem_id" if kind == "problems" else "candidate_id"
    seen: set[str] = set()
    per_problem: dict[str, int] = {}
    for hint, row, error in _iter_source(spec, split):
        if row is not None and error is None:
            try:
                clean = normalize(row)
            except (ValueError, TypeError, json.JSONDecodeError) as exc:
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
        row_id = str(row.get(id_key)) if isinstance(row, dict) and row.get(id_key) is not None else hint
        raw = json.dumps(row, ensure_ascii=False, default=str)[:20000] if row is not None else None
        yield {**empty, id_key: row_id, REASON: f"{hint}: {error}", RAW: raw}


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
