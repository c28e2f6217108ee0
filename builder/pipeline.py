"""The build job (``builder build``): recipe -> problems -> candidates -> extraction -> verdicts -> ``dist/<name>/``.

Stages, each a ``datasets.Dataset`` in and out:

1. :func:`builder.problems.stage.collect_problems`, the problems stage ``builder problems`` runs too: every
   ``[[sources]]`` table in order (bad rows quarantined with their reason into ``work/<name>/quarantine.jsonl`` and
   counted; a problem id an earlier source has is quarantined as a duplicate), then the recipe's ``[problems]``:
   deduplication and, with a benchmark, decontamination (counted in ``build.json`` and the card);
2. :func:`builder.generate.stage.generate_stage` (chunked and cached under ``work/<name>/generate/``: a killed build
   regenerates only the chunks that had not finished);
3. :func:`builder.extract.extract_stage`;
4. :func:`builder.judge.execute.execute_stage` (every candidate in the sandbox, ``[execution] workers`` processes);
5. :func:`builder.dataset.dist.write_dist` writes the configs, charts, card and ``build.json``.

The sandbox is set up before generation, so a machine that cannot run candidates safely fails in seconds, not after
hours of sampling.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from builder.core import meta as build_metadata
from builder.core.errors import UserError
from builder.core.meta import BuildMeta, SourceRecord
from builder.core.settings import Recipe
from builder.dataset.dist import write_dist
from builder.generate.base import Backend
from builder.generate.stage import GenerationReport, generate_stage
from builder.problems.stage import collect_problems


@dataclass
class BuildResult:
    dist_dir: Path
    work_dir: Path
    problems: int
    candidates: int
    verdicts: Counter[str]
    sources: list[SourceRecord]
    quarantined: int = 0
    quarantine_path: Path | None = None
    generation: GenerationReport = field(default_factory=GenerationReport)
    meta: BuildMeta = field(default_factory=BuildMeta)


# --- the job -------------------------------------------------------------------------------------------


def build(
    recipe: Recipe,
    *,
    dist_root: str | Path = "dist",
    work_root: str | Path = "work",
    backend: Backend | Callable[[], Backend] | None = None,
    echo: Callable[[str], None] = print,
) -> BuildResult:
    """Run the whole build for a recipe and write ``<dist_root>/<name>/``."""
    from builder.extract import extract_stage
    from builder.judge.execute import execute_stage
    from builder.judge.limits import limits_line, limits_report
    from builder.sandbox import make_sandbox

    dist_dir = Path(dist_root) / recipe.name
    work_dir = Path(work_root) / recipe.name
    work_dir.mkdir(parents=True, exist_ok=True)

    config = recipe.execution
    with make_sandbox(config.sandbox, allow_unsandboxed=config.allow_unsandboxed) as sandbox:
        sandbox_info = dict(sandbox.describe())

    collected = collect_problems(recipe.sources, recipe.problems)
    problems, quarantine, sources = collected.problems, collected.quarantine, collected.source_records()
    quarantine_path = None
    if len(quarantine):
        quarantine_path = work_dir / "quarantine.jsonl"
        quarantine.to_json(str(quarantine_path), lines=True, force_ascii=False)
    for line in collected.summary_lines():
        echo(line)
    if len(problems) == 0:
        raise UserError(f"no usable problems in the recipe's sources (quarantined: {len(quarantine)})")
    limits = limits_report(problems, config)
    echo(limits_line(limits))

    report = GenerationReport()
    candidates = generate_stage(problems, recipe, work_dir / "generate", backend=backend, report=report)
    echo(f"generation: {report.chunks} chunks ({report.generated} generated, {report.cached} from cache), {len(candidates)} candidates")
    candidates = extract_stage(candidates)
    execute_dir = work_dir / "execute"
    execute_dir.mkdir(parents=True, exist_ok=True)
    for stale in execute_dir.glob("cache-*.arrow"):  # a previous run's intermediate files (random fingerprints)
        stale.unlink()
    judged = execute_stage(candidates, problems, config, cache_file_name=str(execute_dir / "verdicts.arrow"))
    meta = build_metadata.from_recipe(recipe, sources, sandbox_info, limits, collected.record())
    write_dist(dist_dir, judged, problems, meta)
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
