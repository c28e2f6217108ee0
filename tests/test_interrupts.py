"""Ctrl-C and kill during a real `builder build` (vLLM engine, worker pool, sandboxes): one line, exit 130 (143 for
SIGTERM), no traceback, nothing the build started still running, no shared-memory or IPC files left, the finished
chunks kept.

The signal goes to the build's whole process group, as a terminal's Ctrl-C does. The run's processes are found by
following its process tree while it runs (a sandbox's processes are in sessions of their own, not in the group).
What a `kill -9` leaves, and how the next run cleans it up, is the killed build's check in test_build_e2e.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from process_watch import TreeWatch, engine_started, leaked_shm, start_time

ROOT = Path(__file__).resolve().parent.parent
LCB = ROOT / "tests" / "fixtures" / "lcb" / "problems.jsonl"
INTERRUPTED = "interrupted: finished chunks are kept in"


def _recipe(tmp_path: Path, model: Path, time_limit: float = 2.0) -> Path:
    recipe = tmp_path / "stop.toml"
    recipe.write_text(
        textwrap.dedent(
            f"""
            name = "stop"
            seed = 3

            [[sources]]
            kind = "local"
            path = "{LCB}"

            [model]
            path = "{model}"
            dtype = "float32"
            max_model_len = 1024
            kv_cache_memory_gb = 0.25

            [sampling]
            n = 2
            max_tokens = 48

            [generation]
            chunk_size = 1

            [execution]
            workers = 2
            time_limit_s = {time_limit}
            memory_limit_mb = 256
            """
        ),
        encoding="utf-8",
    )
    return recipe


def _judged(execute: Path) -> set[str]:
    """The keys of the chunks whose verdicts are on disk (``judged`` in the execution stage's log)."""
    log = execute / "events.log"
    lines = log.read_text(encoding="utf-8").splitlines() if log.is_file() else []
    return {line.split()[1] for line in lines if line.startswith("judged ")}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("when", "sig"),
    # each signal at one point (that both signals end a run alike is also the guarded script's check below); a chunk
    # is judged when its verdicts are on disk and the execution log says so (the folder holds other files before)
    [("engine start-up", signal.SIGINT), ("first chunk judged", signal.SIGTERM)],
)
def test_signal_ends_a_build_in_one_line(tiny_model: Path, tmp_path: Path, when: str, sig: signal.Signals) -> None:
    recipe = _recipe(tmp_path, tiny_model)
    work, dist = tmp_path / "work", tmp_path / "dist"
    before = {str(p) for p in Path("/dev/shm").iterdir()}
    cmd = [sys.executable, "-m", "builder", "build", "--recipe", str(recipe), "--dist-dir", str(dist), "--work-dir", str(work)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"}
    err = tmp_path / "stderr.txt"
    with err.open("wb") as err_file:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err_file, start_new_session=True)
        watch = TreeWatch(proc.pid)
        execute = work / "stop" / "execute"
        deadline = time.monotonic() + 900
        while True:
            assert proc.poll() is None, err.read_text()[-3000:]
            assert time.monotonic() < deadline, f"the build never reached {when}"
            if when == "engine start-up" and engine_started(watch):
                break
            if when == "first chunk judged" and _judged(execute):
                break
            time.sleep(0.05)
        chunks = _judged(execute)
        printed = err.stat().st_size
        os.killpg(proc.pid, sig)
        stopped = time.monotonic()
        proc.wait(120)
        took = time.monotonic() - stopped
    time.sleep(1)  # killed processes take a moment to be gone
    lines = err.read_text().splitlines()
    assert proc.returncode == 128 + sig, lines[-20:]
    assert lines and lines[-1].startswith(INTERRUPTED), lines[-20:]
    assert not any("Traceback" in line for line in lines), lines
    after = err.read_bytes()[printed:].decode().split("\n")
    assert len(after) <= 3, after  # the progress line ended, the interrupt line, nothing else
    assert watch.alive() == [], f"processes of the build still running {took:.0f} s after the signal"
    assert leaked_shm(before) == []
    assert not (work / "stop" / "ipc").exists() and not (work / "stop" / "resources.json").exists()
    if when == "first chunk judged":  # the verdicts finished before the signal are kept for the next run
        assert chunks and all((execute / f"{key}.arrow").is_file() for key in chunks)
    assert not (dist / "stop").exists()


GUARDED = """
import os, subprocess, sys, time
from builder.core.terminal import Interrupts

with Interrupts("stopped here", grace=float(sys.argv[1])) as interrupts:
    child = subprocess.Popen(["sleep", "600"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # not our pipes
    announced = False
    while True:  # a run stuck where the interrupt cannot end it (a library swallowing KeyboardInterrupt)
        try:
            if not announced:  # inside the try: a signal that comes right after the line is swallowed here too
                announced = True
                print(child.pid, flush=True)
            time.sleep(600)
        except KeyboardInterrupt:
            print("caught", flush=True)
"""


def test_a_run_that_ignores_the_interrupt_is_ended_after_the_grace_period(tmp_path: Path) -> None:
    script = tmp_path / "guarded.py"
    script.write_text(GUARDED, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(script), "1.0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    child = int(proc.stdout.readline())
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"still running 60 s after the signal (grace 1 s): {out!r} {err[-2000:]!r}") from None
    assert proc.returncode == 130 and out == "caught\n"
    assert err.splitlines() == ["stopped here"]
    assert start_time(child) is None  # the child it started is gone too


def test_a_second_signal_ends_the_run_at_once(tmp_path: Path) -> None:
    script = tmp_path / "guarded.py"
    script.write_text(GUARDED, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(script), "600"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    child = int(proc.stdout.readline())
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout.readline() == "caught\n"  # the first one was raised where the run was (and swallowed there)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143  # the first signal's code
    assert err.splitlines() == ["stopped here"]
    assert start_time(child) is None
