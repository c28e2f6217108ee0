"""Ctrl-C and kill during a real `builder build` (vLLM engine, worker pool, sandboxes): one line, exit 130 (143 for
SIGTERM), no traceback, nothing the build started still running, no shared-memory or IPC files left, the finished
chunks kept.

The signal goes to the build's whole process group, as a terminal's Ctrl-C does. The run's processes are found by
following its process tree while it runs (a sandbox's processes are in sessions of their own, not in the group).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from builder.core.terminal import _mapped_shm

ROOT = Path(__file__).resolve().parent.parent
LCB = ROOT / "tests" / "fixtures" / "lcb" / "problems.jsonl"
INTERRUPTED = "interrupted: finished chunks are kept in"


def _start_time(pid: int) -> str | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return None if fields[0] == "Z" else fields[19]


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        out.setdefault(ppid, []).append(int(stat.parent.name))
    return out


class TreeWatch:
    """Every process under ``root`` while it runs (pid and start time: a reused pid is not the same process)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.seen: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            children = _children()
            todo = [self.root]
            while todo:
                for child in children.get(todo.pop(), []):
                    if child not in self.seen:
                        started = _start_time(child)
                        if started is not None:
                            self.seen[child] = started
                            todo.append(child)
                    else:
                        todo.append(child)
            time.sleep(0.05)

    def alive(self) -> list[str]:
        self._stop.set()
        self._thread.join()
        left = []
        for pid, started in self.seen.items():
            if _start_time(pid) == started:
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:120]
                except OSError:
                    continue
                left.append(f"{pid} {cmdline!r}")
        return left


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


def _engine_started(watch: TreeWatch) -> bool:
    for pid in list(watch.seen):
        try:
            if b"EngineCor" in Path(f"/proc/{pid}/comm").read_bytes():
                return True
        except OSError:
            continue
    return False


def _leaked_shm(before: set[str]) -> list[str]:
    """Files new in /dev/shm since ``before`` that no live process maps: what a run left behind."""
    new = {str(p) for p in Path("/dev/shm").iterdir() if p.name.startswith(("psm_", "sem.loky"))} - before
    return sorted(new - _mapped_shm())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("when", "sig"),
    [("engine start-up", signal.SIGINT), ("first chunk judged", signal.SIGINT), ("first chunk judged", signal.SIGTERM)],
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
            if when == "engine start-up" and _engine_started(watch):
                break
            if when == "first chunk judged" and execute.is_dir() and any(execute.glob("*.arrow")):
                break
            time.sleep(0.05)
        chunks = sorted(p.name for p in execute.glob("*.arrow")) if execute.is_dir() else []
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
    assert _leaked_shm(before) == []
    assert not (work / "stop" / "ipc").exists() and not (work / "stop" / "resources.json").exists()
    if chunks:  # the verdicts finished before the signal are kept for the next run
        assert set(chunks) <= {p.name for p in execute.glob("*.arrow")}
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
    assert _start_time(child) is None  # the child it started is gone too


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
    assert _start_time(child) is None


@pytest.mark.slow
def test_the_next_run_cleans_up_after_a_killed_one(tiny_model: Path, tmp_path: Path) -> None:
    """kill -9 leaves the engine's shared memory behind (nothing can run at a SIGKILL); the next run of the same
    build removes it (only the killed run's own files), and every process of the killed run ends by itself."""
    recipe = _recipe(tmp_path, tiny_model)
    work, dist = tmp_path / "work", tmp_path / "dist"
    before = {str(p) for p in Path("/dev/shm").iterdir()}
    cmd = [sys.executable, "-m", "builder", "build", "--recipe", str(recipe), "--dist-dir", str(dist), "--work-dir", str(work)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    watch = TreeWatch(proc.pid)
    execute = work / "stop" / "execute"
    deadline = time.monotonic() + 900
    while not (execute.is_dir() and any(execute.glob("*.arrow"))):
        assert proc.poll() is None and time.monotonic() < deadline, "the build never judged a chunk"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(60)
    settle = time.monotonic() + 30
    while watch.alive() and time.monotonic() < settle:  # orphans notice their parent is gone and end
        time.sleep(0.5)
    assert watch.alive() == [], "processes of the killed build are still running 30 s after it"
    left = _leaked_shm(before)
    engine_folders = list(Path(tempfile.gettempdir()).glob(f"builder-vllm-{proc.pid}-*"))

    rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    if left:
        assert f"removed {len(left)} shared-memory files a killed run of stop left behind" in rerun.stderr
    assert _leaked_shm(before) == []
    assert all(not folder.exists() for folder in engine_folders)
    print(f"killed run left {len(left)} shared-memory files and {len(engine_folders)} engine folders; the rerun removed them")
