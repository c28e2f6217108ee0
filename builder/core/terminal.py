"""What a run prints, and what it leaves behind.

:func:`run_output` keeps the terminal for the run's own progress display and stage lines: while it is active, everything
else written to standard output or error — the libraries' log lines and bars (vLLM, ``datasets``, ``transformers``,
``torch``), C-level messages, the engine's child processes — goes to a log file in the work folder (``-v``,
``VERBOSITY`` 2, leaves the terminal alone).

:class:`RunResources` makes a run clean up after itself and after a killed run of the same build: the vLLM engine
leaves shared-memory segments (``/dev/shm/psm_*``, ~160–250 MB each, even on a normal exit), loky semaphores
(``/dev/shm/sem.loky-<pid>-*``), IPC sockets and a ``vllm_dist_*`` rendezvous file behind (the last two go to a
folder of the process's own, ``builder-vllm-<pid>-*`` in the temporary folder: see
:mod:`builder.generate.vllm_engine`). The run records which of them belong to its own processes (the segments its
processes map, the semaphores named after its processes, its engine folders); the next run of the same build removes what a dead run recorded and no live process uses. Only its own:
another program's files are never touched.

:class:`Interrupts` makes Ctrl-C (or ``kill``) end a run in one line and exit 130 (143) however busy it is: the first
signal raises ``KeyboardInterrupt`` where the run is and remembers it (a library that turns it into an error of its
own, as vLLM does when its engine process stops during start-up, is still an interrupt); if the run has not ended
``grace`` seconds later, or at a second signal, every process the run started is killed, its files are removed and
the process exits at once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
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
        _close_open_bars()
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


def _close_open_bars() -> None:
    """Close the progress bars still open when a run ends: an interrupted generation leaves vLLM's, which would
    otherwise print its last state when it is collected, on the terminal and after the run's last line."""
    std = sys.modules.get("tqdm.std")
    for bar in list(getattr(getattr(std, "tqdm", None), "_instances", ())):
        try:
            bar.close()
        except Exception:  # noqa: BLE001 - a bar that cannot close must not hide how the run ended
            pass


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
                for line in fh:  # "address perms offset dev inode   path": the path may hold spaces
                    at = line.find(" /dev/shm/")
                    path = line[at + 1 :].rstrip("\n")
                    if at >= 0 and not path.endswith(" (deleted)"):  # a removed file is no longer there to leave behind
                        out.add(path)
        except OSError:
            continue
    return out


def _remove_engine_folders(pid: int) -> None:
    """The engine folders (sockets, rendezvous file) of the vLLM engines process ``pid`` started."""
    if pid > 0:
        for folder in Path(tempfile.gettempdir()).glob(f"builder-vllm-{pid}-*"):
            shutil.rmtree(folder, ignore_errors=True)


class RunResources:
    """The files of one build's processes that could outlive a kill; see the module docstring."""

    def __init__(self, work_dir: Path) -> None:
        self.record = Path(work_dir) / "resources.json"
        self.pids: set[int] = set()
        self.files: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watch: threading.Thread | None = None
        self._finished = False

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
        _remove_engine_folders(int(data.get("pid", 0)))
        self.record.unlink(missing_ok=True)
        return removed

    def start(self, interval: float = 1.0) -> None:
        """Begin recording: now, then every ``interval`` seconds from a thread (an engine that is interrupted while
        it starts has made its files before any chunk was done), and whenever :meth:`update` is called."""
        self.record.parent.mkdir(parents=True, exist_ok=True)
        self.pids = {os.getpid()}
        self.update()
        self._stop.clear()
        self._watch = threading.Thread(target=self._watch_run, args=(interval,), name="run-resources", daemon=True)
        self._watch.start()

    def _watch_run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.update()
            except OSError:  # the work folder went away: nothing to record into
                return

    def update(self) -> None:
        """Note this run's processes and the shared-memory files they use (called as the run goes)."""
        with self._lock:
            if self._finished:
                return
            self.pids |= _descendants(os.getpid())
            self.files |= _mapped_shm(self.pids)
            self.files |= {str(p) for p in SHM.glob("sem.loky-*") if p.name.split("-")[1].isdigit() and int(p.name.split("-")[1]) in self.pids}
            tmp = self.record.with_suffix(".tmp")
            tmp.write_text(json.dumps({"pid": os.getpid(), "pids": sorted(self.pids), "files": sorted(self.files)}), encoding="utf-8")
            os.replace(tmp, self.record)

    def finish(self) -> list[str]:
        """After the run (normal end or interrupt): remove its leftovers that no process outside this run uses (this
        run's own processes are ending with it)."""
        self._stop.set()
        if self._watch is not None and self._watch is not threading.current_thread():
            self._watch.join(timeout=5)
        self.update()
        with self._lock:
            if self._finished:
                return []
            self._finished = True
        removed = self._remove(self.files, self.pids - {os.getpid()}, ours=self.pids)
        _remove_engine_folders(os.getpid())
        self.record.unlink(missing_ok=True)
        return removed

    @staticmethod
    def _remove(files: set[str], pids: set[int], ours: set[int] = frozenset()) -> list[str]:  # type: ignore[assignment]
        in_use = _mapped_shm({int(e) for e in os.listdir("/proc") if e.isdigit()} - set(ours))
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


def kill_descendants() -> None:
    """SIGKILL every process this one started (children first found, then whatever they started), not this one."""
    me = os.getpid()
    for _ in range(3):  # what a dying child starts in the meantime is caught by the next round
        others = _descendants(me) - {me}
        if not others:
            return
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


class Interrupts:
    """SIGINT and SIGTERM during a run; see the module docstring. Use as a context manager in the main thread."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, message: str, *, grace: float = 30.0, cleanup: Callable[[], object] | None = None) -> None:
        self.message = message
        self.grace = grace
        self.cleanup = cleanup
        self.signal: int | None = None
        self._previous: dict[int, object] = {}
        self._terminal = -1
        self._forced = threading.Lock()
        self._said = False
        self._code: int | None = None

    @property
    def interrupted(self) -> bool:
        return self.signal is not None

    @property
    def exit_code(self) -> int:
        return 128 + (self.signal or signal.SIGINT)

    def __enter__(self) -> Interrupts:
        self._terminal = os.dup(2)  # the terminal, wherever fd 2 is sent later (run_output)
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)  # type: ignore[arg-type]
        if not self.interrupted:  # else the grace timer may still need it while the interpreter shuts down
            os.close(self._terminal)

    def leave(self, code: int, grace: float = 15.0) -> None:
        """The run is over (``code``): should the interpreter not have exited ``grace`` seconds from now (a
        library's thread or finalizer stuck, as a vLLM engine that failed to start leaves a ZeroMQ context that
        never terminates), end every process it started and exit with ``code``."""
        if self._forced.locked():
            return
        self._code = code
        timer = threading.Timer(grace, self._force)
        timer.daemon = True
        timer.start()

    def stop(self) -> None:
        """The run ended on the interrupt: say so (once) and exit with 128 + the signal."""
        self._said = True
        progress.close_all()
        self.say(self.message)
        sys.exit(self.exit_code)

    def say(self, line: str) -> None:
        """Write one line to the terminal (not to the run's log)."""
        try:
            os.write(self._terminal, (line + "\n").encode())
        except OSError:
            pass

    def _handle(self, signum: int, frame: object) -> None:
        if self.signal is not None:
            self._force()
        self.signal = signum
        timer = threading.Timer(self.grace, self._force)
        timer.daemon = True
        timer.start()
        raise KeyboardInterrupt

    def _force(self) -> None:
        """The run did not end by itself: end everything it started, clean up, exit now."""
        if not self._forced.acquire(blocking=False):
            return
        kill_descendants()
        if self.cleanup is not None:
            try:
                self.cleanup()
            except Exception:  # noqa: BLE001 - leaving now regardless
                pass
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        if self._code is not None and not self.interrupted:
            os._exit(self._code)
        if not self._said:
            progress.close_all()
            self.say(self.message)
        os._exit(self.exit_code)
