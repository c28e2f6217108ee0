"""Problem sources: one module per upstream format, each normalizing into :data:`builder.core.schema.PROBLEM_FEATURES`.

``load_source(kind, path, subset=..., split=..., **options)`` loads one source (a Hub id in production, a local file
or folder laid out like the Hub repository in tests) and returns a :class:`~builder.sources.common.SourceResult`:
the problems, the quarantined rows with their reasons, the counts and the upstream's reference solutions (a side
table keyed by ``problem_id``). Kinds (the names recipes use): ``local``, ``codeforces``, ``deepcoder``, ``taco``,
``apps``, ``code_contests``, ``livecodebench``, ``kodcode``.

Most upstreams load with ``datasets.load_dataset(path, subset)``. Upstreams that still ship a loading script next to
their data (TACO, APPS, LiveCodeBench), which ``datasets`` 5 refuses, are read file by file instead: their module
defines ``data_files(repo, subset, split)``, naming the files its loading script reads, and those load with a
packaged builder from the local copy or from ``hf://datasets/<repo>@<commit>/...`` (:func:`common.open_repo`).

Options every kind understands: ``limit`` (first N upstream rows), ``max_tests`` (cap per problem), ``num_proc``
(parallel normalization), ``solutions`` (False: leave reference solutions out; for ``local``: a file of them).
Kind-specific:
``generated_tests`` (codeforces: True / False / a folder), ``incomplete_tests`` (codeforces: keep problems whose
official tests are incomplete and that have no generated tests), ``test_sets`` (code_contests). A source none of
whose rows becomes a problem is a one-line error naming the reasons. This module imports nothing heavy, so the CLI
can list the kinds cheaply.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from builder.core.errors import UserError

if TYPE_CHECKING:
    from builder.problems.sources.common import SourceResult

__all__ = ["KINDS", "OPTIONS", "SourceResult", "load_source"]

#: kind -> (module, Hub id of the upstream it reads)
KINDS: dict[str, tuple[str, str | None]] = {
    "local": ("builder.problems.sources.local", None),
    "codeforces": ("builder.problems.sources.codeforces", "open-r1/codeforces"),
    "deepcoder": ("builder.problems.sources.deepcoder", "agentica-org/DeepCoder-Preview-Dataset"),
    "taco": ("builder.problems.sources.taco", "BAAI/TACO"),
    "apps": ("builder.problems.sources.apps", "codeparrot/apps"),
    "code_contests": ("builder.problems.sources.code_contests", "deepmind/code_contests"),
    "livecodebench": ("builder.problems.sources.livecodebench", "livecodebench/code_generation_lite"),
    "kodcode": ("builder.problems.sources.kodcode", "KodCode/KodCode-V1"),
}

OPTIONS = frozenset({"limit", "max_tests", "num_proc", "solutions", "generated_tests", "incomplete_tests", "test_sets"})


def __getattr__(name: str) -> Any:
    if name == "SourceResult":
        from builder.problems.sources.common import SourceResult

        return SourceResult
    raise AttributeError(name)


def load_source(
    kind: str,
    path: str | None = None,
    *,
    subset: str | None = None,
    split: str | None = None,
    **opts: Any,
) -> SourceResult:
    """Load and normalize one source. ``path`` defaults to the kind's Hub id; ``split`` to the one the upstream
    (or the subset) has."""
    from builder.problems.sources.common import (
        Context,
        SourceResult,
        load_files,
        load_upstream,
        normalize_source,
        open_repo,
    )

    if kind not in KINDS:
        raise UserError(f"unknown source kind {kind!r}; choose one of {', '.join(KINDS)}")
    opts = {k: v for k, v in opts.items() if v is not None}
    unknown = sorted(set(opts) - OPTIONS)
    if unknown:
        raise UserError(f"unknown option(s) for source {kind}: {', '.join(unknown)}")
    module_name, hub_id = KINDS[kind]
    path = str(path or hub_id or "")
    if not path:
        raise UserError(f"source {kind} needs a path")
    limit = opts.pop("limit", None)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise UserError(f"limit must be a non-negative integer, got {limit!r}")
    module = importlib.import_module(module_name)
    if kind == "local":
        return module.load(path, split=split, limit=limit, solutions=opts.get("solutions"))
    if kind == "deepcoder" and not subset:
        raise UserError(f"source deepcoder needs a subset: one of {', '.join(module.SUBSETS)}")
    default_split = getattr(module, "default_split", None)
    split = split or (default_split(subset) if default_split else module.DEFAULT_SPLIT)
    data_files = getattr(module, "data_files", None)
    if data_files is not None and not Path(path).expanduser().is_file():
        repo = open_repo(path)
        try:
            names = data_files(repo, subset, split)
        except ValueError as exc:
            raise UserError(f"{path}: {exc}") from None
        upstream = load_files(repo, names)
    else:
        upstream = load_upstream(path, subset=subset, split=split)
    notes: list[str] = []
    inspect_columns = getattr(module, "inspect_columns", None)
    if inspect_columns is not None:
        try:
            note = inspect_columns(upstream.column_names)
        except ValueError as exc:
            raise UserError(f"{path}: {exc}") from None
        notes += [note] if note else []
    num_proc = opts.pop("num_proc", None)
    ctx = Context(
        kind=kind,
        path=path,
        subset=subset,
        split=split,
        options=dict(sorted(opts.items())),
        id_column=getattr(module, "ID_COLUMN", None),
        subset_in_ids=getattr(module, "SUBSET_IN_IDS", True),
    )
    problems, quarantine, counts, solutions = normalize_source(
        upstream, module.to_problem, ctx, limit=limit, num_proc=num_proc
    )
    if counts.get("rows") and not counts.get("problems"):
        raise UserError(_nothing_kept(kind, path, counts["rows"], quarantine["reason"]))
    return SourceResult(
        kind=kind,
        path=path,
        problems=problems,
        quarantine=quarantine,
        counts=counts,
        license=module.LICENSE,
        subset=subset,
        split=split,
        solutions=solutions,
        notes=notes,
    )


def _nothing_kept(kind: str, path: str, rows: int, reasons: list[str]) -> str:
    """The one line for a source none of whose rows became a problem: its most common reasons."""
    from collections import Counter

    common = Counter(reasons).most_common(3)
    detail = "; ".join(f"{n} x {reason}" for reason, n in common)
    return f"{kind} {path}: none of its {rows} rows became a problem ({detail})"
