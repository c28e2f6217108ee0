"""The execution workers: processes with one warm sandbox each, handed one candidate at a time as they free up.

A worker starts once (a fresh interpreter, ``spawn``: safe beside a GPU engine in the parent), opens the problems
table (an Arrow file, memory-mapped: every worker shares the page cache) and keeps one sandbox (for the fork-server:
one warm zygote) for all its candidates. The parent submits candidates one by one and gets each verdict back as soon
as it is ready: no candidate waits behind a pre-cut shard while a worker idles (``datasets.map(num_proc)`` cuts the
input into fixed contiguous shards). The worker, not the sandbox, holds the expected outputs: a program only ever
receives its code and its stdin.

A worker that dies (killed, out of memory) is replaced and its candidates are judged again; a candidate that kills
its worker twice is a ``sandbox_error`` (the executor failed, not the model). Workers ignore SIGINT: an interrupt is
the parent's to handle, and it ends them.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from builder.core import taxonomy as T
from builder.core.settings import ExecutionSettings

#: the candidate columns a worker needs (``language``: where the candidates have one; Python otherwise)
TASK_COLUMNS = ("candidate_id", "problem_id", "solution", "extraction", "language")

_WORKER: dict[str, Any] = {}


def _watch_parent(parent: int) -> None:
    """End this worker when the process that started it is gone (killed with -9: nothing else would end it)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _init_worker(settings: dict[str, Any], problems_path: str, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # ``parent`` comes from the parent: had it died while this worker started, os.getppid() would be init's
    threading.Thread(target=_watch_parent, args=(parent,), name="watch-parent", daemon=True).start()
    import pyarrow as pa

    from builder.sandbox import make_sandbox

    config = ExecutionSettings(**settings)
    # the problems as a memory-mapped Arrow table: every worker shares the page cache, nothing is parsed up front
    problems = pa.ipc.open_stream(pa.memory_map(problems_path)).read_all()
    ids = problems.column("problem_id").to_pylist()
    _WORKER.update(
        config=config,
        problems=problems,
        index={pid: i for i, pid in enumerate(ids)},
        sandbox=make_sandbox(config.sandbox, allow_unsandboxed=config.allow_unsandboxed),
        last=(None, None),
    )
    import atexit

    atexit.register(_WORKER["sandbox"].close)


def _ready() -> int:
    """A no-op task: submitted once per worker at start, so the workers start (and warm up) before candidates come."""
    return os.getpid()


def _problem(problem_id: str) -> dict[str, Any]:
    """The problem's row (the last one is kept: a problem's candidates come one after another)."""
    last_id, last = _WORKER["last"]
    if last_id == problem_id and last is not None:
        return last
    row = _WORKER["problems"].slice(_WORKER["index"][problem_id], 1).to_pylist()[0]
    _WORKER["last"] = (problem_id, row)
    return row


def _judge(task: dict[str, Any]) -> tuple[dict[str, Any], float, float]:
    """One candidate's verdict columns, and when the worker started and ended it (wall clock, for the summary)."""
    from builder.judge.execute import judge_candidate

    started = time.time()
    problem = _problem(task["problem_id"])
    solution = task["solution"] if task.get("extraction") != T.NO_CODE else None
    out = judge_candidate(solution, problem, _WORKER["sandbox"], _WORKER["config"], task.get("language"))
    out["source"] = problem.get("source")
    out["difficulty"] = problem.get("difficulty")
    return out, started, time.time()


def _lost(error: BaseException) -> dict[str, Any]:
    """The verdict of a candidate whose worker died twice under it: the executor failed."""
    return {
        "verdict": T.SANDBOX_ERROR, "tests_passed": 0, "tests_total": 0, "test_pass_rate": 0.0, "test_verdicts": [],
        "first_failed_test": -1, "failed_expected_head": None, "failed_actual_head": None,
        "failed_stderr_tail": f"the execution worker died: {type(error).__name__}: {error}"[:1000], "exception": None,
        "max_cpu_s": 0.0, "max_wall_s": 0.0, "peak_memory_mb": 0.0, "source": None, "difficulty": None,
    }


#: one worker's life, for other executors of the same workers (the Ray engine's execution actors,
#: :mod:`builder.ray_operators`): set up this process (problems, one warm sandbox), then judge task by task
init_worker, judge_task, lost_verdict = _init_worker, _judge, _lost


def worker_sandbox() -> dict[str, object]:
    """What this worker's sandbox reports about its isolation (``Sandbox.describe()``)."""
    return dict(_WORKER["sandbox"].describe())


Done = Callable[[Any, dict[str, Any], float, float], None]


class ExecutionPool:
    """``workers`` processes judging candidates; :meth:`submit` returns at once, ``done(tag, verdict, start, end)`` is
    called (in a background thread) when the candidate is judged."""

    def __init__(self, settings: ExecutionSettings, problems_path: Path, workers: int | None = None) -> None:
        self.settings = settings
        self.problems_path = str(problems_path)
        self.workers = max(1, workers or settings.workers)
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._attempts: dict[int, int] = {}
        self._outstanding = 0
        self._idle = threading.Condition(self._lock)
        self._closed = False

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.settings.model_dump(), self.problems_path, os.getpid()),
            )
        return self._executor

    def start(self) -> None:
        """Start every worker now (a no-op task each), so that their start-up overlaps what the caller does next."""
        with self._lock:
            executor = self._pool()
        for _ in range(self.workers):
            executor.submit(_ready)

    def submit(self, task: dict[str, Any], tag: Any, done: Done) -> None:
        with self._lock:
            self._outstanding += 1
        self._send(task, tag, done, attempt=1)

    def _send(self, task: dict[str, Any], tag: Any, done: Done, attempt: int) -> None:
        with self._lock:
            executor = self._pool()
        try:
            future = executor.submit(_judge, task)
        except (BrokenProcessPool, RuntimeError) as exc:
            self._replace(executor)
            self._retry(task, tag, done, attempt, exc)
            return
        future.add_done_callback(lambda f: self._finished(f, task, tag, done, attempt, executor))

    def _finished(self, future: Future, task: dict[str, Any], tag: Any, done: Done, attempt: int, executor: ProcessPoolExecutor) -> None:
        try:
            verdict, started, ended = future.result()
        except BrokenProcessPool as exc:  # a worker died: every candidate in flight comes back here
            self._replace(executor)
            self._retry(task, tag, done, attempt, exc)
            return
        except Exception as exc:  # noqa: BLE001 - judging itself failed: reported as the executor's failure
            verdict, started, ended = _lost(exc), time.time(), time.time()
        self._complete(tag, done, verdict, started, ended)

    def _retry(self, task: dict[str, Any], tag: Any, done: Done, attempt: int, error: BaseException) -> None:
        if self._closed:
            return
        if attempt >= 2:
            now = time.time()
            self._complete(tag, done, _lost(error), now, now)
        else:
            self._send(task, tag, done, attempt + 1)

    def _complete(self, tag: Any, done: Done, verdict: dict[str, Any], started: float, ended: float) -> None:
        try:
            done(tag, verdict, started, ended)
        finally:
            with self._lock:
                self._outstanding -= 1
                self._idle.notify_all()

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:
                self._executor = None
        broken.shutdown(wait=False, cancel_futures=True)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every submitted candidate is judged; False on timeout."""
        with self._lock:
            return self._idle.wait_for(lambda: self._outstanding == 0, timeout)

    def close(self, *, cancel: bool = False) -> None:
        """End the workers (and their sandboxes). ``cancel``: drop what is still queued (an interrupt)."""
        self._closed = True
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            if cancel:
                for process in list(getattr(executor, "_processes", {}).values()):
                    try:
                        os.kill(process.pid, signal.SIGTERM)
                    except (ProcessLookupError, OSError):
                        pass
            executor.shutdown(wait=True, cancel_futures=cancel)

    def __enter__(self) -> ExecutionPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(cancel=exc[0] is not None)
