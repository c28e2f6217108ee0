"""The problems stage: several sources into one problem set, checked before any candidate is generated.

It is the one problems stage of ``builder build`` (a recipe's ``[[sources]]`` in order and its ``[problems]`` table)
and of ``builder problems`` (one source and the command's flags). In order:

1. every source loaded and normalized (:mod:`builder.problems.sources`); a problem id an earlier source has is
   quarantined;
2. ``dedup``: statements equal once normalized are merged (:func:`builder.problems.dedup.dedup_problems`);
3. ``near_dedup``: near-duplicate statements are merged, the group recorded (MinHash LSH,
   :func:`builder.problems.dedup.near_dedup_problems`);
4. ``benchmark``: decontamination against benchmark problem sets, by word n-grams and embeddings
   (:mod:`builder.problems.decontaminate`);
5. ``statement_tolerance``: the float tolerance a statement states, where the source gives none
   (:mod:`builder.problems.tolerance`);
6. ``validation``: reference solutions run through the sandbox and judge; ``tests_broken`` / ``tests_weak``
   (:mod:`builder.problems.validate`).

Every row that does not become a problem is in ``quarantine`` with its reason: malformed or skipped upstream rows,
duplicates and near-duplicates (merged into the first occurrence) and problems too close to a benchmark. ``solutions``
is the side table of the upstreams' reference solutions (:data:`builder.core.schema.SOLUTION_FEATURES`) for the
problems kept, keyed by ``problem_id``: ``builder problems`` writes it next to the problems
(``<out>.solutions.parquet``). Every step is cached per :mod:`builder.core.caching` and shows a progress bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from datasets import Dataset, concatenate_datasets

from builder.core.meta import DecontaminationRecord, ProblemsRecord, SourceRecord, ValidationRecord
from builder.core.schema import PROBLEM_FEATURES, QUARANTINE_FEATURES, SOLUTION_FEATURES
from builder.core.settings import ExecutionSettings, ProblemsSettings, SourceSettings
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
    near_merged: int = 0
    near_groups: int = 0
    contaminated: int = 0
    notes: list[str] = field(default_factory=list)
    #: reference solutions of the kept problems (SOLUTION_FEATURES)
    solutions: Dataset | None = None
    #: the settings it ran with
    settings: ProblemsSettings = field(default_factory=ProblemsSettings)
    benchmark_name: str | None = None
    decontamination: list[DecontaminationRecord] = field(default_factory=list)
    tolerance: dict[str, int] = field(default_factory=dict)
    validation: ValidationRecord | None = None

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
        """``build.json``'s ``problems`` section: what every step did, with its counts."""
        s = self.settings
        return ProblemsRecord(
            dedup=s.dedup,
            merged=self.merged,
            near_dedup=s.near_dedup,
            near_dedup_threshold=s.near_dedup_threshold if s.near_dedup else None,
            near_merged=self.near_merged,
            near_groups=self.near_groups,
            benchmark=self.benchmark_name,
            threshold=s.threshold if self.benchmark_name and "embedding" in s.decontamination else None,
            contaminated=self.contaminated,
            ngram_size=s.ngram_size if self.benchmark_name and "ngram" in s.decontamination else None,
            decontamination=self.decontamination,
            tolerance_from_statement=self.tolerance.get("statement", 0),
            tolerance_kinds={k.split("_", 1)[1]: v for k, v in sorted(self.tolerance.items()) if k.startswith("statement_")},
            validation=self.validation,
        )

    def trainable(self) -> Dataset:
        """The problems to generate candidates for (and so to draw ``sft`` and ``dpo`` rows from): all but those
        whose tests reject every correct reference solution (``tests_broken``)."""
        from builder.problems.validate import trainable

        return trainable(self.problems)

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
    execution: ExecutionSettings | None = None,
) -> CollectedProblems:
    """Load every source (in order) and run the steps of ``settings`` (see the module's docstring). ``benchmark`` (a
    Dataset of normalized problems) is decontaminated against besides ``settings.benchmark``; ``execution`` is what
    validation runs reference solutions under (default: :class:`ExecutionSettings`' defaults)."""
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
    for i, part in enumerate(parts):  # an id an earlier source has: quarantined, the first one wins
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
    if settings.near_dedup:
        from builder.problems.dedup import near_dedup_problems

        near = near_dedup_problems(collected.problems, threshold=settings.near_dedup_threshold, num_proc=num_proc)
        collected.problems = near.problems
        collected.near_merged, collected.near_groups = near.merged, near.groups
        collected.notes.append(near.summary())
        if len(near.duplicates):
            quarantines.append(near.duplicates)
    benchmarks: list[Any] = [*settings.benchmark, *([benchmark] if benchmark is not None else [])]
    if benchmarks:
        from builder.problems.decontaminate import decontaminate, load_benchmarks

        loaded = load_benchmarks(benchmarks)
        collected.benchmark_name = ", ".join(b.name for b in loaded)
        result = decontaminate(
            collected.problems,
            loaded,
            methods=settings.decontamination,
            threshold=settings.threshold,
            ngram_threshold=settings.ngram_threshold,
            ngram_size=settings.ngram_size,
            model_path=model_path,
            num_proc=num_proc,
        )
        collected.problems = result.problems
        collected.contaminated = len(result.dropped)
        collected.decontamination = [
            DecontaminationRecord(
                benchmark=b.name, problems=len(b.ids), method=m, threshold=result.thresholds[m], removed=result.removed.get((b.name, m), 0)
            )
            for b in loaded
            for m in result.thresholds
        ]
        collected.notes.append(result.summary())
        if len(result.dropped):
            quarantines.append(result.dropped)
    if settings.statement_tolerance:
        from builder.problems.tolerance import add_statement_tolerances, counts

        collected.problems = add_statement_tolerances(collected.problems, num_proc=num_proc)
        collected.tolerance = counts(collected.problems)
        kinds = ", ".join(f"{k.split('_', 1)[1]} {v}" for k, v in sorted(collected.tolerance.items()) if k.startswith("statement_"))
        collected.notes.append(
            f"tolerance: {collected.tolerance.get('statement', 0)} problems read it from their statement"
            + (f" ({kinds})" if kinds else "") + f", {collected.tolerance.get('source', 0)} have their source's"
        )
    if quarantines:
        collected.quarantine = concatenate_datasets(quarantines) if len(quarantines) > 1 else quarantines[0]
    collected.solutions = _kept_solutions(results, collected.problems)
    if settings.validation:
        from builder.problems.validate import validate_problems

        validated = validate_problems(collected.problems, collected.solutions, execution or ExecutionSettings(), k=settings.references)
        collected.problems = validated.problems
        collected.validation = validated.record
        collected.notes.append(validated.summary())
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
