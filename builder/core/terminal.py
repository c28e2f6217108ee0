"""What a run prints, and what it leaves behind.

:func:`run_output` keeps the terminal for the run's own progress display and stage lines: while it is active, everything
else written to standard output or error — the libraries' log lines and bars (vLLM, ``datasets``, ``transformers``,
``torch``), C-level messages, the engine's child processes — goes to a log file in the work folder (``-v``,
``VERBOSITY`` 2, leaves the terminal alone).

:class:`RunResources` makes a run clean up after itself and after a killed run of the same build: the vLLM engine
leaves shared-memory segments (``/dev/shm/psm_*``, ~160–250 MB each, even on a normal exit), loky semaphores
(``/dev/shm/sem.loky-<pid>-*``) and IPC sockets behind. The run records which of them belong to its own processes
(the segments its processes map, the semaphores named after its processes, an IPC folder of its own in the work
folder); the next run of the same build removes what a dead run recorded and no live process uses. Only its own:
another program's files are never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from builder.core import progress

SHM = Path("/dev/shm")


@contextmanager
def run_output(log_path: Path) -> Iterator[TextIO]:
    """Send the process's (and its children's) stdout and stderr to ``log_path``; yield a stream on the terminal."""
    if progress.VERBOSITY >= 2:
        yield sys.stderr
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved_err), "w", buffering=1, encoding=sys.stderr.encoding or "utf-8", errors="replace")
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    env = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TQDM_DISABLE": None}
    old_env = {k: os.environ.get(k) for k in env}
    import datasets

    bars = datasets.is_progress_bar_enabled()
    try:
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        datasets.disable_progress_bars()
        yield terminal
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        for fd in (saved_out, saved_err, log):
            os.close(fd)
        terminal.close()
        for key, value in old_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if bars:
            datasets.enable_progress_bars()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _mapped_shm(pids: set[int] | None = None) -> set[str]:
    """Shared-memory files under /dev/shm that these processes (every process when None) map or hold open."""
    out: set[str] = set()
    targets = pids if pids is not None else {int(e) for e in os.listdir("/proc") if e.isdigit()}
    for pid in targets:
        try:
            with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if " /dev/shm/" in line:
                        out.add(line.rsplit(" ", 1)[-1].strip().removesuffix(" (deleted)"))
        except OSError:
            continue
    return out


class RunResources:
    """The files of one build's processes that could outlive a kill; see the module docstring."""

    def __init__(self, work_dir: Path) -> None:
        self.record = Path(work_dir) / "resources.json"
        self.ipc_dir = Path(work_dir) / "ipc"
        self.pids: set[int] = set()
        self.files: set[str] = set()

    def clean_after_dead_run(self) -> list[str]:
        """Remove what a run of this build that died recorded and no live process uses; the paths removed."""
        if not self.record.is_file():
            return []
        try:
            data = json.loads(self.record.read_text(encoding="utf-8"))
        except ValueError:
            data = {}
        if _alive(int(data.get("pid", 0))) and int(data.get("pid", 0)) != os.getpid():
            return []  # that run is still going
        removed = self._remove(set(data.get("files", [])), set(data.get("pids", [])))
        shutil.rmtree(self.ipc_dir, ignore_errors=True)
        self.record.unlink(missing_ok=True)
        return removed

    def start(self) -> dict[str, str]:
        """Begin recording; the environment variables that keep the engine's IPC files in the run's own folder."""
        self.ipc_dir.mkdir(parents=True, exist_ok=True)
        self.pids = {os.getpid()}
        self.update()
        return {"VLLM_RPC_BASE_PATH": str(self.ipc_dir)}

    def update(self) -> None:
        """Note this run's processes and the shared-memory files they use (called as the run goes)."""
        self.pids |= _descendants(os.getpid())
        self.files |= _mapped_shm(self.pids)
        self.files |= {str(p) for p in SHM.glob("sem.loky-*") if p.name.split("-")[1].isdigit() and int(p.name.split("-")[1]) in self.pids}
        tmp = self.record.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "pids": sorted(self.pids), "files": sorted(self.files)}), encoding="utf-8")
        os.replace(tmp, self.record)

    def finish(self) -> list[str]:
        """After the run (normal end or interrupt): remove its leftovers no live process uses."""
        self.update()
        removed = self._remove(self.files, self.pids - {os.getpid()})
        shutil.rmtree(self.ipc_dir, ignore_errors=True)
        self.record.unlink(missing_ok=True)
        return removed

    @staticmethod
    def _remove(files: set[str], pids: set[int]) -> list[str]:
        in_use = _mapped_shm()
        removed = []
        for name in sorted(files):
            path = Path(name)
            if not str(path).startswith(str(SHM) + "/") or name in in_use or not path.exists():
                continue
            if path.name.startswith("sem.loky-"):
                owner = path.name.split("-")[1]
                if owner.isdigit() and _alive(int(owner)) and int(owner) not in pids:
                    continue
            try:
                path.unlink()
                removed.append(name)
            except OSError:
                pass
        return removed
