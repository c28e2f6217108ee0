"""The streaming execution stage in-process: chunks judged by the worker pool, cached, logged and read back; work given
out as workers free up; a dead worker replaced; the judge importable without ``datasets`` (a worker's start-up)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from datasets import Dataset, Features

from builder.core import taxonomy as T
from builder.core.schema import EXTRACTION_FEATURES, GENERATION_FEATURES
from builder.core.settings import ExecutionSettings
from builder.judge.pool import TASK_COLUMNS, ExecutionPool
from builder.judge.stream import EVENTS, ChunkedExecution

ROOT = Path(__file__).resolve().parents[1]
FEATURES = Features({**GENERATION_FEATURES, **EXTRACTION_FEATURES})
SETTINGS = ExecutionSettings(workers=2, time_limit_s=2.0, memory_limit_mb=256)

DOUBLE = "print(int(input()) * 2)"
TRIPLE = "print(int(input()) * 3)"
SLEEPY = "import time\ntime.sleep(1.5)\nprint(int(input()) * 2)"


def problems() -> Dataset:
    return Dataset.from_list([
        {"problem_id": f"p{i}", "tests": [{"input": f"{i}\n", "output": f"{2 * i}\n"}, {"input": "5\n", "output": "10\n"}],
         "time_limit": None, "memory_limit": None, "source": "test", "difficulty": "easy"}
        for i in range(4)
    ])


def chunk(index: int, codes: list[str]) -> dict[str, list[Any]]:
    """Candidates of problem p<index>, one per code."""
    n = len(codes)
    return {
        "candidate_id": [f"p{index}_{k}" for k in range(n)], "problem_id": [f"p{index}"] * n,
        "candidate_index": list(range(n)), "language": ["python"] * n, "model": ["m"] * n, "response": [f"```python\n{c}\n```" for c in codes],
        "finish_reason": ["stop"] * n, "num_tokens": [1] * n, "reasoning": [None] * n, "solution": codes,
        "extraction": ["extracted"] * n,
    }


def events(folder: Path) -> list[tuple[str, str]]:
    return [(line.split()[0], line.split()[1]) for line in (folder / EVENTS).read_text().splitlines()]


def test_chunks_are_judged_written_logged_and_read_back(tmp_path: Path) -> None:
    probs = problems()
    chunks = [chunk(0, [DOUBLE, TRIPLE]), chunk(1, [DOUBLE, "", TRIPLE]), chunk(2, [DOUBLE])]
    chunks[1]["extraction"][1] = T.NO_CODE
    seen: list[str] = []
    with ChunkedExecution(probs, SETTINGS, tmp_path, FEATURES, on_verdict=seen.append) as execution:
        execution.start()
        keys = [execution.chunk_key(f"gen{i}", c["problem_id"]) for i, c in enumerate(chunks)]
        assert [execution.submit(k, c) for k, c in zip(keys, chunks)] == ["queued"] * 3
        judged = execution.result()
    assert judged["candidate_id"] == [cid for c in chunks for cid in c["candidate_id"]]  # submission order
    assert judged["verdict"] == [T.PASSED, T.WA, T.PASSED, T.NO_CODE, T.WA, T.PASSED]
    assert judged["source"] == ["test"] * 6 and judged["tests_total"] == [2, 2, 2, 2, 2, 2]
    assert sorted(seen) == sorted(judged["verdict"])
    log = events(tmp_path)
    assert {k for e, k in log if e == "judged"} == set(keys) and all((tmp_path / f"{k}.arrow").is_file() for k in keys)
    # "started" (a chunk's first verdict is in) comes before "judged" for chunks that needed a worker
    for key in keys[:2]:
        assert log.index(("started", key)) < log.index(("judged", key))
    assert execution.report.judged_chunks == 3 and execution.report.cached_chunks == 0

    # the same chunks again: read back from disk, no worker started
    with ChunkedExecution(probs, SETTINGS, tmp_path, FEATURES) as again:
        assert [again.submit(k, c) for k, c in zip(keys, chunks)] == ["cached"] * 3
        assert again.result()["verdict"] == judged["verdict"]
        assert again._pool is None
    assert [e for e, _ in events(tmp_path)][-3:] == ["cached"] * 3


def test_chunk_key_covers_limits_and_problems_but_not_workers(tmp_path: Path) -> None:
    probs = problems()
    key = ChunkedExecution(probs, SETTINGS, tmp_path, FEATURES).chunk_key("g", ["p0", "p0"])
    assert ChunkedExecution(probs, SETTINGS.model_copy(update={"workers": 7}), tmp_path, FEATURES).chunk_key("g", ["p0"]) == key
    assert ChunkedExecution(probs, SETTINGS.model_copy(update={"time_limit_s": 3.0}), tmp_path, FEATURES).chunk_key("g", ["p0"]) != key
    changed = probs.map(lambda r: {"tests": [{"input": "1\n", "output": "3\n"}] if r["problem_id"] == "p0" else r["tests"]})
    assert ChunkedExecution(changed, SETTINGS, tmp_path, FEATURES).chunk_key("g", ["p0"]) != key
    assert ChunkedExecution(changed, SETTINGS, tmp_path, FEATURES).chunk_key("g", ["p1"]) == (
        ChunkedExecution(probs, SETTINGS, tmp_path, FEATURES).chunk_key("g", ["p1"])
    )


def _problems_file(tmp_path: Path) -> Path:
    """The problems as the Arrow stream file workers memory-map."""
    import pyarrow as pa

    path = tmp_path / "problems.arrow"
    table = problems().with_format("arrow")[:]
    with pa.OSFile(str(path), "wb") as fh, pa.ipc.new_stream(fh, table.schema) as writer:
        writer.write_table(table)
    return path


def test_work_is_given_out_as_workers_free_up(tmp_path: Path) -> None:
    """A slow candidate first, then eight quick ones: the quick ones are all judged by the other worker while the slow
    one runs (a split made in advance would leave half of them waiting behind it)."""
    rows = chunk(1, [SLEEPY] + [DOUBLE] * 8)
    finished: dict[int, float] = {}
    lock = threading.Lock()

    def done(tag: int, verdict: dict[str, Any], started: float, ended: float) -> None:
        assert verdict["verdict"] == T.PASSED, verdict
        with lock:
            finished[tag] = ended

    with ExecutionPool(SETTINGS, _problems_file(tmp_path)) as pool:
        pool.start()
        for i in range(9):
            pool.submit({c: rows[c][i] for c in TASK_COLUMNS}, i, done)
        assert pool.wait(120)
    assert len(finished) == 9
    assert max(finished[i] for i in range(1, 9)) < finished[0], finished


def test_a_killed_worker_is_replaced_and_its_candidate_judged_again(tmp_path: Path) -> None:
    rows = chunk(1, [SLEEPY, DOUBLE])
    verdicts: dict[int, str] = {}

    def done(tag: int, verdict: dict[str, Any], started: float, ended: float) -> None:
        verdicts[tag] = verdict["verdict"]

    with ExecutionPool(SETTINGS, _problems_file(tmp_path)) as pool:
        pool.start()
        pool.wait(120)
        pool.submit({c: rows[c][0] for c in TASK_COLUMNS}, 0, done)
        time.sleep(0.5)  # the sleepy candidate is running in one of the workers
        executor = pool._executor
        assert executor is not None
        os.kill(next(iter(executor._processes.values())).pid, signal.SIGKILL)
        assert pool.wait(120)
        pool.submit({c: rows[c][1] for c in TASK_COLUMNS}, 1, done)  # the pool works on with fresh workers
        assert pool.wait(120)
    assert verdicts == {0: T.PASSED, 1: T.PASSED}


def test_the_judge_imports_without_datasets() -> None:
    """A worker imports the judge and the sandbox, not ``datasets`` (seconds of start-up on a loaded machine)."""
    code = "import sys, builder.judge.pool, builder.judge.execute, builder.sandbox; print('datasets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_tolerance_kinds_agree() -> None:
    from builder.core.schema import TOLERANCE_KINDS as SCHEMA_KINDS
    from builder.judge.compare import TOLERANCE_KINDS as JUDGE_KINDS

    assert JUDGE_KINDS == SCHEMA_KINDS


@pytest.mark.parametrize("pending", [1, 2])
def test_wait_below_returns_once_fewer_chunks_are_in_flight(tmp_path: Path, pending: int) -> None:
    probs = problems()
    with ChunkedExecution(probs, SETTINGS, tmp_path, FEATURES) as execution:
        for i in range(3):
            c = chunk(i, [SLEEPY if i == 0 else DOUBLE])
            execution.submit(execution.chunk_key(f"w{i}", c["problem_id"]), c)
        execution.wait_below(pending)
        assert execution.in_flight() < pending
        execution.result()


def test_a_renamed_source_or_difficulty_is_not_read_back_from_an_older_chunk(tmp_path: Path) -> None:
    """Stored verdict rows carry their problem's source and difficulty: those are in the chunk key with the judging
    fields, so a renamed source gives a new key (judged again) instead of old rows read back with the old name; a
    field that is in neither (the statement) keeps the key."""
    base = problems()
    renamed = base.map(lambda p: {"source": "renamed"})
    harder = base.map(lambda p: {"difficulty": "hard"})
    reworded = base.add_column("problem", ["a new statement"] * len(base))
    ids = ["p0", "p1"]

    def key(table: Dataset) -> str:
        return ChunkedExecution(table, SETTINGS, tmp_path / "v", FEATURES).chunk_key("candidates", ids)

    assert len({key(base), key(renamed), key(harder)}) == 3
    assert key(reworded) == key(base)
