"""Execution in chunks, as they arrive: every chunk's verdicts judged by the worker pool and cached on disk.

:class:`ChunkedExecution` takes chunks of extracted candidates (from generation as each chunk finishes, or from a
file ``builder verify`` reads) and returns at once; the pool (:mod:`builder.judge.pool`) judges them candidate by
candidate while the caller goes on (the engine generates the next chunk). When a chunk's last verdict is in, the
chunk is written atomically to ``<folder>/<key>.arrow`` and logged in ``<folder>/events.log``. Its key
(:mod:`builder.core.caching`) covers what decides the verdicts: the chunk's candidates (the generation chunk's key, or
the rows' fingerprint), the judging fields of their problems (tests, limits, checker, tolerance), the execution
settings and the code of the judge, the sandbox and the extractor. A build killed at any moment and run again judges
only the chunks that had not finished; a changed limit judges again without generating again.

:meth:`ChunkedExecution.result` is the judged candidates of every chunk, in submission order, as one memory-mapped
Dataset: nothing of it is held in Python objects, so the parent's memory stays flat however many chunks there are.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from datasets import Dataset, Features, concatenate_datasets

from builder.core.caching import code_hash, fingerprint
from builder.core.schema import CONTEXT_FEATURES, VERDICT_FEATURES
from builder.core.settings import ExecutionSettings
from builder.judge.pool import TASK_COLUMNS, ExecutionPool

EVENTS = "events.log"
#: the problem columns that decide a verdict (any change judges again)
JUDGING_COLUMNS = (
    "problem_id", "tests", "time_limit", "memory_limit", "float_tolerance", "checker", "case_insensitive", "test_type",
    "fn_name", "functional_match", "tolerance_kind", "checker_language", "checker_protocol", "interactor",
    "interactor_language", "interactor_protocol", "judge_files",
)


def judge_code_version() -> str:
    """The code that decides verdicts: the judge, the sandbox and the extractor."""
    here = Path(__file__).resolve().parent
    return code_hash(*sorted(here.glob("*.py")), *sorted((here.parent / "sandbox").glob("*.py")), here.parent / "extract.py")


def settings_key(settings: ExecutionSettings) -> dict[str, Any]:
    """The execution settings that decide verdicts (not how many workers judge them)."""
    return settings.model_dump(exclude={"workers"})


def verdict_table(features: Features, rows: dict[str, list[Any]], verdicts: list[dict[str, Any]]) -> pa.Table:
    """A judged chunk as written to disk: the candidate columns of ``features`` from ``rows``, then the verdict and
    context columns from ``verdicts`` (one per row, in order). The Ray engine's execution actors write their shards
    with it too (:mod:`builder.ray_operators`)."""
    columns = {name: list(rows[name]) for name in features if name in rows}
    for name in (*VERDICT_FEATURES, *CONTEXT_FEATURES):
        columns[name] = [v[name] for v in verdicts]
    return pa.Table.from_pydict({name: columns.get(name, [None] * len(verdicts)) for name in features}, schema=features.arrow_schema)


def write_arrow(path: Path, table: pa.Table) -> None:
    """An Arrow stream file (what ``Dataset.from_file`` memory-maps), written to a temporary name, then renamed."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            with pa.ipc.new_stream(fh, table.schema) as writer:
                writer.write_table(table)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class Intervals:
    """Busy time as a union of wall-clock intervals (what the summary's overlap figures are made of)."""

    spans: list[tuple[float, float]] = field(default_factory=list)

    def add(self, start: float, end: float) -> None:
        if end > start:
            self.spans.append((start, end))

    def merged(self) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for start, end in sorted(self.spans):
            if out and start <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], end))
            else:
                out.append((start, end))
        return out

    def total(self) -> float:
        return sum(end - start for start, end in self.merged())

    def overlap(self, other: Intervals) -> float:
        a, b, i, j, total = self.merged(), other.merged(), 0, 0, 0.0
        while i < len(a) and j < len(b):
            total += max(0.0, min(a[i][1], b[j][1]) - max(a[i][0], b[j][0]))
            if a[i][1] < b[j][1]:
                i += 1
            else:
                j += 1
        return total


@dataclass
class ExecutionReport:
    """What the execution stage did."""

    chunks: int = 0
    judged_chunks: int = 0  # chunks the workers judged in this run
    cached_chunks: int = 0  # chunks whose verdicts were on disk
    candidates: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    #: union of the intervals during which at least one worker judged
    busy: Intervals = field(default_factory=Intervals)
    #: the workers' summed judging time (CPU-bound: the pool's work)
    worker_s: float = 0.0


class _Chunk:
    def __init__(self, key: str, rows: dict[str, list[Any]], size: int) -> None:
        self.key = key
        self.rows = rows
        self.verdicts: list[dict[str, Any] | None] = [None] * size
        self.missing = size


class ChunkedExecution:
    """Judge chunks of candidates as they come; see the module docstring."""

    def __init__(
        self,
        problems: Dataset,
        settings: ExecutionSettings,
        folder: Path,
        candidate_features: Features,
        *,
        on_verdict: Callable[[str], None] | None = None,
        on_chunk: Callable[[str, str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.features = Features({**{k: v for k, v in candidate_features.items() if k not in VERDICT_FEATURES and k not in CONTEXT_FEATURES}, **VERDICT_FEATURES, **CONTEXT_FEATURES})
        self.schema = self.features.arrow_schema
        self.on_verdict = on_verdict
        self.on_chunk = on_chunk
        self.report = ExecutionReport()
        self._problems = problems
        self._problem_digests: dict[str, str] | None = None
        self._problems_path: Path | None = None
        self._pool: ExecutionPool | None = None
        self._order: list[str] = []
        self._pending: dict[str, _Chunk] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._errors: list[BaseException] = []
        self._version = fingerprint("judge", judge_code_version(), settings_key(settings))
        # finished chunks are written (and events logged) by a thread of their own, so the thread that gets the
        # workers' results and hands them the next candidates never waits on the disk
        self._writes: queue.SimpleQueue[tuple[str, _Chunk] | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None

    # -- keys -------------------------------------------------------------------------------------------------
    def chunk_key(self, source_key: str, problem_ids: Iterable[str]) -> str:
        """The verdict key of a chunk: its candidates' key, its problems' judging fields and the problem columns its
        stored rows carry (``CONTEXT_FEATURES``: source, difficulty), settings and code. Without the latter, a chunk
        judged before a problem's source was renamed was read back with the old name."""
        if self._problem_digests is None:
            columns = [c for c in (*JUDGING_COLUMNS, *CONTEXT_FEATURES) if c in self._problems.column_names]
            judging = self._problems.select_columns(columns)
            self._problem_digests = {
                row["problem_id"]: fingerprint("problem", row, length=16) for row in judging
            }
        digests = sorted({self._problem_digests[pid] for pid in problem_ids})
        return fingerprint("verdicts", source_key, digests, self._version)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.arrow"

    # -- submitting ---------------------------------------------------------------------------------------------
    def submit(self, key: str, rows: dict[str, list[Any]]) -> str:
        """Judge one chunk (``rows``: candidate columns incl. ``solution`` and ``extraction``); returns "cached" or
        "queued" at once."""
        self._order.append(key)
        size = len(rows["candidate_id"])
        self.report.chunks += 1
        self.report.candidates += size
        if self.path(key).is_file():
            self.report.cached_chunks += 1
            self._log("cached", key, size)
            for verdict in Dataset.from_file(str(self.path(key)))["verdict"]:
                self._count(verdict)
            if self.on_chunk:
                self.on_chunk("cached", key)
            return "cached"
        chunk = _Chunk(key, rows, size)
        with self._lock:
            self._pending[key] = chunk
        if size == 0:
            self._finish(chunk)
            return "queued"
        pool = self._ensure_pool()
        for i in range(size):
            task = {c: rows[c][i] for c in TASK_COLUMNS if c in rows}
            pool.submit(task, (key, i), self._done)
        return "queued"

    def start(self) -> None:
        """Start the workers now (each warms up its sandbox) rather than at the first chunk that needs them."""
        self._ensure_pool().start()

    def _ensure_pool(self) -> ExecutionPool:
        if self._pool is None:
            self._problems_path = self.problems_file()
            self._pool = ExecutionPool(self.settings, self._problems_path)
            self._writer = threading.Thread(target=self._write_loop, name="verdict-writer", daemon=True)
            self._writer.start()
        return self._pool

    def problems_file(self) -> Path:
        """The problems as one Arrow file the workers memory-map (written once per content)."""
        path = self.folder / f"problems-{fingerprint('problems', self._problems, length=16)}.arrow"
        if not path.is_file():
            self._write(path, self._problems.with_format("arrow")[:])
        return path

    def _done(self, tag: tuple[str, int], verdict: dict[str, Any], started: float, ended: float) -> None:
        key, i = tag
        with self._lock:
            chunk = self._pending.get(key)
            if chunk is None or chunk.verdicts[i] is not None:
                return
            chunk.verdicts[i] = verdict
            first = chunk.missing == len(chunk.verdicts)
            chunk.missing -= 1
            self.report.busy.add(started, ended)
            self.report.worker_s += ended - started
            complete = chunk.missing == 0
        self._count(verdict["verdict"])
        if first:
            self._writes.put(("started", chunk))
        if complete:
            self._writes.put(("finish", chunk))

    def _write_loop(self) -> None:
        while (item := self._writes.get()) is not None:
            event, chunk = item
            try:
                if event == "started":
                    self._log("started", chunk.key, len(chunk.verdicts))
                else:
                    self._finish(chunk)
            except BaseException as exc:  # noqa: BLE001 - surfaced by wait_below()/result() in the caller's thread
                with self._lock:
                    self._errors.append(exc)
                    self._changed.notify_all()

    def _count(self, verdict: str) -> None:
        self.report.verdicts[verdict] += 1
        if self.on_verdict:
            self.on_verdict(verdict)

    def _finish(self, chunk: _Chunk) -> None:
        self._write(self.path(chunk.key), verdict_table(self.features, chunk.rows, chunk.verdicts))  # type: ignore[arg-type]
        self._log("judged", chunk.key, len(chunk.verdicts))
        with self._lock:
            self._pending.pop(chunk.key, None)
            self.report.judged_chunks += 1
            self._changed.notify_all()
        if self.on_chunk:
            self.on_chunk("judged", chunk.key)

    def _write(self, path: Path, table: pa.Table) -> None:
        write_arrow(path, table)

    def _log(self, event: str, key: str, candidates: int) -> None:
        with (self.folder / EVENTS).open("a", encoding="utf-8") as fh:
            fh.write(f"{event} {key} candidates={candidates}\n")

    # -- waiting ------------------------------------------------------------------------------------------------
    def in_flight(self) -> int:
        with self._lock:
            return len(self._pending)

    def wait_below(self, chunks: int, timeout: float | None = None) -> None:
        """Back-pressure: wait while ``chunks`` or more chunks are still being judged."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while len(self._pending) >= chunks and not self._errors:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return
                self._changed.wait(remaining if remaining is not None else 1.0)
            self._raise()

    def _raise(self) -> None:
        if self._errors:
            raise self._errors[0]

    def result(self) -> Dataset:
        """Every chunk judged, in submission order, as one memory-mapped Dataset."""
        self.wait_below(1)
        parts = [Dataset.from_file(str(self.path(key))) for key in self._order]
        if not parts:
            return Dataset.from_dict({k: [] for k in self.features}, features=self.features)
        return concatenate_datasets(parts) if len(parts) > 1 else parts[0]

    def close(self, *, cancel: bool = False) -> None:
        if self._pool is not None:
            self._pool.close(cancel=cancel)
            self._pool = None
        if self._writer is not None:
            self._writes.put(None)
            self._writer.join()
            self._writer = None

    def __enter__(self) -> ChunkedExecution:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(cancel=exc[0] is not None)
