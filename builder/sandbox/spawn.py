"""The simple executor: a fresh ``sys.executable`` process per test, under rlimits.

This is what common harnesses do, and the baseline the fork-server is benchmarked against. Each run gets a new
session (its process group is killed after the test), an empty environment, a throwaway scratch directory as its
working directory, and rlimits on CPU time, address space, file size, open files and processes. It does NOT hide
the network or the user's files: its isolation level is ``rlimits``.
"""

from __future__ import annotations

import json
import math
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from builder.sandbox import base
from builder.sandbox.base import Limits, RunResult, Sandbox
from builder.sandbox.fdio import (
    input_memfd,
    memfd,
    read_fd,
    side_channel,
    tail_fd,
    was_read,
)

RUNNER = str(Path(__file__).with_name("runner.py"))
MB = 1024 * 1024
STDERR_TAIL = 4096
#: the most of the side channel read back (a program may flood it with junk; the runner's records come first or last)
SIDE_LIMIT = 1 << 16
#: environment of every child: nothing inherited from the caller (no HF_TOKEN, no PATH tricks)
CHILD_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONIOENCODING": "utf-8",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    # a fixed string-hash seed: a program that iterates a set of strings prints the same thing every run
    "PYTHONHASHSEED": "0",
}
#: interpreter flags: no user site-packages, no script/cwd on sys.path. Not -I/-E: the environment is entirely ours
#: (CHILD_ENV), and PYTHONHASHSEED must take effect.
PYTHON_FLAGS = ("-s", "-P")


def write_scratch_files(scratch: Path, files: Mapping[str, bytes] | None) -> None:
    for name, data in (files or {}).items():
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"scratch file names must be plain names, got {name!r}")
        (scratch / name).write_bytes(data)


class SpawnSandbox(Sandbox):
    """A fresh interpreter per test (spawn-per-test baseline)."""

    level = "rlimits"

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python
        self._running: int | None = None

    def cancel(self) -> None:
        running = self._running
        if running is not None:
            _kill_group(running)

    def describe(self) -> dict[str, object]:
        return {
            "executor": "spawn",
            "level": self.level,
            "isolation": ["new session", "empty environment", "scratch cwd", "rlimits"],
        }

    def run(
        self,
        code: str,
        stdin: bytes,
        limits: Limits,
        *,
        argv: Sequence[str] = (),
        files: Mapping[str, bytes] | None = None,
        mode: str = "stdin",
        spec: Mapping[str, str] | None = None,
        binary: int | None = None,
        streams: tuple[int, int] | None = None,
    ) -> RunResult:
        base.check_request(mode, binary, files)
        scratch = Path(tempfile.mkdtemp(prefix="builder-run-"))
        fds: list[int] = list(streams or ())
        nonce = base.new_nonce()
        try:
            write_scratch_files(scratch, files)
            payload = json.dumps({"code": code, "argv": list(argv), "nonce": nonce, "mode": mode, "spec": dict(spec or {})})
            payload_fd = memfd("payload", payload.encode("utf-8", "surrogatepass"))
            stdin_fd, stdout_fd = streams if streams is not None else (input_memfd(stdin), memfd("stdout"))
            stderr_fd = memfd("stderr")
            side_fd, side_writer = side_channel()
            fds += [payload_fd, stdin_fd, stdout_fd, stderr_fd, side_fd, side_writer]
            if mode == "compile":
                return self._compile(scratch, limits, stdout_fd, stderr_fd, dict(spec or {}))
            command = None if binary is None else ([f"/proc/self/fd/{binary}", *argv], (binary,))
            result = self._run(scratch, limits, payload_fd, stdin_fd, stdout_fd, stderr_fd, (side_fd, side_writer), nonce, mode,
                               command, streams is not None)
            if streams is not None:  # the caller judges what went through the pipes
                result.stdout, result.stdin_consumed = b"", False
            return result
        except OSError as exc:
            return RunResult(status=base.SANDBOX_ERROR, error=f"{type(exc).__name__}: {exc}")
        finally:
            for fd in dict.fromkeys(fds):
                try:
                    os.close(fd)
                except OSError:
                    pass
            shutil.rmtree(scratch, ignore_errors=True)

    def _compile(self, scratch: Path, limits: Limits, stdout_fd: int, stderr_fd: int, spec: dict[str, str]) -> RunResult:
        """Mode ``compile``: the compiler runs in the scratch folder under the limits; its output file is the stdout."""
        command = [str(part) for part in json.loads(spec["command"])]
        env = {"PATH": CHILD_ENV["PATH"], "TMPDIR": str(scratch), "LANG": "C", "LC_ALL": "C"}
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        try:
            result = self._run(scratch, limits, -1, null, stderr_fd, stderr_fd, (-1, -1), "", "compile", (command, ()), False, env)
        finally:
            os.close(null)
        output = scratch / str(spec.get("output") or "a.out")
        if result.status == base.EXITED and result.exit_code == 0 and output.is_file():
            data = output.read_bytes()
            os.write(stdout_fd, data)
            result.stdout = data
        elif result.status == base.EXITED and result.exit_code == 0:
            result.exit_code = 1
        result.stderr_tail = tail_fd(stderr_fd, STDERR_TAIL)
        return result

    def _run(
        self,
        scratch: Path,
        limits: Limits,
        payload_fd: int,
        stdin_fd: int,
        stdout_fd: int,
        stderr_fd: int,
        side: tuple[int, int],
        nonce: str,
        mode: str,
        command: tuple[list[str], tuple[int, ...]] | None = None,
        piped: bool = False,
        env: dict[str, str] | None = None,
    ) -> RunResult:
        """Run the runner on the payload, or ``command`` (argv, descriptors it keeps) for native programs."""
        side_fd, side_writer = side
        cpu_soft = max(1, math.ceil(limits.cpu_s))
        memory = limits.memory_mb * MB
        output = limits.output_mb * MB

        def set_limits() -> None:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_soft, cpu_soft + 1))
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            # unlimited: deep recursion works, and threads get the default 8 MB stack instead of the rlimit
            resource.setrlimit(resource.RLIMIT_STACK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            resource.setrlimit(resource.RLIMIT_FSIZE, (output, output))
            resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
            if os.geteuid() != 0:  # for root, RLIMIT_NPROC would count every root process of the machine
                resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

        started = time.monotonic()
        argv, keep = command or ([self.python, *PYTHON_FLAGS, RUNNER, str(payload_fd), str(side_writer)], (payload_fd, side_writer))
        proc = subprocess.Popen(
            argv,
            stdin=stdin_fd,
            stdout=stdout_fd,
            stderr=stderr_fd,
            pass_fds=keep,
            cwd=scratch,
            env=env if env is not None else ({} if command else CHILD_ENV),
            start_new_session=True,
            preexec_fn=set_limits,
        )
        self._running = proc.pid
        if piped:  # the pipes are the child's now: a reader sees end-of-file once the writer is gone
            null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
            for fd in (stdin_fd, stdout_fd):
                os.dup2(null, fd, inheritable=False)
            os.close(null)
        timed_out = False
        pidfd = os.pidfd_open(proc.pid)
        try:
            ready, _, _ = select.select([pidfd], [], [], limits.wall)
            if not ready:
                timed_out = True
                _kill_group(proc.pid)
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            os.close(pidfd)
        ended = time.monotonic()
        self._running = None
        wall = ended - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting again
        _kill_group(proc.pid)  # anything the program left behind in its session

        records = base.read_records(read_fd(side_fd, SIDE_LIMIT) if side_fd >= 0 else b"", nonce)
        exception = records.exception
        cpu = usage.ru_utime + usage.ru_stime
        out_size = os.fstat(stdout_fd).st_size
        result = RunResult(
            status=base.EXITED,
            mode=mode,
            stdout=read_fd(stdout_fd, output),
            stderr_tail=tail_fd(stderr_fd, STDERR_TAIL),
            stdin_consumed=was_read(stdin_fd),
            cpu_s=round(cpu, 4),
            wall_s=round(wall, 4),
            peak_memory_mb=round(usage.ru_maxrss / 1024, 2),
        )
        records.apply(result)
        result.extra["ended"] = ended
        if os.WIFSIGNALED(status):
            result.status = base.SIGNALED
            result.signal = os.WTERMSIG(status)
        else:
            result.exit_code = os.WEXITSTATUS(status)
        if timed_out or result.signal == signal.SIGXCPU or cpu > limits.cpu_s:
            result.status = base.TIMEOUT
        elif exception == "MemoryError":
            result.status = base.MEMORY
        elif out_size >= output or result.signal == signal.SIGXFSZ:
            result.status = base.OUTPUT_LIMIT
        return result


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
