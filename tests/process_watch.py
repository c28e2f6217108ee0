"""What a run started, followed while it runs: every process of its tree (sandboxes run in sessions of their own, out
of its process group), and the shared-memory files it left behind. For the tests that stop or kill a real build, and
those that check what a run leaves running (:func:`descendants`)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from builder.core.terminal import _mapped_shm


def start_time(pid: int) -> str | None:
    """A live process's start time (None when it is gone or a zombie): with its pid, what names one process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return None if fields[0] == "Z" else fields[19]


def _children(living: bool = False) -> dict[int, list[int]]:
    """Every process's children, by parent pid (``living``: zombies waiting to be reaped left out)."""
    out: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if not (living and fields[0] == "Z"):
            out.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return out


def descendants(pid: int) -> set[int]:
    """Every living process under ``pid``, at this moment."""
    children = _children(living=True)
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
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
                        started = start_time(child)
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
            if start_time(pid) == started:
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:120]
                except OSError:
                    continue
                left.append(f"{pid} {cmdline!r}")
        return left


def engine_started(watch: TreeWatch) -> bool:
    """Whether vLLM's engine-core process has appeared in the tree."""
    for pid in list(watch.seen):
        try:
            if b"EngineCor" in Path(f"/proc/{pid}/comm").read_bytes():
                return True
        except OSError:
            continue
    return False


def leaked_shm(before: set[str]) -> list[str]:
    """Files new in /dev/shm since ``before`` that no live process maps: what a run left behind (any name: vLLM's and
    multiprocessing's ``psm_*`` segments, their ``sem.mp-*`` and loky's ``sem.loky-*`` semaphores, ...)."""
    new = {str(p) for p in Path("/dev/shm").iterdir()} - before
    return sorted(new - _mapped_shm())
