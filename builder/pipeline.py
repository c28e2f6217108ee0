"""The build job (``builder build``): recipe -> problems -> candidates -> extraction -> verdicts -> ``dist/<name>/``.

1. :func:`builder.problems.stage.collect_problems`, the problems stage ``builder problems`` runs too: every
   ``[[sources]]`` table in order (bad rows quarantined with their reason into ``work/<name>/quarantine.jsonl`` and
   counted; a problem id an earlier source has is quarantined as a duplicate), then the recipe's ``[problems]``:
   deduplication and, with a benchmark, decontamination (counted in ``build.json`` and the card), tolerances read
   from statements and, with reference solutions, validation: a problem whose tests reject its correct references
   (``tests_broken``) gets no candidates (:meth:`CollectedProblems.trainable`);
2. then a stream: :func:`builder.generate.stage.generate_chunks` yields each chunk as soon as the engine finished it
   (or reads it back from ``work/<name>/generate/``), :func:`builder.extract.extract_batch` splits reasoning and code,
   and :class:`builder.judge.stream.ChunkedExecution` hands its candidates to the execution workers (one warm sandbox
   each, candidates given out as workers free up) while the engine generates the next chunk. Each chunk's verdicts
   are kept in ``work/<name>/execute/``: a build killed at any moment and run again redoes only the chunks that were
   in flight in each stage;
3. :func:`builder.dataset.dist.write_dist` writes the configs, charts, card and ``build.json`` from the judged
   candidates (one memory-mapped table: the main process never holds every candidate in Python objects).

The sandbox is set up before generation, so a machine that cannot run candidates safely fails in seconds, not after
hours of sampling.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence, Sized
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TextIO

from datasets import Dataset, Features

from builder.core import meta as build_metadata
from builder.core.errors import UserError
from builder.core.meta import BuildMeta, SourceRecord
from builder.core.progress import Progress
from builder.core.schema import EXTRACTION_FEATURES, GENERATION_FEATURES
from builder.core.settings import Recipe
from builder.dataset.dist import write_dist
from builder.generate.base import Backend
from builder.generate.stage import GenerationReport, generate_chunks, plan_chunks
from builder.judge.stream import ChunkedExecution, ExecutionReport, Intervals
from builder.problems.stage import CollectedProblems, collect_problems

#: chunks that may be waiting for the execution workers before the engine waits (memory stays bounded)
MAX_PENDING_CHUNKS = 3
#: the columns of a generated chunk once extracted: what the execution stage judges
STREAM_FEATURES = Features({**GENERATION_FEATURES, **EXTRACTION_FEATURES})


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
    execution: ExecutionReport = field(default_factory=ExecutionReport)
    times: StageTimes = field(default_factory=lambda: StageTimes())
    #: seconds of execution that ran while the engine was generating (hidden behind generation)
    hidden_s: float = 0.0
    meta: BuildMeta = field(default_factory=BuildMeta)

    @classmethod
    def of(cls, dist_dir: Path, work_dir: Path, problems: Sized, judged: Any, sources: list[SourceRecord],
           quarantine: Sized, quarantine_path: Path | None, **rest: Any) -> Self:
        """What a build that wrote ``judged`` (the candidates with their verdicts) for ``problems`` reports; ``rest``:
        the reports of its stages, its times and metadata (and what an engine adds)."""
        return cls(dist_dir=dist_dir, work_dir=work_dir, problems=len(problems), candidates=len(judged),
                   verdicts=Counter(judged["verdict"]), sources=sources, quarantined=len(quarantine),
                   quarantine_path=quarantine_path, **rest)


# --- the job -------------------------------------------------------------------------------------------


def build(
    recipe: Recipe,
    *,
    dist_root: str | Path = "dist",
    work_root: str | Path = "work",
    backend: Backend | Callable[[], Backend] | None = None,
    echo: Callable[[str], None] = print,
    terminal: TextIO | None = None,
    after_chunk: Callable[[], None] | None = None,
    max_pending: int = MAX_PENDING_CHUNKS,
) -> BuildResult:
    """Run the whole build for a recipe and write ``<dist_root>/<name>/``.

    The stages stream: every generated chunk is extracted and handed to the execution workers at once while the
    engine generates the next one; the engine waits only when ``max_pending`` chunks are still being judged.
    ``terminal`` is where the progress display goes (default: standard error); ``after_chunk`` is called after every
    chunk (the command line notes the run's shared-memory files there).
    """
    from builder.extract import extract_batch
    from builder.sandbox import make_sandbox

    dist_dir = Path(dist_root) / recipe.name
    work_dir = Path(work_root) / recipe.name
    work_dir.mkdir(parents=True, exist_ok=True)
    times = StageTimes()

    config = recipe.execution
    with times.stage("sandbox"), make_sandbox(config.sandbox, allow_unsandboxed=config.allow_unsandboxed) as sandbox:
        sandbox_info = dict(sandbox.describe())
    sandbox_info.update(compile_settings(recipe.generation.languages))

    with times.stage("problems"):
        collected, quarantine_path, limits = problems_stage(recipe, work_dir, echo)
    problems, quarantine, sources = collected.trainable(), collected.quarantine, collected.source_records()

    report = GenerationReport()
    chunks = math.ceil(len(problems) / recipe.generation.chunk_size)
    progress = Progress(len(problems) * recipe.sampling.n * len(recipe.generation.languages), chunks, stream=terminal)
    generating = Intervals()
    started = time.time()
    keys = plan_chunks(problems, recipe)
    stream = generate_chunks(problems, recipe, work_dir / "generate", backend=backend, report=report, keys=keys)
    try:
        with ChunkedExecution(problems, config, work_dir / "execute", STREAM_FEATURES, on_verdict=progress.judged) as execution:
            if not _all_judged(execution, keys, problems, recipe.generation.chunk_size):
                execution.start()  # the workers warm up while the engine loads and generates the first chunk
            progress.stage("generating")
            while True:
                begin = time.time()
                try:
                    key, records, origin = next(stream)
                except StopIteration:
                    break
                if origin == "generated":
                    generating.add(begin, time.time())
                progress.chunk_generated()
                if after_chunk is not None:
                    after_chunk()
                records.update(extract_batch(records))
                execution.submit(execution.chunk_key(key, records["problem_id"]), records)
                execution.wait_below(max_pending)  # back-pressure: memory stays bounded if execution falls behind
            stream.close()  # the engine is shut down here, before the last chunks are judged
            progress.stage("judging")
            judged = execution.result()
        times.add("generation", generating.total())
        times.add("execution", execution.report.busy.total())
        times.add("generation+execution", time.time() - started)
        with times.stage("writing"):
            progress.stage(f"writing {dist_dir}")
            meta = build_metadata.from_recipe(recipe, sources, sandbox_info, limits, collected.record())
            write_dist(dist_dir, judged, problems, meta)
    finally:
        stream.close()
        progress.close()
    hidden = execution.report.busy.overlap(generating)
    return BuildResult.of(dist_dir, work_dir, problems, judged, sources, quarantine, quarantine_path, generation=report,
                          execution=execution.report, times=times, hidden_s=hidden, meta=meta)


def compile_settings(languages: Sequence[str]) -> dict[str, object]:
    """How the compiled languages of a run are compiled (for build.json's sandbox record); a UserError when a
    language's compiler is missing here."""
    from builder.judge.compiled import describe_toolchain, toolchain_problem

    for language in languages:
        problem = toolchain_problem(language)
        if problem is not None:
            raise UserError(problem)
    compilers = describe_toolchain(languages)
    return {"compilers": compilers} if compilers else {}


def problems_stage(recipe: Recipe, work_dir: Path, echo: Callable[[str], None]) -> tuple[CollectedProblems, Path | None, dict]:
    """The problems of a build (both engines: this one and :mod:`builder.ray_engine`): the recipe's sources and
    ``[problems]`` table, quarantined rows written to ``<work_dir>/quarantine.jsonl``, the summary and the limits
    line echoed. Returns the collected problems, the quarantine file (None when empty) and the limits report."""
    from builder.judge.limits import limits_line, limits_report

    collected = collect_problems(recipe.sources, recipe.problems, execution=recipe.execution)
    problems, quarantine = collected.problems, collected.quarantine
    quarantine_path = None
    if len(quarantine):
        quarantine_path = work_dir / "quarantine.jsonl"
        quarantine.to_json(str(quarantine_path), lines=True, force_ascii=False)
    for line in collected.summary_lines():
        echo(line)
    if len(problems) == 0:
        raise UserError(f"no usable problems in the recipe's sources (quarantined: {len(quarantine)})")
    limits = limits_report(problems, recipe.execution)
    echo(limits_line(limits))
    return collected, quarantine_path, limits


def _all_judged(execution: ChunkedExecution, keys: list[str], problems: Dataset, chunk_size: int) -> bool:
    """Whether every chunk's verdicts are on disk already (a finished build run again starts no worker)."""
    ids = problems["problem_id"]
    return all(
        execution.path(execution.chunk_key(key, ids[i * chunk_size : (i + 1) * chunk_size])).is_file()
        for i, key in enumerate(keys)
    )


class StageTimes:
    """Seconds per stage, in the order they ran (for the closing summary)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.add(name, time.monotonic() - start)


def summary_lines(result: BuildResult) -> list[str]:
    """The closing summary of a build: rows per config, verdicts, time per stage, the sandbox and where it all is."""
    from builder.core import taxonomy as T
    from builder.dataset.stats import CONFIGS, config_sizes

    rows = ", ".join(f"{name} {config_sizes(result.dist_dir, name)['rows']:,}" for name in CONFIGS)
    verdicts = ", ".join(f"{v} {result.verdicts[v]}" for v in T.VERDICTS if result.verdicts.get(v))
    seconds = result.times.seconds
    wall = seconds.get("generation+execution", 0.0)
    execution = seconds.get("execution", 0.0)
    stages = ", ".join(
        f"{name} {seconds[name]:.1f} s" for name in ("sandbox", "problems", "generation", "execution", "writing") if name in seconds
    )
    generation, execute = result.generation, result.execution
    lines = [
        f"{result.candidates:,} candidates for {result.problems:,} problems: {verdicts}",
        f"configs: {rows}",
        f"chunks: {generation.generated} generated and {generation.cached} read back; "
        f"{execute.judged_chunks} judged and {execute.cached_chunks} read back (work/: {result.work_dir})",
        f"time: {stages}; generation and execution together {wall:.1f} s wall"
        + (f", {result.hidden_s / execution:.0%} of execution hidden behind generation" if execution > 0 else ""),
        f"sandbox: {result.meta.sandbox.get('level', 'unknown')}",
    ]
    if result.meta.limits is not None and result.meta.limits.time is not None:
        from builder.judge.limits import limits_line

        lines.append(limits_line(result.meta.limits.model_dump()))
    if result.quarantined:
        lines.append(f"quarantined {result.quarantined} problem rows: {result.quarantine_path}")
    lines.append(f"wrote {result.dist_dir}")
    return lines
