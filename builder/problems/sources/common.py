"""What every source adapter shares: loading an upstream table, the normalizing map, quarantine and counts.

An adapter is a function ``to_problem(row, index, ctx) -> dict`` that turns one upstream row into a problem dict
(any subset of :data:`builder.core.schema.PROBLEM_FEATURES`; the rest get their defaults). It raises :class:`Skip` for a
row that is valid but cannot be judged here (an interactive problem: counted as skipped) and ValueError / TypeError /
KeyError (or a decoding error) for a malformed row (quarantined with the message as its reason). Every problem is then
validated by :func:`builder.core.tables.normalize_problem`, the same check a normalized problems file goes through.

The normalization is one ``Dataset.map`` over the upstream rows (Arrow on disk, cached by datasets' fingerprints),
followed by two ``filter``\\ s that split it into problems and quarantined rows.
"""

from __future__ import annotations

import binascii
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

from builder.core.caching import code_hash, fingerprint, local_cache_dir
from builder.core.errors import UserError
from builder.core.schema import PROBLEM_FEATURES, QUARANTINE_FEATURES, SOLUTION_FEATURES
from builder.core.tables import (
    BUILDERS,
    first_line,
    is_hub_id,
    load_dataset_table,
    normalize_problem,
)

STATUS, REASON, RAW, SOLUTIONS = "_source_status", "_source_reason", "_source_raw", "_source_solutions"
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
    #: reference solutions (:data:`builder.core.schema.SOLUTION_FEATURES`), None when the upstream has none
    solutions: Dataset | None = None
    #: what the loader found out about the upstream's shape (for example which column holds the tests)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.counts.get('problems', 0)} problems"]
        for key in ("quarantined", "skipped", "duplicates"):
            if self.counts.get(key):
                parts.append(f"{self.counts[key]} {key}")
        if self.solutions is not None and len(self.solutions):
            parts.append(f"{len(self.solutions)} reference solutions")
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items()) if ":" in k)
        notes = "".join(f"; {note}" for note in self.notes)
        return f"{self.kind} {self.path}: " + ", ".join(parts) + (f" ({detail})" if detail else "") + notes


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
    #: whether row ids name the subset (not when the only subset is the whole table, as TACO's ``ALL``)
    subset_in_ids: bool = True

    def row_id(self, index: int) -> str:
        """The id of a row without an id column: ``{kind}[/{subset}]/{split}/{index}``."""
        subset = self.subset if self.subset_in_ids else None
        return "/".join(p for p in (self.kind, subset, self.split or "train", str(index)) if p)

    def origin(self, index: int, native_id: str | None = None) -> str:
        where = self.path + (f":{self.subset}" if self.subset else "") + (f"/{self.split}" if self.split else "")
        return f"{where}#{native_id if native_id is not None else index}"


# --- loading -------------------------------------------------------------------------------------------------


def load_upstream(path: str, *, subset: str | None = None, split: str | None = "train") -> Dataset:
    """One split of an upstream table (:func:`builder.core.tables.load_dataset_table`, the one table loader)."""
    return load_dataset_table(path, subset=subset, split=split)


# --- upstreams with a loading script: their data files, read directly -----------------------------------------


@dataclass(frozen=True)
class Repo:
    """A dataset repository's files: on the Hub (pinned to one commit) or a local copy laid out like it.

    ``datasets`` 5 refuses a repository, or a local folder, that holds a loading script ``<name>.py``, whatever
    ``data_files`` say; the files themselves load with a packaged builder (``parquet``, ``json``, ``arrow``) from
    local paths or ``hf://datasets/<repo>@<commit>/<file>`` paths alike (see :func:`load_files`).
    """

    path: str
    files: tuple[str, ...]
    #: the commit of a Hub repository; None for a local copy
    revision: str | None = None

    def glob(self, pattern: str) -> list[str]:
        """Files matching a glob pattern (``*`` does not cross ``/``), sorted."""
        import fnmatch

        depth = pattern.count("/")
        return sorted(f for f in self.files if f.count("/") == depth and fnmatch.fnmatchcase(f, pattern))

    def url(self, name: str) -> str:
        if self.revision is None:
            return str(Path(self.path).expanduser() / name)
        return f"hf://datasets/{self.path}@{self.revision}/{name}"


def open_repo(path: str) -> Repo:
    """The files of a local dataset folder or of a Hub dataset repository (one ``dataset_info`` call)."""
    local = Path(path).expanduser()
    if local.is_dir():
        names = sorted(
            p.relative_to(local).as_posix()
            for p in local.rglob("*")
            if p.is_file() and not {".git", ".cache", ".huggingface"} & set(p.relative_to(local).parts)
        )
        return Repo(path=path, files=tuple(names))
    if not is_hub_id(path):
        raise UserError(f"no such file or folder: {path}")
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        info = HfApi().dataset_info(path)
    except RepositoryNotFoundError:
        raise UserError(f"{path}: no such dataset repository on the Hub (or no access to it)") from None
    except Exception as exc:  # noqa: BLE001 - offline, unreachable, rate-limited: one line for the user
        raise UserError(f"cannot read {path} from the Hub: {first_line(exc)}") from None
    return Repo(path=path, files=tuple(sorted(s.rfilename for s in info.siblings or [])), revision=info.sha)


def load_files(repo: Repo, names: list[str]) -> Dataset:
    """``names`` (files of ``repo``, all of one format) as one Dataset, rows in file order."""
    builders = {BUILDERS.get(Path(name).suffix) for name in names}
    if not names or len(builders) != 1 or None in builders:
        raise UserError(f"{repo.path}: cannot read {', '.join(names) or 'no files'} as one table")
    builder = builders.pop()
    local = Path(repo.path).expanduser()
    cache_dir = local_cache_dir(local) if repo.revision is None else None
    try:
        return datasets.load_dataset(builder, data_files=[repo.url(n) for n in names], split="train", cache_dir=cache_dir)
    except Exception as exc:  # noqa: BLE001 - a broken or unreachable file is a user-facing input problem
        raise UserError(f"cannot load {repo.path} ({', '.join(names)}): {first_line(exc)}") from None


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
#: an adapter's ``solutions`` entries, carried through the map beside the problem until the side table is built
_SOLUTION = {"correct": Value("bool"), "index": Value("int32"), "language": Value("string"), "code": Value("string")}
_MAP_FEATURES = Features(
    {**PROBLEM_FEATURES, STATUS: Value("string"), REASON: Value("string"), RAW: Value("string"), SOLUTIONS: [_SOLUTION]}
)


def solution_rows(values: Any, *, language: str | None = "python", correct: bool = True) -> list[dict[str, Any]]:
    """An upstream's list of reference solutions (a list, or a JSON string of one) as ``solutions`` entries."""
    if values is None or (isinstance(values, str) and not values.strip()):
        return []
    values = as_json(values, "solutions")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError("solutions must be a list of strings")
    return [{"correct": correct, "index": i, "language": language, "code": code} for i, code in enumerate(values)]


def _raw(row: Mapping[str, Any]) -> str:
    return json.dumps(dict(row), ensure_ascii=False, default=str)[:RAW_LIMIT]


def _normalize_row(
    row: dict[str, Any], index: int, *, to_problem: Callable[..., dict[str, Any]], ctx: Context
) -> dict[str, Any]:
    try:
        problem = to_problem(row, index, ctx)
        solutions = problem.pop("solutions", None) or []
        clean = normalize_problem(problem)
    except Skip as exc:
        status, reason = SKIPPED, str(exc)
    except ROW_ERRORS as exc:
        status, reason = QUARANTINED, (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    else:
        keep = ctx.options.get("solutions", True) is not False
        return {**clean, STATUS: OK, REASON: None, RAW: None, SOLUTIONS: solutions if keep else []}
    native = row.get(ctx.id_column) if ctx.id_column else None
    row_id = str(native) if native not in (None, "") else ctx.row_id(index)
    return {**_EMPTY, "problem_id": row_id, STATUS: status, REASON: reason, RAW: _raw(row), SOLUTIONS: []}


def _fingerprint(ds: Dataset, ctx: Context) -> str:
    """The normalizing map's cache key (:mod:`builder.core.caching`): the input, the options and the code that
    normalizes (every adapter module, the schema, the row checks and the harness): datasets hashes a module-level
    function by reference, so a fixed adapter would otherwise keep serving results cached by its previous version."""
    here = Path(__file__).resolve().parent
    code = code_hash(*sorted(here.glob("*.py")), "builder.core.schema", "builder.core.rows", "builder.judge.harness")
    return fingerprint("normalize", ds, repr(ctx), code)


def _flatten_solutions(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {name: [] for name in SOLUTION_FEATURES}
    for pid, source, entries in zip(batch["problem_id"], batch["source"], batch[SOLUTIONS]):
        for entry in entries or []:
            out["problem_id"].append(pid)
            out["source"].append(source)
            for key in ("correct", "index", "language", "code"):
                out[key].append(entry[key])
    return out


def empty_table(features: Features) -> Dataset:
    """A table with no rows (``Dataset.map`` on an empty table returns it without the mapped columns)."""
    return Dataset.from_dict({name: [] for name in features}, features=features)


def solutions_table(problems: Dataset) -> Dataset:
    """The side table of reference solutions, one row per solution (problems carrying the temporary column)."""
    if len(problems) == 0:
        return empty_table(SOLUTION_FEATURES)
    return problems.select_columns(["problem_id", "source", SOLUTIONS]).map(
        _flatten_solutions,
        batched=True,
        batch_size=100,
        remove_columns=["problem_id", "source", SOLUTIONS],
        features=SOLUTION_FEATURES,
        desc="Reference solutions",
    )


def normalize_source(
    ds: Dataset,
    to_problem: Callable[..., dict[str, Any]],
    ctx: Context,
    *,
    limit: int | None = None,
    num_proc: int | None = None,
) -> tuple[Dataset, Dataset, dict[str, int], Dataset]:
    """Map every upstream row to a problem; split off the skipped and malformed rows. Returns
    (problems with PROBLEM_FEATURES, quarantine with QUARANTINE_FEATURES, counts, reference solutions with
    SOLUTION_FEATURES)."""
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
        new_fingerprint=_fingerprint(ds, ctx),
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
    quarantine = empty_table(QUARANTINE_FEATURES) if len(rejected) == 0 else rejected.map(
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
    solutions = solutions_table(problems)
    return problems.remove_columns([SOLUTIONS]), quarantine, dict(counts), solutions
