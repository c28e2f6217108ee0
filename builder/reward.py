"""An execution reward for RL trainers: every completion's program runs against its problem's tests in this project's
sandbox, and gets the reward ``[dataset] reward`` defines (:func:`builder.dataset.candidates.rewards`: the test pass
rate, or 1/0), the same quantity as the ``reward`` column of the ``candidates`` and ``kto`` configs.

:class:`ExecutionReward` is a TRL reward function (``GRPOTrainer(reward_funcs=reward)``): it is called with the
batch's ``completions`` and the dataset's columns as keyword arguments, and finds each completion's problem by its
``problem_id`` column in the problems it was made with (the ``problems`` config, or any normalized problems)::

    problems = load_dataset("dist/demo", "problems", split="train")
    with ExecutionReward(problems, workers=8) as reward:
        GRPOTrainer(model=..., reward_funcs=reward, train_dataset=problems, args=GRPOConfig(...)).train()

- **Judging** is the build's own: the final Python program is extracted from the completion
  (:func:`builder.extract.extract_response`; a completion may be text or a list of messages), and
  :func:`builder.judge.execute.judge_candidate` runs it against every test under the problem's limits. Nothing of a
  completion runs outside the sandbox: the reward's process only parses text.
- **A warm pool**: ``workers`` processes, started once as fresh interpreters (safe beside CUDA in the trainer; they
  import the builder, never the trainer's script), each with one sandbox (for the fork-server, one warm zygote) and
  the problems memory-mapped; the completions of a batch go to
  whichever worker is free. A worker that dies is replaced and its completion judged again; one that outlives the
  limits of every test of its completion is killed and replaced, and its completion is a ``sandbox_error``.
- **Never raises on a completion**: no code, garbage (not text, no messages), a crash, an endless loop, a sandbox
  failure: each gets a verdict, and a reward (0 for a model failure; None, which TRL reads as NaN and leaves out, for
  a ``sandbox_error``, which is not the model's fault). Only a misuse raises: a ``problem_id`` it does not know, no
  ``problem_id`` at all, a call after :meth:`close`.
- **Verdicts for logging**: through TRL's ``log_extra`` (columns ``verdict``, ``tests_passed``) and ``log_metric``
  (the share of each verdict in the batch), and as :attr:`ExecutionReward.last` (:class:`Judgement` per completion).
- **Released cleanly**: :meth:`close`, the context manager, or at the latest when the interpreter exits; workers also
  end on their own when the process holding the reward dies.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset

from builder.core import taxonomy as T
from builder.core.errors import UserError
from builder.core.schema import PROBLEM_FEATURES
from builder.core.settings import REWARDS, ExecutionSettings

#: seconds a worker may take to start (import, open the problems, start its sandbox)
START_TIMEOUT_S = 300.0
#: slack over the limits of every test of a completion before its worker is presumed stuck
STUCK_SLACK_S = 30.0


@dataclass(frozen=True)
class Judgement:
    """What one completion got: its reward and the verdict behind it."""

    reward: float | None
    verdict: str
    tests_passed: int = 0
    tests_total: int = 0
    #: the first failing test's uncaught exception class, or what went wrong in the executor
    detail: str | None = None


# --- completions -----------------------------------------------------------------------------------


def completion_text(completion: Any) -> str:
    """The text of a completion: a string as is; of messages (TRL's conversational format), the assistant contents
    (or every content when no message says its role); anything else is empty."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        completion = [completion]
    if not isinstance(completion, Sequence):
        return ""
    messages = [m for m in completion if isinstance(m, Mapping)]
    chosen = [m for m in messages if m.get("role") == "assistant"] or [m for m in messages if "role" not in m]
    return "".join(_content_text(m.get("content")) for m in chosen)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):  # content parts: [{"type": "text", "text": ...}, ...]
        return "".join(p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    return ""


def program_of(completion: Any) -> str | None:
    """The final Python program of a completion, or None (no code)."""
    from builder.extract import extract_response

    try:
        code = extract_response(completion_text(completion)).code
    except Exception:  # noqa: BLE001 - a completion that breaks the parser has no code we can run
        return None
    return code if code and code.strip() else None


# --- the workers -----------------------------------------------------------------------------------


def _verdict_only(verdict: str, detail: str | None = None, tests_total: int = 0) -> dict[str, Any]:
    return {"verdict": verdict, "tests_passed": 0, "tests_total": tests_total, "test_pass_rate": 0.0, "detail": detail}


def _worker_main(fd: int) -> None:
    """A worker (``python -c`` of the reward's process): one sandbox, the problems memory-mapped; judges
    ``(key, problem_id, code)`` until told to stop (None) or until the reward's end of the socket closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # an interrupt is the trainer's to handle; it closes the pool
    conn = Connection(fd)
    sandbox = None
    try:
        settings, problems_path = conn.recv()
        from builder.judge.execute import judge_candidate
        from builder.sandbox import make_sandbox

        config = ExecutionSettings(**settings)
        problems = Dataset.from_file(problems_path)
        index = {pid: i for i, pid in enumerate(problems["problem_id"])}
        sandbox = make_sandbox(config.sandbox, allow_unsandboxed=config.allow_unsandboxed)
        conn.send(("ready", dict(sandbox.describe())))
        problem: dict[str, Any] | None = None
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            if message is None:
                break
            key, problem_id, code = message
            try:
                if problem is None or problem["problem_id"] != problem_id:
                    problem = problems[index[problem_id]]
                out = judge_candidate(code, problem, sandbox, config)
                result = {k: out[k] for k in ("verdict", "tests_passed", "tests_total", "test_pass_rate")}
                result["detail"] = out.get("exception")
            except Exception as exc:  # noqa: BLE001 - the executor failed, not the program
                result = _verdict_only(T.SANDBOX_ERROR, f"{type(exc).__name__}: {exc}"[:500])
            conn.send((key, result))
    except Exception as exc:  # noqa: BLE001 - a worker that cannot start says why
        try:
            conn.send(("failed", f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"))
        except OSError:
            pass
    finally:
        if sandbox is not None:
            sandbox.close()
        conn.close()


#: what a worker runs: a fresh interpreter that imports only the builder (never the trainer's script, as
#: ``multiprocessing``'s spawn would: a script without an ``if __name__ == "__main__"`` guard works too)
_BOOT = "import sys; from builder.reward import _worker_main; _worker_main(int(sys.argv[1]))"


class _Worker:
    def __init__(self, settings: dict[str, Any], problems_path: str) -> None:
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)}  # the reward's imports
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(theirs.fileno())], pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL
            )
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        self.conn.send((settings, problems_path))
        self.description: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def ready(self, timeout: float) -> None:
        if not self.conn.poll(timeout):
            self.kill()
            raise UserError(f"a reward worker did not start within {timeout:g} s")
        try:
            kind, payload = self.conn.recv()
        except (EOFError, OSError):
            self.kill()
            raise UserError("a reward worker died while starting") from None
        if kind != "ready":
            self.kill()
            raise UserError(f"a reward worker could not start: {payload}")
        self.description = payload

    def stop(self, timeout: float = 30.0) -> None:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait()
        self.conn.close()


def _stop_all(workers: list[_Worker], folder: tempfile.TemporaryDirectory[str] | None) -> None:
    for worker in workers:
        try:
            worker.conn.send(None)
        except OSError:
            pass
    for worker in workers:
        worker.stop()
    workers.clear()
    if folder is not None:
        folder.cleanup()


# --- the reward function ---------------------------------------------------------------------------


def _problems_table(problems: Dataset | str | os.PathLike[str]) -> Dataset:
    if not isinstance(problems, Dataset):
        from datasets import load_dataset

        problems = load_dataset(str(problems), "problems", split="train")
    missing = [c for c in ("problem_id", "tests") if c not in problems.column_names]
    if missing:
        raise UserError(f"the problems for the reward lack column(s) {', '.join(missing)}")
    return problems.select_columns([c for c in PROBLEM_FEATURES if c in problems.column_names])


class ExecutionReward:
    """A TRL reward function that runs completions against their problems' tests in a warm pool of sandboxes.

    ``problems``: a ``datasets.Dataset`` of problems (the ``problems`` config, or normalized problems), or where to
    load the ``problems`` config from (a built ``dist/<name>`` folder or a Hub id). ``execution``: the limits and the
    sandbox, as for the build (default: each problem's own limits, 10 s / 1024 MB where it states none, the strongest
    isolation here); ``workers`` overrides its worker count. ``reward``: ``"pass_rate"`` or ``"binary"``.
    """

    __name__ = "execution_reward"  # what TRL logs the reward as

    def __init__(
        self,
        problems: Dataset | str | os.PathLike[str],
        *,
        execution: ExecutionSettings | None = None,
        workers: int | None = None,
        reward: str = "pass_rate",
    ) -> None:
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {', '.join(REWARDS)}, got {reward!r}")
        self.reward_kind = reward
        self.execution = execution or ExecutionSettings()
        self.workers = max(1, workers or self.execution.workers)
        self.last: list[Judgement] = []
        table = _problems_table(problems)
        self._budget = self._time_budgets(table)
        self._folder: tempfile.TemporaryDirectory[str] | None = tempfile.TemporaryDirectory(prefix="builder-reward-")
        path = Path(self._folder.name) / "problems.arrow"
        arrow = table.with_format("arrow")[:]
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, arrow.schema) as writer:
            writer.write_table(arrow)
        self._path = str(path)
        self._pool: list[_Worker] = []
        self._finalizer = weakref.finalize(self, _stop_all, self._pool, self._folder)
        try:
            self._pool.extend(_Worker(self.execution.model_dump(), self._path) for _ in range(self.workers))
            for worker in self._pool:
                worker.ready(START_TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    def _time_budgets(self, table: Dataset) -> dict[str, float]:
        """Per problem, the most a completion may take: every test at its wall-clock limit, every attempt, plus slack."""
        from builder.judge.limits import limits_for

        arrow = table.with_format("arrow").select_columns(
            [c for c in ("problem_id", "time_limit", "memory_limit") if c in table.column_names] + ["tests"]
        )[:]
        counts = pc.fill_null(pc.list_value_length(arrow["tests"]), 0).to_pylist()
        rows = arrow.drop_columns(["tests"]).to_pylist()
        self._tests = {row["problem_id"]: n for row, n in zip(rows, counts)}
        attempts = 1 + self.execution.retries
        return {
            row["problem_id"]: n * attempts * limits_for(row, self.execution).wall + STUCK_SLACK_S
            for row, n in zip(rows, counts)
        }

    # -- the pool ------------------------------------------------------------------------------------

    def _replace(self, worker: _Worker) -> _Worker:
        worker.kill()
        fresh = _Worker(self.execution.model_dump(), self._path)
        fresh.ready(START_TIMEOUT_S)
        self._pool[self._pool.index(worker)] = fresh
        return fresh

    def _run(self, tasks: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """Judge ``(problem_id, code)`` tasks on the pool, each on the first free worker; results in task order."""
        results: list[dict[str, Any] | None] = [None] * len(tasks)
        pending = deque(range(len(tasks)))
        attempts: Counter[int] = Counter()
        idle = list(self._pool)
        busy: dict[Connection, tuple[_Worker, int, float]] = {}

        def lost(worker: _Worker, key: int, why: str) -> None:
            idle.append(self._replace(worker))
            attempts[key] += 1
            if attempts[key] < 2:
                pending.appendleft(key)
            else:
                results[key] = _verdict_only(T.SANDBOX_ERROR, why)

        while pending or busy:
            while pending and idle:
                worker, key = idle.pop(), pending.popleft()
                problem_id, code = tasks[key]
                try:
                    worker.conn.send((key, problem_id, code))
                except OSError:
                    lost(worker, key, "the reward worker died")
                    continue
                busy[worker.conn] = (worker, key, time.monotonic() + self._budget[problem_id])
            if not busy:
                continue
            timeout = max(0.0, min(deadline for _, _, deadline in busy.values()) - time.monotonic())
            for conn in wait(list(busy), timeout):
                worker, key, _ = busy.pop(conn)  # type: ignore[index]
                try:
                    answered, result = worker.conn.recv()
                except (EOFError, OSError):
                    lost(worker, key, "the reward worker died")
                    continue
                results[answered] = result
                idle.append(worker)
            now = time.monotonic()
            for conn, (worker, key, deadline) in list(busy.items()):
                if now > deadline:  # the sandbox should have stopped it long ago: the executor is stuck
                    del busy[conn]
                    idle.append(self._replace(worker))
                    results[key] = _verdict_only(T.SANDBOX_ERROR, "the reward worker was stuck past every limit")
        return [r if r is not None else _verdict_only(T.SANDBOX_ERROR) for r in results]

    # -- the reward ----------------------------------------------------------------------------------

    def judge(self, completions: Sequence[Any], problem_ids: Sequence[str]) -> list[Judgement]:
        """A :class:`Judgement` per completion (``problem_ids[i]`` is the problem of ``completions[i]``)."""
        if not self._pool:
            raise RuntimeError("this ExecutionReward is closed")
        if len(completions) != len(problem_ids):
            raise ValueError(f"{len(completions)} completions but {len(problem_ids)} problem ids")
        unknown = sorted({str(p) for p in problem_ids if p not in self._budget})
        if unknown:
            raise KeyError(f"problem_id(s) not among the reward's problems: {', '.join(unknown[:5])}")
        results: list[dict[str, Any]] = []
        tasks, where = [], []
        for i, (completion, problem_id) in enumerate(zip(completions, problem_ids)):
            code = program_of(completion)
            results.append(_verdict_only(T.NO_CODE, tests_total=self._tests[problem_id]))
            if code is not None:
                tasks.append((problem_id, code))
                where.append(i)
        for i, result in zip(where, self._run(tasks)):
            results[i] = result
        from builder.dataset.candidates import rewards

        values = rewards(
            pa.array([r["verdict"] for r in results], pa.string()),
            pa.array([r["test_pass_rate"] for r in results], pa.float64()),
            self.reward_kind,
        ).to_pylist()
        return [
            Judgement(reward=v, verdict=r["verdict"], tests_passed=r["tests_passed"], tests_total=r["tests_total"], detail=r["detail"])
            for v, r in zip(values, results)
        ]

    def __call__(
        self,
        completions: Sequence[Any],
        problem_id: Sequence[str] | None = None,
        log_extra: Any = None,
        log_metric: Any = None,
        **_columns: Any,
    ) -> list[float | None]:
        """TRL's reward-function signature: one reward per completion (None for a ``sandbox_error``)."""
        if problem_id is None:
            raise ValueError("ExecutionReward needs the dataset's problem_id column (train on the problems config)")
        self.last = self.judge(completions, problem_id)
        if log_extra is not None:
            log_extra("verdict", [j.verdict for j in self.last])
            log_extra("tests_passed", [f"{j.tests_passed}/{j.tests_total}" for j in self.last])
        if log_metric is not None and self.last:
            counts = Counter(j.verdict for j in self.last)
            for verdict in T.VERDICTS:
                log_metric(f"execution/{verdict}", counts[verdict] / len(self.last))
        return [j.reward for j in self.last]

    def describe(self) -> dict[str, Any]:
        """The isolation the workers' sandboxes reached (as ``Sandbox.describe()``)."""
        return dict(self._pool[0].description) if self._pool else {}

    def close(self) -> None:
        """End the workers and their sandboxes; the reward cannot be called after."""
        self._finalizer()

    def __enter__(self) -> ExecutionReward:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> Any:
        raise TypeError("an ExecutionReward holds worker processes: create it in the process that calls it")
