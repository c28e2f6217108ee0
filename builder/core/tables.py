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

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
from datasets import Dataset, Features, Value

from builder.core.caching import code_hash, fingerprint, input_stamp, local_cache_dir
from builder.core.errors import UserError
from builder.core.rows import (
    CANDIDATE_INPUT_FEATURES,
    ROW_ERRORS,
    normalize_candidate,
    normalize_problem,
    printable,
)
from builder.core.schema import PROBLEM_DEFAULTS, PROBLEM_FEATURES, QUARANTINE_FEATURES

REASON = "_quarantine_reason"
RAW = "_raw_row"


@dataclass
class Loaded:
    """Rows that loaded, and the quarantined ones with their reasons."""

    rows: Dataset
    quarantine: Dataset


def is_hub_id(spec: str) -> bool:
    """``owner/name``, not a path: two non-empty parts, no file extension, nothing of that name here."""
    parts = spec.split("/")
    return (
        len(parts) == 2 and all(parts) and not spec.startswith((".", "/", "~")) and not Path(spec).suffix
        and not Path(spec).exists()
    )


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


#: file extension -> the packaged ``datasets`` builder that reads it
BUILDERS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".arrow": "arrow"}


def load_file(local: Path) -> Dataset:
    """One local data file as a Dataset (cached by the file's name, size and mtime)."""
    builder = BUILDERS.get(local.suffix)
    if builder is None or builder == "arrow":
        raise UserError(f"{local}: unsupported file type {local.suffix!r} (use .parquet, .jsonl or .json)")
    return datasets.load_dataset(builder, data_files=str(local), split="train", cache_dir=local_cache_dir(local))


def load_dataset_table(path: str, *, subset: str | None = None, split: str | None = "train") -> Dataset:
    """One split of a table with ``datasets``: one ``.parquet`` / ``.jsonl`` / ``.json`` file, a dataset saved with
    ``save_to_disk``, a local dataset folder (laid out like the Hub repository; a subset is a named config or a
    sub-folder of that name), or a Hub id. The one loader of tables a user names (problems, candidates, sources);
    for upstreams that ship a loading script see :mod:`builder.problems.sources.common`."""
    local = Path(path).expanduser()
    split = split or "train"
    try:
        if local.is_file():
            return load_file(local)
        if local.is_dir():
            if (local / "state.json").exists() or (local / "dataset_info.json").exists() and any(local.glob("*.arrow")):
                return datasets.load_from_disk(str(local))
            cache_dir = local_cache_dir(local)
            if subset and (local / subset).is_dir():
                return datasets.load_dataset(str(local), data_dir=subset, split=split, cache_dir=cache_dir)
            return datasets.load_dataset(str(local), subset, split=split, cache_dir=cache_dir)
        if is_hub_id(path):
            return datasets.load_dataset(path, subset, split=split)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - any loader failure is a user-facing input problem
        what = path + (f" (subset {subset})" if subset else "") + (f" split {split}" if split else "")
        raise UserError(f"cannot load {what}: {first_line(exc)}") from None
    raise UserError(f"no such file or folder: {path}")


def _iter_source(
    spec: str, split: str, used: frozenset[str] = frozenset()
) -> Iterator[tuple[str, dict[str, Any] | None, str | None, str | None]]:
    """Yield (row id hint, row or None, parse error, the raw text of a line that did not parse) for every input row.

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
                    yield f"line {lineno}", None, f"malformed JSON: {_json_error(exc)}", text.rstrip("\r\n")
                    continue
                if not isinstance(row, dict):
                    yield f"line {lineno}", None, f"not a JSON object but {_json_kind(row)}", text.rstrip("\r\n")
                    continue
                yield f"line {lineno}", row, None, None
        return
    ds = load_dataset_table(spec, split=split)
    if ds._indices is not None:
        ds = ds.flatten_indices()
    offset = 0
    for batch in ds.data.table.to_batches(max_chunksize=1024):
        try:
            rows = batch.to_pylist()
        except UnicodeDecodeError:
            for j in range(batch.num_rows):
                row, error = _table_row(batch, j, used)
                yield f"row {offset + j}", row, error, None
        else:
            for j, row in enumerate(rows):
                yield f"row {offset + j}", row, None, None
        offset += batch.num_rows


def _json_error(exc: BaseException) -> str:
    """What is wrong with one JSON line, placed by column (the decoder's "line 1" would contradict the file's line)."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return printable(str(exc) or type(exc).__name__)


def _json_kind(value: Any) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


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
        if is_hub_id(spec):
            return datasets.load_dataset(spec, split=split)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - any loader failure is a user-facing input problem here
        raise UserError(f"cannot load {spec}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    raise UserError(f"no such file or folder: {spec}")


def _rows_with_reasons(spec: str, split: str, kind: str, stamp: str) -> Iterator[dict[str, Any]]:
    """Generator for Dataset.from_generator: every input row, normalized or with its quarantine reason."""
    del stamp  # part of the cache key only
    normalize = normalize_problem if kind == "problems" else normalize_candidate
    empty = _empty_row(kind)
    id_key = "problem_id" if kind == "problems" else "candidate_id"
    used = frozenset(PROBLEM_FEATURES) | frozenset(PROBLEM_DEFAULTS) if kind == "problems" else frozenset(CANDIDATE_INPUT_FEATURES)
    seen: set[str] = set()
    per_problem: dict[str, int] = {}
    for hint, row, error, raw_text in _iter_source(spec, split, used):
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
        raw = _raw(row) if row is not None else _cut(printable(raw_text)) if raw_text is not None else None
        yield {**empty, id_key: printable(row_id)[:1000], REASON: printable(f"{hint}: {error}"), RAW: raw}


def _row_id(row: Mapping[str, Any] | None, id_key: str) -> str | None:
    value = row.get(id_key) if isinstance(row, Mapping) else None
    if value is None or isinstance(value, (dict, list)):
        return None
    try:
        return str(value)
    except ValueError:  # an integer over 4,300 digits
        return None


#: characters of a quarantined row's text kept in the quarantine file
RAW_LIMIT = 20_000


def _cut(text: str) -> str:
    """``text`` cut at :data:`RAW_LIMIT` characters, saying how much was left out."""
    if len(text) <= RAW_LIMIT:
        return text
    return text[:RAW_LIMIT] + f"... ({len(text) - RAW_LIMIT} more characters)"


def _raw(row: Mapping[str, Any] | None) -> str | None:
    """The quarantined row as JSON text (cut at :data:`RAW_LIMIT` characters), always storable."""
    if row is None:
        return None
    try:
        text = json.dumps(row, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):  # a value json cannot write (an integer over 4,300 digits, deep nesting)
        try:
            text = repr(row)
        except (ValueError, RecursionError) as exc:
            text = f"<row not printable: {exc}>"
    return _cut(printable(text))


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
    if not Path(spec).exists() and not is_hub_id(spec):
        raise UserError(f"no such file or folder: {spec}")
    features = Features({**(PROBLEM_FEATURES if kind == "problems" else CANDIDATE_INPUT_FEATURES), REASON: Value("string"), RAW: Value("string")})
    try:
        table = Dataset.from_generator(
            _rows_with_reasons,
            features=features,
            gen_kwargs={"spec": spec, "split": split, "kind": kind, "stamp": fingerprint("rows", input_stamp(spec), code_hash(__name__, "builder.core.rows", "builder.core.schema"))},
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
        lambda row: {"kind": kind, "row_id": row[id_key], "reason": reason, "row": _cut(json.dumps(row, ensure_ascii=False, default=str))},
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
    if not path.exists() and not is_hub_id(spec):
        raise UserError(f"no such file or folder: {spec}")
    return load_dataset_table(spec, split=split)
