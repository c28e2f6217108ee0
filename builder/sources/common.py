"""What every source adapter shares: loading an upstream table, the normalizing map, quarantine and counts.

An adapter is a function ``to_problem(row, index, ctx) -> dict`` that turns one upstream row into a problem dict
(any subset of :data:`builder.schema.PROBLEM_FEATURES`; the rest get their defaults). It raises :class:`Skip` for a
row that is valid but cannot be judged here (an interactive problem: counted as skipped) and ValueError / TypeError /
KeyError (or a decoding error) for a malformed row (quarantined with the message as its reason). Every problem is then
validated by :func:`builder.io.normalize_problem`, the same check a normalized problems file goes through.

The normalization is one ``Dataset.map`` over the upstream rows (Arrow on disk, cached by datasets' fingerprints),
followed by two ``filter``\\ s that split it into problems and quarantined rows.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import pickle
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
from datasets import Dataset, Features, Value

from builder.errors import UserError
from builder.io import normalize_problem
from builder.schema import PROBLEM_FEATURES, QUARANTINE_FEATURES

STATUS, REASON, RAW = "_source_status", "_source_reason", "_source_raw"
OK, SKIPPED, QUARANTINED = "ok", "skipped", "quarantined"
RAW_LIMIT = 20000

#: errors that mean "this upstream row is malformed"
ROW_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,
    EOFError,
    zlib.error,
    binascii.Error,
    pickle.UnpicklingError,
)


class Skip(Exception):
    """A valid row this builder cannot judge (interactive, file I/O): skipped and counted, not quarantined."""


@dataclass
class SourceResult:
    """One source's normalized problems, its quarantined rows (with reasons) and the counts."""

    kind: str
    path: str
    problems: Dataset
    quarantine: Dataset
    counts: dict[str, int] = field(default_factory=dict)
    license: str | None = None
    subset: str | None = None
    split: str | None = None

    def summary(self) -> str:
        parts = [f"{self.counts.get('problems', 0)} problems"]
        for key in ("quarantined", "skipped", "duplicates"):
            if self.counts.get(key):
                parts.append(f"{self.counts[key]} {key}")
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items()) if ":" in k)
        return f"{self.kind} {self.path}: " + ", ".join(parts) + (f" ({detail})" if detail else "")


@dataclass(frozen=True)
class Context:
    """What an adapter knows besides the row."""

    kind: str
    path: str
    subset: str | None
    split: str | None
    options: Mapping[str, Any] = field(default_factory=dict)
    #: upstream column holding a row's own id (names quarantined rows), if any
    id_column: str | None = None

    def row_id(self, index: int) -> str:
        """The id of a row without an id column: ``{kind}[/{subset}]/{split}/{index}``."""
        return "/".join(p for p in (self.kind, self.subset, self.split or "train", str(index)) if p)

    def origin(self, index: int, native_id: str | None = None) -> str:
        where = self.path + (f":{self.subset}" if self.subset else "") + (f"/{self.split}" if self.split else "")
        return f"{where}#{native_id if native_id is not None else index}"


# --- loading -------------------------------------------------------------------------------------------------


def is_hub_id(spec: str) -> bool:
    parts = spec.split("/")
    return len(parts) == 2 and all(parts) and not spec.startswith((".", "/", "~")) and not Path(spec).exists()


def local_cache_dir(local: Path) -> str:
    """A datasets cache folder keyed by the local files' names, sizes and mtimes.

    ``load_dataset`` on a local folder keys its Arrow cache on the folder's configs, not on its files' contents, so a
    file changed in place would otherwise be read back stale from the cache.
    """
    files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file() and ".git" not in p.parts)
    stamp = "\n".join(f"{p.relative_to(local) if p != local else p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    digest = hashlib.sha256(f"{local.resolve()}\n{stamp}".encode()).hexdigest()[:16]
    return str(Path(datasets.config.HF_DATASETS_CACHE) / "builder_sources" / digest)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def load_upstream(
    path: str,
    *,
    subset: str | None = None,
    split: str | None = "train",
    data_files: Any = None,
) -> Dataset:
    """One split of an upstream table with ``datasets.load_dataset``: a Hub id, a local dataset folder (laid out
    like the Hub repository), or one ``.parquet`` / ``.jsonl`` / ``.json`` file.

    In a local folder a subset is either a named config (README ``configs:``) or a sub-folder of that name.
    """
    local = Path(path).expanduser()
    split = split or "train"
    try:
        if local.is_file():
            builder = {".parquet": "parquet", ".jsonl": "json", ".json": "json"}.get(local.suffix)
            if builder is None:
                raise UserError(f"{path}: unsupported file type {local.suffix!r} (use .parquet, .jsonl or .json)")
            return datasets.load_dataset(builder, data_files=str(local), split="train", cache_dir=local_cache_dir(local))
        if local.is_dir():
            cache_dir = local_cache_dir(local)
            if data_files is not None:
                return datasets.load_dataset(str(local), data_files=data_files, split=split, cache_dir=cache_dir)
            if subset and (local / subset).is_dir():
                return datasets.load_dataset(str(local), data_dir=subset, split=split, cache_dir=cache_dir)
            return datasets.load_dataset(str(local), subset, split=split, cache_dir=cache_dir)
        if is_hub_id(path):
            if data_files is not None:
                return datasets.load_dataset(path, data_files=data_files, split=split)
            return datasets.load_dataset(path, subset, split=split)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - any loader failure is a user-facing input problem
        what = path + (f" (subset {subset})" if subset else "") + (f" split {split}" if split else "")
        raise UserError(f"cannot load {what}: {_first_line(exc)}") from None
    raise UserError(f"no such file or folder: {path}")


# --- small parsers adapters share ----------------------------------------------------------------------------


def as_json(value: Any, what: str) -> Any:
    """``value`` parsed when it is a JSON string, else as it is."""
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValueError(f"{what} is not valid JSON: {exc}") from None
    return value


def text(value: Any) -> str:
    """A text field: '' for None, the string itself otherwise (lists of lines are joined)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected text, got {type(value).__name__}")


def io_text(value: Any, what: str) -> str:
    """A stdin/stdout test value as text (upstreams sometimes store a list of lines)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return "\n".join(value) + ("\n" if value else "")
    raise TypeError(f"{what} must be a string, got {type(value).__name__}")


def json_args(args: Any) -> str:
    """Call arguments as the functional test input: one JSON value per line."""
    if not isinstance(args, (list, tuple)):
        args = [args]
    return "\n".join(json.dumps(a, ensure_ascii=False) for a in args)


def check_json_lines(value: str, what: str) -> str:
    """``value`` (functional test input: one JSON value per line), or ValueError when a line is not JSON."""
    for number, line in enumerate(value.split("\n"), 1):
        if line.strip():
            try:
                json.loads(line)
            except ValueError:
                raise ValueError(f"{what}: line {number} is not a JSON value") from None
    return value


def check_json(value: str, what: str) -> str:
    try:
        json.loads(value)
    except ValueError:
        raise ValueError(f"{what} is not a JSON value") from None
    return value


def dedupe_tests(tests: list[dict[str, str]]) -> list[dict[str, str]]:
    """Tests in order without exact repeats."""
    seen: set[tuple[str, str]] = set()
    out = []
    for test in tests:
        key = (test["input"], test["output"])
        if key not in seen:
            seen.add(key)
            out.append(test)
    return out


# --- the normalizing map -----------------------------------------------------------------------------------

_EMPTY = {key: None for key in PROBLEM_FEATURES}
_EMPTY.update(tests=[], case_insensitive=False)
_MAP_FEATURES = Features({**PROBLEM_FEATURES, STATUS: Value("string"), REASON: Value("string"), RAW: Value("string")})


def _raw(row: Mapping[str, Any]) -> str:
    return json.dumps(dict(row), ensure_ascii=False, default=str)[:RAW_LIMIT]


def _normalize_row(
    row: dict[str, Any], index: int, *, to_problem: Callable[..., dict[str, Any]], ctx: Context
) -> dict[str, Any]:
    try:
        problem = to_problem(row, index, ctx)
        clean = normalize_problem(problem)
    except Skip as exc:
        status, reason = SKIPPED, str(exc)
    except ROW_ERRORS as exc:
        status, reason = QUARANTINED, (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    else:
        return {**clean, STATUS: OK, REASON: None, RAW: None}
    native = row.get(ctx.id_column) if ctx.id_column else None
    row_id = str(native) if native not in (None, "") else ctx.row_id(index)
    return {**_EMPTY, "problem_id": row_id, STATUS: status, REASON: reason, RAW: _raw(row)}


def _fingerprint(ds: Dataset, to_problem: Callable[..., Any], ctx: Context) -> str:
    """The normalizing map's cache key: the input, the options and the code that normalizes.

    datasets hashes a module-level function by reference, so a fixed adapter would otherwise keep serving results
    cached by its previous version.
    """
    import inspect
    import sys

    from builder import harness, io

    code = [inspect.getsource(sys.modules[to_problem.__module__]), inspect.getsource(sys.modules[__name__])]
    code += [inspect.getsource(io), inspect.getsource(harness)]
    key = json.dumps([ds._fingerprint, repr(ctx), code], default=str)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def normalize_source(
    ds: Dataset,
    to_problem: Callable[..., dict[str, Any]],
    ctx: Context,
    *,
    limit: int | None = None,
    num_proc: int | None = None,
) -> tuple[Dataset, Dataset, dict[str, int]]:
    """Map every upstream row to a problem; split off the skipped and malformed rows. Returns
    (problems with PROBLEM_FEATURES, quarantine with QUARANTINE_FEATURES, counts)."""
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    mapped = ds.map(
        _normalize_row,
        with_indices=True,
        fn_kwargs={"to_problem": to_problem, "ctx": ctx},
        remove_columns=ds.column_names,
        features=_MAP_FEATURES,
        num_proc=num_proc if num_proc and num_proc > 1 and len(ds) > 1 else None,
        desc=f"Normalizing {ctx.kind}",
        new_fingerprint=_fingerprint(ds, to_problem, ctx),
    )
    problems = mapped.filter(lambda s: s == OK, input_columns=[STATUS], desc="Keeping problems")
    problems = problems.remove_columns([STATUS, REASON, RAW])
    rejected = mapped.filter(lambda s: s != OK, input_columns=[STATUS], desc="Collecting quarantine")

    counts: Counter[str] = Counter(rows=len(ds), problems=len(problems))
    for status, reason in zip(rejected[STATUS], rejected[REASON]):
        counts[status] += 1
        if status == SKIPPED:
            counts[f"skipped: {reason}"] += 1

    # duplicate ids within one source: the first wins, the others are quarantined
    first: dict[str, int] = {}
    duplicates: list[int] = []
    for i, pid in enumerate(problems["problem_id"]):
        if pid in first:
            duplicates.append(i)
        else:
            first[pid] = i
    quarantine = rejected.map(
        lambda row: {
            "kind": ctx.kind,
            "row_id": row["problem_id"],
            "reason": ("skipped: " if row[STATUS] == SKIPPED else "") + row[REASON],
            "row": row[RAW],
        },
        remove_columns=rejected.column_names,
        features=QUARANTINE_FEATURES,
        desc="Quarantine",
    )
    if duplicates:
        dropped = set(duplicates)
        dup_rows = problems.select(duplicates).map(
            lambda row: {
                "kind": ctx.kind,
                "row_id": row["problem_id"],
                "reason": f"duplicate problem_id {row['problem_id']}",
                "row": json.dumps({k: row[k] for k in ("problem_id", "title", "origin")}, ensure_ascii=False),
            },
            remove_columns=problems.column_names,
            features=QUARANTINE_FEATURES,
        )
        problems = problems.select([i for i in range(len(problems)) if i not in dropped])
        quarantine = datasets.concatenate_datasets([quarantine, dup_rows])
        counts["duplicates"] = len(duplicates)
        counts["quarantined"] += len(duplicates)
        counts["problems"] = len(problems)
    return problems, quarantine, dict(counts)
