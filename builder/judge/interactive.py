"""Interactive problems: the interactor and the program run side by side in the sandbox, connected by pipes.

**Protocols.** A problem's ``interactor`` (Python, C or C++ source; ``interactor_language``) speaks one of two
protocols (``interactor_protocol``):

* ``kattis`` — problemtools' output validators for interactive problems: ``interactor input.txt answer.txt feedback/``
  with the program's output on its stdin and its own stdout going to the program; exit 42 accepts, 43 rejects,
  anything else (a crash, another code) is a judge error;
* ``testlib`` — ``interactor input.txt tout.txt answer.txt`` (testlib's ``registerInteraction``): exit 0 accepts,
  1 or 2 reject, anything else (testlib's FAIL = 3) is a judge error.

The interactor gets the test's secret input (``tests[i].input``) and answer (``tests[i].output``) as files in its
own scratch folder; the program gets neither — only what the interactor writes to it.

**Isolation.** Interactor and program run in two different sandboxes (two zygotes: different throwaway uids, mount
namespaces or Landlock folders, memory groups), so the program can neither read the interactor's files, memory or
``/proc`` entries nor signal it. They are connected by two pipes, each a FIFO made in a private folder and unlinked at
once (nothing of it remains in any file system): interactor -> program becomes the program's stdin, program ->
interactor its stdout. Each zygote keeps its copy of its program's pipe ends until it has reaped that program, so
the other side sees end-of-file only after the writer's exit is recorded: which of the two ended first is decided by
the zygotes' reap times, not by a race (problemtools' runner holds the write ends for the same reason).

**Verdict** (problemtools' ``_run_interactive`` order, in the taxonomy): the interactor failing (judge error) is
``sandbox_error``; the interactor ending first with a rejection is ``wa`` whatever the program does after that
(``no_stdin`` when the program had been sent something and never read it); otherwise the program's own outcome
decides first — ``syntax_error`` (Python), ``timeout`` (CPU or wall: a program that stops talking, or never flushes
its output, blocks until the wall limit), ``memory`` — then an accepting interactor and a clean exit pass; then
``no_stdin`` (the interactor wrote to it and it never read: the FIFO's access time), ``logic_error`` (Python), any other
non-clean end ``runtime_error`` (also when the interactor accepted: problemtools does the same), ``empty_output`` (a
clean exit that never wrote a byte: the FIFO's modification time) and ``wa``.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass

from builder.core import taxonomy as T
from builder.judge.compiled import ACCEPT, REJECT, Binary, run_binary
from builder.judge.compare import expected_bytes
from builder.judge.verdict import stopped_verdict
from builder.sandbox import base
from builder.sandbox.base import Limits, RunResult, Sandbox

PROTOCOLS = ("kattis", "testlib")
#: the interactor's limits beyond the program's: at least this much CPU, and this much more wall time (it must
#: outlive the program, whose end it sees as end-of-file)
INTERACTOR_MIN_CPU_S = 10.0
INTERACTOR_EXTRA_WALL_S = 10.0
INTERACTOR_MIN_MEMORY_MB = 1024


@dataclass
class _Fifo:
    """One direction of the conversation: a FIFO's ends, and a descriptor (``O_PATH``) that only reads its times."""

    read: int
    write: int
    probe: int

    @classmethod
    def make(cls) -> _Fifo:
        base_dir = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        folder = tempfile.mkdtemp(prefix="builder-fifo-", dir=base_dir)
        path = os.path.join(folder, "pipe")
        try:
            os.mkfifo(path, 0o600)
            read = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            write = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        finally:
            try:
                os.unlink(path)
            finally:
                os.rmdir(folder)
        os.set_blocking(read, True)
        os.utime(read, ns=(0, 0))  # any read sets the access time, any write the modification time
        probe = os.open(f"/proc/self/fd/{read}", os.O_PATH | os.O_CLOEXEC)
        return cls(read, write, probe)

    def was_read(self) -> bool:
        return os.fstat(self.probe).st_atime_ns != 0

    def was_written(self) -> bool:
        return os.fstat(self.probe).st_mtime_ns != 0


@dataclass
class Side:
    """A program of the conversation: Python ``code``, or a compiled ``binary``."""

    code: str = ""
    binary: Binary | None = None


@dataclass
class Interaction:
    verdict: str
    program: RunResult
    interactor: RunResult
    #: how the interactor ended: accept, reject, pipe (killed writing to a program that was gone), fail
    decision: str
    interactor_first: bool


_PEERS: dict[int, tuple[weakref.ref, Sandbox]] = {}
_PEERS_LOCK = threading.Lock()


def peer_sandbox(sandbox: Sandbox) -> Sandbox:
    """A second sandbox of the same kind and settings for the interactors beside ``sandbox``'s programs (one per
    worker, started on first use, ended with ``sandbox`` or the process)."""
    with _PEERS_LOCK:
        held = _PEERS.get(id(sandbox))
        if held is not None and held[0]() is sandbox:
            return held[1]
        from builder.sandbox.forkserver import ForkServerSandbox
        from builder.sandbox.spawn import SpawnSandbox

        if isinstance(sandbox, ForkServerSandbox):
            peer: Sandbox = ForkServerSandbox(allow_unsandboxed=sandbox.allow_unsandboxed, disable=sorted(sandbox.disabled))
        elif isinstance(sandbox, SpawnSandbox):
            peer = SpawnSandbox(sandbox.python)
        else:
            raise TypeError(f"no interactor sandbox beside a {type(sandbox).__name__}")
        _PEERS[id(sandbox)] = (weakref.ref(sandbox), peer)
        weakref.finalize(sandbox, _drop_peer, id(sandbox))
        return peer


def _drop_peer(key: int) -> None:
    with _PEERS_LOCK:
        held = _PEERS.pop(key, None)
    if held is not None:
        held[1].close()


def interactor_limits(limits: Limits) -> Limits:
    return Limits(
        cpu_s=max(INTERACTOR_MIN_CPU_S, limits.cpu_s),
        wall_s=limits.wall + INTERACTOR_EXTRA_WALL_S,
        memory_mb=max(INTERACTOR_MIN_MEMORY_MB, limits.memory_mb),
        output_mb=limits.output_mb,
        max_processes=limits.max_processes,
        file_size_mb=limits.file_size_mb,
    )


def _run_side(sandbox: Sandbox, side: Side, limits: Limits, streams: tuple[int, int], *, argv: tuple[str, ...] = (),
              files: Mapping[str, bytes] | None = None) -> RunResult:
    if side.binary is not None:
        return run_binary(sandbox, side.binary, b"", limits, argv=argv, files=files, streams=streams)
    return sandbox.run(side.code, b"", limits, argv=argv, files=files, streams=streams)


def decision(run: RunResult, protocol: str) -> str:
    """How the interactor ended: ``accept``, ``reject``, ``pipe`` (SIGPIPE: it wrote to a program that was gone) or
    ``fail`` (a judge error)."""
    if run.status == base.EXITED and run.exception_phase is None:
        if run.exit_code in ACCEPT[protocol]:
            return "accept"
        if run.exit_code in REJECT[protocol]:
            return "reject"
    if run.status == base.SIGNALED and run.signal == signal.SIGPIPE:
        return "pipe"
    return "fail"


def _dup(fd: int) -> int:
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 0)


def _drain(fd: int) -> None:
    """Read ``fd`` to end-of-file, dropping what comes (a side whose reader is gone never blocks on a full pipe)."""
    try:
        while os.read(fd, 1 << 16):
            pass
    except OSError:
        pass


def interact(
    sandbox: Sandbox,
    program: Side,
    interactor: Side,
    protocol: str,
    test: Mapping[str, str],
    limits: Limits,
) -> Interaction:
    """Run one test of an interactive problem and judge it (see the module docstring).

    The supervisor keeps a read end of both pipes for the whole conversation, as problemtools' runner keeps its
    pipes, so what either side writes after the other is gone lands in the pipe (and is drained), never in a
    SIGPIPE whose timing would decide the verdict — except the program's output after the interactor rejected it
    and ended, which gets SIGPIPE there too (the verdict is ``wa`` by then).
    """
    protocol = protocol or "testlib"
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown interactor protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    peer = peer_sandbox(sandbox)
    to_program, to_interactor = _Fifo.make(), _Fifo.make()
    files = {"input.txt": test["input"].encode("utf-8", errors="surrogateescape"), "answer.txt": expected_bytes(test["output"])}
    argv = ("input.txt", "answer.txt", "./") if protocol == "kattis" else ("input.txt", "tout.txt", "answer.txt")
    judged: list[RunResult] = []

    def run_interactor() -> None:
        try:
            run = _run_side(peer, interactor, interactor_limits(limits), (_dup(to_interactor.read), to_program.write),
                            argv=argv, files=files)
        except BaseException as exc:  # noqa: BLE001 - reported as the executor's failure
            run = RunResult(status=base.SANDBOX_ERROR, error=f"interactor: {type(exc).__name__}: {exc}")
        judged.append(run)
        if decision(run, protocol) == "accept":  # accepted and gone: the program may still write (and exit cleanly)
            _drain(to_interactor.read)
        else:  # rejected (or failed): nothing the program does from now on changes the verdict; stop it
            sandbox.cancel()
        os.close(to_interactor.read)

    thread = threading.Thread(target=run_interactor, name="interactor", daemon=True)
    try:
        thread.start()
        ran = _run_side(sandbox, program, limits, (_dup(to_program.read), to_interactor.write))
        read = to_program.was_read()  # before our own draining reads it
        _drain(to_program.read)
        thread.join()
        sent, wrote = to_program.was_written(), to_interactor.was_written()
    finally:
        for fd in (to_program.read, to_program.probe, to_interactor.probe):
            os.close(fd)
    other = judged[0] if judged else RunResult(status=base.SANDBOX_ERROR, error="the interactor did not report")
    ran.stdin_consumed = read
    ended = decision(other, protocol)
    p_end, i_end = ran.extra.get("ended"), other.extra.get("ended")
    first = isinstance(p_end, float) and isinstance(i_end, float) and i_end < p_end
    if first and ended != "accept":  # how the program ended after that (EOF, SIGPIPE, cancelled) is no part of it
        ran.exception = None
    verdict = interaction_verdict(ran, other, ended, first, sent=sent, read=read, wrote=wrote)
    return Interaction(verdict, ran, other, ended, first)


def interaction_verdict(program: RunResult, interactor: RunResult, ended: str, interactor_first: bool, *, sent: bool,
                        read: bool, wrote: bool) -> str:
    """The test's verdict from both runs (the order of the module docstring). ``sent``: the interactor wrote to the
    program; ``read``: the program read its stdin; ``wrote``: the program wrote to the interactor."""
    if program.status == base.SANDBOX_ERROR or interactor.status == base.SANDBOX_ERROR:
        return T.SANDBOX_ERROR
    if ended == "fail":
        return T.SANDBOX_ERROR
    if interactor_first and ended in ("reject", "pipe"):
        return T.NO_STDIN if sent and not read else T.WA
    stopped = stopped_verdict(program)
    if stopped is not None:
        return stopped
    clean = program.status == base.EXITED and program.exit_code == 0 and program.exception is None
    if clean and ended == "accept":
        return T.PASSED
    if sent and not read:
        return T.NO_STDIN
    if program.exception in T.LOGIC_EXCEPTIONS:
        return T.LOGIC_ERROR
    if not clean:
        return T.RUNTIME_ERROR
    if not wrote:
        return T.EMPTY_OUTPUT
    return T.WA
