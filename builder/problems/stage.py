"""The problems stage: several sources into one problem set — load each, concatenate in order, deduplicate, optionally
decontaminate.

It is the one problems stage of ``builder build`` (a recipe's ``[[sources]]`` in order and its ``[problems]`` table)
and of ``builder problems`` (one source and the command's flags). Every row
that does not become a problem is in ``quarantine`` with its reason: malformed or skipped upstream rows, duplicates
(merged into the first occurrence) and problems too similar to the benchmark. ``solutions`` is the side table of
the upstreams' reference solutions (:data:`builder.core.schema.SOLUTION_FEATURES`) for the problems kept, keyed by
``problem_id``: ``builder problems`` writes it next to the problems (``<out>.solutions.parquet``), where a stage
that validates tests with reference solutions can read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset, concatenate_datasets

from builder.core.meta import ProblemsRecord, SourceRecord
from builder.core.schema import PROBLEM_FEATURES, QUARANTINE_FEATURES, SOLUTION_FEATURES
from builder.core.settings import ProblemsSettings, SourceSettings
from builder.core.tables import quarantine_rows
from builder.problems.sources import load_source
from builder.problems.sources.common import SourceResult


@dataclass
class CollectedProblems:
    problems: Dataset
    quarantine: Dataset
    sources: list[SourceResult]
    merged: int = 0
    merged_pairs: dict[str, int] = field(default_factory=dict)
    contaminated: int = 0
    notes: list[str] = field(default_factory=list)
    #: reference solutions of the kept problems (SOLUTION_FEATURES)
    solutions: Dataset | None = None
    #: the settings it ran with
    settings: ProblemsSettings = field(default_factory=ProblemsSettings)
    benchmark_name: str | None = None

    def source_records(self) -> list[SourceRecord]:
        """``build.json``'s ``sources`` entries: per source, the problems it gave and the rows quarantined."""
        return [
            SourceRecord(
                kind=s.kind,
                path=s.path,
                problems=s.counts.get("problems", 0) - s.counts.get("duplicate_ids", 0),
                quarantined=s.counts.get("quarantined", 0) + s.counts.get("skipped", 0) + s.counts.get("duplicate_ids", 0),
                license=s.license,
            )
            for s in self.sources
        ]

    def record(self) -> ProblemsRecord:
        """``build.json``'s ``problems`` section: deduplication and decontamination and their counts."""
        return ProblemsRecord(
            dedup=self.settings.dedup,
            merged=self.merged,
            benchmark=self.benchmark_name,
            threshold=self.settings.threshold if self.benchmark_name else None,
            contaminated=self.contaminated,
        )

    def summary_lines(self) -> list[str]:
        lines = [s.summary() for s in self.sources]
        lines.extend(self.notes)
        lines.append(f"total: {len(self.problems)} problems, {len(self.quarantine)} quarantined rows")
        return lines


def _empty_quarantine() -> Dataset:
    return Dataset.from_dict({k: [] for k in QUARANTINE_FEATURES}, features=QUARANTINE_FEATURES)


def collect_problems(
    sources: Sequence[SourceSettings],
    settings: ProblemsSettings | None = None,
    *,
    benchmark: Dataset | None = None,
    model_path: str | None = None,
    num_proc: int | None = None,
) -> CollectedProblems:
    """Load every source (in order) and merge them: ids unique across sources, then ``settings.dedup`` and, with
    ``settings.benchmark`` (a normalized problems file) or ``benchmark`` (a Dataset), decontamination at
    ``settings.threshold``."""
    settings = settings or ProblemsSettings()
    results: list[SourceResult] = []
    for src in sources:
        options: dict[str, Any] = {**src.options, **({"limit": src.limit} if src.limit is not None else {})}
        if num_proc and "num_proc" not in options:
            options["num_proc"] = num_proc
        results.append(load_source(src.kind, src.path, subset=src.subset, split=src.split, **options))
    parts = [r.problems if r.problems.features == PROBLEM_FEATURES else r.problems.cast(PROBLEM_FEATURES) for r in results]
    quarantines = [r.quarantine for r in results if len(r.quarantine)]
    seen: set[str] = set()
    for i, part in enumerate(parts):  # an id an earlier source already has: quarantined, the first one wins
        ids = part["problem_id"]
        clash = [j for j, pid in enumerate(ids) if pid in seen]
        if clash:
            quarantines.append(quarantine_rows(part.select(clash), "problems", f"duplicate problem_id: an earlier source than sources[{i}] has it", "problem_id"))
            dropped = set(clash)
            parts[i] = part = part.select([j for j in range(len(ids)) if j not in dropped])
            results[i].counts["duplicate_ids"] = len(clash)
        seen.update(part["problem_id"])
    problems = concatenate_datasets(parts) if len(parts) > 1 else parts[0]
    collected = CollectedProblems(problems=problems, quarantine=_empty_quarantine(), sources=results, settings=settings)
    if settings.dedup:
        from builder.problems.dedup import dedup_problems

        deduped = dedup_problems(problems, num_proc=num_proc)
        collected.problems = deduped.problems
        collected.merged = deduped.merged
        collected.merged_pairs = dict(deduped.pairs)
        collected.notes.append(deduped.summary())
        if len(deduped.duplicates):
            quarantines.append(deduped.duplicates)
    if benchmark is not None or settings.benchmark is not None:
        from builder.core.tables import load_problems
        from builder.problems.decontaminate import decontaminate

        if benchmark is not None:
            bench, name = benchmark, "benchmark"
        else:
            bench, _ = load_problems(str(settings.benchmark))
            name = Path(str(settings.benchmark)).parent.name or str(settings.benchmark)
        collected.benchmark_name = name
        result = decontaminate(
            collected.problems, bench, threshold=settings.threshold, model_path=model_path, benchmark_name=name
        )
        collected.problems = result.problems
        collected.contaminated = len(result.dropped)
        collected.notes.append(result.summary())
        if len(result.dropped):
            quarantines.append(result.dropped)
    if quarantines:
        collected.quarantine = concatenate_datasets(quarantines) if len(quarantines) > 1 else quarantines[0]
    collected.solutions = _kept_solutions(results, collected.problems)
    return collected


def _kept_solutions(results: Sequence[SourceResult], problems: Dataset) -> Dataset:
    """The sources' reference solutions of the problems that were kept (not merged away, not contaminated)."""
    tables = [r.solutions for r in results if r.solutions is not None and len(r.solutions)]
    if not tables:
        return Dataset.from_dict({k: [] for k in SOLUTION_FEATURES}, features=SOLUTION_FEATURES)
    table = concatenate_datasets(tables) if len(tables) > 1 else tables[0]
    kept = set(problems["problem_id"])
    if len(kept) == len(set(table["problem_id"]) | kept):  # every solution's problem is kept
        return table
    return table.filter(lambda pid: pid in kept, input_columns=["problem_id"], desc="Solutions of kept problems")
