"""The verify job: extract, execute and judge candidates a user already has, against problems with tests.

Execution goes through the same chunked, resumable path as a build (:mod:`builder.judge.stream`): candidates are
judged in chunks of ``chunk_size`` by a pool of workers that take candidates as they free up, and every finished
chunk's verdicts are kept in the work folder, so running the same command again after a kill judges only what had
not finished.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from datasets import Dataset, Features, concatenate_datasets

from builder.core import taxonomy as T
from builder.core.caching import fingerprint
from builder.core.errors import UserError
from builder.core.progress import Progress
from builder.core.schema import CANDIDATE_FEATURES, EXTRACTION_FEATURES
from builder.core.settings import ExecutionSettings
from builder.core.tables import (
    load_candidates,
    load_problems,
    quarantine_rows,
    write_table,
)
from builder.judge.limits import limits_line, limits_report
from builder.judge.stream import ChunkedExecution

#: candidates per cached verdict chunk
CHUNK = 64


@dataclass
class VerifyReport:
    out: Path
    candidates: int
    counts: Counter[str]
    #: chunks judged in this run, and read back from the work folder
    judged_chunks: int = 0
    cached_chunks: int = 0
    #: wall seconds of execution, and the workers' summed judging seconds
    execution_s: float = 0.0
    worker_s: float = 0.0
    quarantined: int = 0
    quarantine_reasons: Counter[str] = field(default_factory=Counter)
    quarantine_path: Path | None = None
    sandbox: dict[str, object] = field(default_factory=dict)
    #: :func:`builder.judge.execute.limits_report` over the problems that had candidates
    limits: dict[str, object] = field(default_factory=dict)
    #: (language, verdict) -> candidates
    by_language: Counter[tuple[str, str]] = field(default_factory=Counter)


_REASON_KINDS = (
    (" has no tests", "has no tests"),
    (" has neither", "has neither"),
    ("unknown problem_id", "unknown problem_id"),
    ("malformed JSON", "malformed JSON"),
    ("duplicate ", "duplicate"),
    ("needs string", "needs string"),
    ("lone surrogate", "text not encodable as UTF-8"),
    ("invalid UTF-8", "text not encodable as UTF-8"),
    ("time_limit must be", "implausible limits"),
    ("memory_limit must be", "implausible limits"),
    ("float_tolerance must be", "implausible limits"),
    (" must be ", "wrong type or range"),
)


def _reason_kind(reason: str) -> str:
    """A quarantine reason without its row-specific part (for the summary)."""
    text = reason.split(": ", 1)[-1]
    for marker, kind in _REASON_KINDS:
        if marker in text:
            return kind
    return text[:60]


def verify(
    problems_spec: str,
    candidates_spec: str,
    out: str | Path,
    config: ExecutionSettings,
    split: str = "train",
    work_dir: str | Path = "work",
    chunk_size: int = CHUNK,
) -> VerifyReport:
    """Judge every candidate and write one verdict row per candidate to ``out`` (.parquet or .jsonl)."""
    from builder.extract import extract_stage

    out = Path(out)
    if out.suffix not in (".parquet", ".jsonl"):
        raise UserError(f"{out}: the output must end in .parquet or .jsonl")
    problems, problem_quarantine = load_problems(problems_spec, split)
    if len(problems) == 0:
        detail = f" (first: {problem_quarantine[0]['reason']})" if len(problem_quarantine) else ""
        raise UserError(f"no usable problems in {problems_spec}{detail}")
    candidates, candidate_quarantine = load_candidates(candidates_spec, split)
    known = set(problems["problem_id"])
    unknown = candidates.filter(lambda pid: pid not in known, input_columns=["problem_id"])
    candidates = candidates.filter(lambda pid: pid in known, input_columns=["problem_id"])
    if len(candidates) == 0:
        raise UserError(f"no usable candidates in {candidates_spec} (every row was malformed or names an unknown problem)")
    languages = sorted(set(candidates["language"])) if "language" in candidates.column_names else ["python"]
    from builder.pipeline import compile_settings

    compile_settings(languages)  # a missing compiler is one line, before any worker starts

    wanted = set(candidates.unique("problem_id"))
    judged_problems = problems.select_columns(["problem_id", "time_limit", "memory_limit"])
    limits = limits_report((p for p in judged_problems if p["problem_id"] in wanted), config)
    started = time.monotonic()
    features = Features({**candidates.features, **EXTRACTION_FEATURES})
    with Progress(len(candidates)) as progress, ChunkedExecution(
        problems, config, Path(work_dir) / "verify", features, on_verdict=progress.judged
    ) as execution:
        keys = _chunk_keys(execution, candidates, chunk_size)
        if not all(execution.path(key).is_file() for key in keys):
            execution.start()  # the workers warm up while the responses are extracted
        progress.stage("extracting")
        extracted = extract_stage(candidates)
        progress.stage("judging")
        for key, start in zip(keys, range(0, len(extracted), chunk_size)):
            execution.submit(key, extracted[start : start + chunk_size])
        judged = execution.result()
    report_exec = execution.report
    columns = [c for c in CANDIDATE_FEATURES if c in judged.column_names]
    if any(label is not None for label in judged["label"]):
        columns.append("label")
    judged = judged.select_columns(columns)
    write_table(judged, out)

    quarantine = [q for q in (problem_quarantine, candidate_quarantine) if len(q)]
    if len(unknown):
        quarantine.append(quarantine_rows(unknown, "candidates", "unknown problem_id", "candidate_id"))
    by_language: Counter[tuple[str, str]] = Counter()
    if "language" in judged.column_names:
        by_language.update(zip(judged["language"], judged["verdict"]))
    report = VerifyReport(
        out=out, candidates=len(judged), counts=Counter(judged["verdict"]), limits=limits, by_language=by_language,
        judged_chunks=report_exec.judged_chunks, cached_chunks=report_exec.cached_chunks,
        execution_s=time.monotonic() - started, worker_s=report_exec.worker_s,
    )
    if quarantine:
        merged: Dataset = concatenate_datasets(quarantine)
        report.quarantined = len(merged)
        report.quarantine_reasons = Counter(_reason_kind(r) for r in merged["reason"])
        report.quarantine_path = out.with_name(out.stem + ".quarantine.jsonl")
        write_table(merged, report.quarantine_path)
    return report


def _chunk_keys(execution: ChunkedExecution, candidates: Dataset, chunk_size: int) -> list[str]:
    """Every chunk's verdict key: its candidates as given (ids, responses, solutions; the extractor's code is in the
    key through the judge's version) and its problems."""
    columns = [c for c in ("candidate_id", "problem_id", "response", "solution", "language") if c in candidates.column_names]
    keys = []
    for rows in candidates.select_columns(columns).iter(batch_size=chunk_size):
        given = [rows.get(c) for c in ("candidate_id", "response", "solution")]
        if "language" in rows:
            given.append(rows["language"])
        keys.append(execution.chunk_key(fingerprint("candidates", *given), rows["problem_id"]))
    return keys


def summary_lines(report: VerifyReport) -> list[str]:
    """The verdict table printed at the end of `builder verify`."""
    total = report.candidates
    lines = [f"{'verdict':<15}{'count':>8}{'share':>9}", "-" * 32]
    for verdict in T.VERDICTS:
        count = report.counts.get(verdict, 0)
        if count:
            lines.append(f"{verdict:<15}{count:>8}{count / total:>9.1%}")
    lines.append("-" * 32)
    lines.append(f"{'total':<15}{total:>8}")
    languages = sorted({language for language, _ in report.by_language}, key=lambda x: (x != "python", x))
    if len(languages) > 1 or languages and languages[0] != "python":
        for language in languages:
            counts = {v: n for (lang, v), n in report.by_language.items() if lang == language}
            size = sum(counts.values())
            rejected = ", ".join(f"{v} {counts[v]}" for v in T.VERDICTS if v != T.PASSED and counts.get(v))
            lines.append(f"{language}: {size} candidates, {counts.get(T.PASSED, 0)} passed ({counts.get(T.PASSED, 0) / size:.1%})"
                         + (f"; {rejected}" if rejected else ""))
    if report.limits:
        lines.append(limits_line(report.limits))
    if report.cached_chunks:
        lines.append(f"{report.cached_chunks} of {report.cached_chunks + report.judged_chunks} chunks read back from an earlier run")
    lines.append(f"execution: {report.execution_s:.1f} s wall, workers busy {report.worker_s:.1f} s")
    if report.quarantined:
        reasons = ", ".join(f"{reason}: {n}" for reason, n in report.quarantine_reasons.most_common())
        lines.append(f"quarantined {report.quarantined} input rows ({reasons}) -> {report.quarantine_path}")
    return lines
