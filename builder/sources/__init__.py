"""Problem sources: one module per upstream format, each normalizing into :data:`builder.schema.PROBLEM_FEATURES`.

``load_source(kind, path, subset=..., split=..., **options)`` loads one source with ``datasets.load_dataset`` (a Hub
id in production, a local file or folder laid out like the Hub repository in tests) and returns a
:class:`~builder.sources.common.SourceResult`: the problems, the quarantined rows with their reasons, and the counts.
Kinds (the names recipes use): ``local``, ``codeforces``, ``deepcoder``, ``taco``, ``apps``, ``code_contests``,
``livecodebench``, ``kodcode``.

Options every kind understands: ``limit`` (first N upstream rows), ``max_tests`` (cap per problem), ``num_proc``
(parallel normalization). Kind-specific: ``generated_tests`` (codeforces: True / False / a folder), ``test_sets``
(code_contests). This module imports nothing heavy, so the CLI can list the kinds cheaply.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from builder.errors import UserError

if TYPE_CHECKING:
    from builder.sources.common import SourceResult

__all__ = ["KINDS", "OPTIONS", "SourceResult", "load_source"]

#: kind -> (module, Hub id of the upstream it reads)
KINDS: dict[str, tuple[str, str | None]] = {
    "local": ("builder.sources.local", None),
    "codeforces": ("builder.sources.codeforces", "open-r1/codeforces"),
    "deepcoder": ("builder.sources.deepcoder", "agentica-org/DeepCoder-Preview-Dataset"),
    "taco": ("builder.sources.taco", "BAAI/TACO"),
    "apps": ("builder.sources.apps", "codeparrot/apps"),
    "code_contests": ("builder.sources.code_contests", "deepmind/code_contests"),
    "livecodebench": ("builder.sources.livecodebench", "livecodebench/code_generation_lite"),
    "kodcode": ("builder.sources.kodcode", "KodCode/KodCode-V1"),
}

OPTIONS = frozenset({"limit", "max_tests", "num_proc", "generated_tests", "test_sets"})


def __getattr__(name: str) -> Any:
    if name == "SourceResult":
        from builder.sources.common import SourceResult

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
    """Load and normalize one source. ``path`` defaults to the kind's Hub id."""
    from builder.sources.common import Context, SourceResult, load_upstream, normalize_source

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
        return module.load(path, split=split, limit=limit)
    split = split or module.DEFAULT_SPLIT
    if kind == "deepcoder" and not subset:
        raise UserError(f"source deepcoder needs a subset: one of {', '.join(module.SUBSETS)}")
    if kind == "livecodebench" and not Path(path).is_file():
        try:
            files = module.release_files(subset, Path(path) if Path(path).is_dir() else None)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        upstream = load_upstream(path, split=split, data_files={split: files})
    else:
        upstream = load_upstream(path, subset=subset, split=split)
    num_proc = opts.pop("num_proc", None)
    ctx = Context(
        kind=kind,
        path=path,
        subset=subset,
        split=split,
        options=dict(sorted(opts.items())),
        id_column=getattr(module, "ID_COLUMN", None),
    )
    problems, quarantine, counts = normalize_source(upstream, module.to_problem, ctx, limit=limit, num_proc=num_proc)
    return SourceResult(
        kind=kind,
        path=path,
        problems=problems,
        quarantine=quarantine,
        counts=counts,
        license=module.LICENSE,
        subset=subset,
        split=split,
    )
