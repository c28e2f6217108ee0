"""The `Sandbox` interface every executor implements, with the limits it takes and the result it gives.

A sandbox runs one untrusted Python program on one input and reports what happened, measured, without
judging it: the judge (``builder/judge.py``) turns a :class:`RunResult` into a verdict. Expected outputs
never enter a sandbox.

The child-side protocol (see ``builder/sandbox/runner.py``): the program is compiled and executed by a small
runner that reports through a side channel, in records authenticated by a per-run secret (:func:`read_records`),
whether compilation failed, the class name of an uncaught exception (in the main thread or any other thread) and, in
call and unit-test mode, the called function's result or the test's outcome. ``stdin`` is a sealed file whose offset
and access time the supervisor reads after the run, so ``stdin_consumed`` tells whether the program read its input
at all, however it did.
"""

from __future__ import annotations

import abc
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: Run outcomes (``RunResult.status``).
EXITED = "exited"  # the program ended by itself (any exit code)
SIGNALED = "signaled"  # killed by a signal that is not one of ours (segfault, abort, ...)
TIMEOUT = "timeout"  # over the CPU or wall time limit
MEMORY = "memory"  # over the memory limit (memory controller, or MemoryError under rlimits)
OUTPUT_LIMIT = "output_limit"  # wrote more than the output limit
SANDBOX_ERROR = "sandbox_error"  # the executor failed; not the program's fault

STATUSES = (EXITED, SIGNALED, TIMEOUT, MEMORY, OUTPUT_LIMIT, SANDBOX_ERROR)

#: how the runner runs the code (``builder/sandbox/runner.py``): as a script, by calling a function, or under a test;
#: native programs (``builder/sandbox/native.py``): a compiler run on a source file, or a compiled binary
MODES = ("stdin", "call", "unittest", "compile", "exec")


@dataclass(frozen=True)
class Limits:
    """Per-test limits. ``wall_s`` defaults to ``3 * cpu_s + 5``: CPU time is the limit; wall time only catches
    sleeping and blocked programs, with room for a loaded machine."""

    cpu_s: float = 2.0
    wall_s: float | None = None
    memory_mb: int = 512
    output_mb: int = 32
    max_processes: int = 32
    file_size_mb: int = 16

    @property
    def wall(self) -> float:
        return self.wall_s if self.wall_s is not None else 3.0 * self.cpu_s + 5.0


@dataclass
class RunResult:
    """What one run of a program did."""

    status: str
    #: the runner's mode the code ran in (``MODES``)
    mode: str = "stdin"
    exit_code: int | None = None
    signal: int | None = None
    stdout: bytes = b""
    stderr_tail: bytes = b""
    #: "compile" when the code did not compile, "run" for an uncaught exception while running, else None
    exception_phase: str | None = None
    #: class name of the uncaught exception (SyntaxError, IndexError, MemoryError, ...), else None
    exception: str | None = None
    #: True when the program moved its stdin file offset (it read its input)
    stdin_consumed: bool = False
    cpu_s: float = 0.0
    wall_s: float = 0.0
    peak_memory_mb: float = 0.0
    #: call mode: the function's return value as JSON text; None when the call did not return
    result: str | None = None
    #: unit-test mode: "pass" (the test ran to completion) or "fail" (an assertion of the test failed); else None
    outcome: str | None = None
    #: unit-test mode: the failure's message
    failure: str | None = None
    #: the runner's own exit path was reached (its final record), with this exit status
    finished: bool = False
    #: what went wrong in the executor, for SANDBOX_ERROR
    error: str | None = None
    #: free-form measurements an executor wants to expose (isolation details, retries)
    extra: dict[str, object] = field(default_factory=dict)


def check_request(mode: str, binary: int | None, files: Mapping[str, bytes] | None) -> None:
    """Refuse a run request a sandbox cannot honour (the caller's error, before anything starts)."""
    for name in files or {}:
        if not name or "/" in name or name in (".", "..") or "\0" in name:
            raise ValueError(f"scratch file names must be plain names, got {name!r}")
    if mode not in MODES:
        raise ValueError(f"unknown run mode {mode!r}")
    if (mode == "exec") != (binary is not None):
        raise ValueError("mode 'exec' runs a binary, and only it takes one")


def new_nonce() -> str:
    """A per-run secret for the runner's records."""
    return secrets.token_hex(16)


@dataclass
class Records:
    """What the runner reported: only records that carry the run's secret count."""

    phase: str | None = None
    exception: str | None = None
    result: str | None = None
    outcome: str | None = None
    failure: str | None = None
    finished: bool = False
    forged: int = 0

    def apply(self, run: "RunResult") -> None:
        run.exception_phase, run.exception = self.phase, self.exception
        run.result, run.outcome, run.failure, run.finished = self.result, self.outcome, self.failure, self.finished
        if self.forged:
            run.extra["forged_records"] = self.forged


def read_records(data: bytes, nonce: str) -> Records:
    """Parse the side channel: ``<nonce> <kind> <hex>`` lines. A line without the run's nonce (something the program
    wrote itself) is counted as forged and ignored; of each kind the first record counts."""
    out = Records()
    tag = nonce.encode("ascii")
    seen: set[bytes] = set()
    for line in data.split(b"\n"):
        if not line:
            continue
        parts = line.split(b" ")
        if len(parts) != 3 or not secrets.compare_digest(parts[0], tag) or not nonce:
            out.forged += 1
            continue
        kind, raw = parts[1], parts[2]
        try:
            text = bytes.fromhex(raw.decode("ascii")).decode("utf-8", "replace")
        except ValueError:
            out.forged += 1
            continue
        if kind in seen:
            continue
        seen.add(kind)
        if kind == b"compile" and out.phase is None:
            out.phase, out.exception = "compile", text[:100]
        elif kind == b"exception" and out.phase is None:
            out.phase, out.exception = "run", text[:100]
        elif kind == b"result":
            out.result = text
        elif kind == b"pass" and out.outcome is None:
            out.outcome = "pass"
        elif kind == b"fail" and out.outcome is None:
            out.outcome, out.failure = "fail", text[:500]
        elif kind == b"end":
            out.finished = True
    return out


class Sandbox(abc.ABC):
    """Runs untrusted Python programs, one test at a time, under limits.

    Implementations are created once per worker process and reused for many runs; ``close()`` ends every
    process they started. They are context managers.
    """

    #: name of the isolation level reached (e.g. "none", "rlimits", "namespaces+cgroup+seccomp")
    level: str = "none"

    @abc.abstractmethod
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
        """Run ``code`` as ``__main__`` with ``stdin`` as its standard input (``mode="stdin"``).

        ``argv`` becomes ``sys.argv[1:]``; ``files`` are written into the program's scratch directory (its
        working directory) before it starts, e.g. the input/expected/actual files a checker reads. ``mode="call"``
        (``spec``: ``fn_name``, ``args`` as one JSON value per line) and ``mode="unittest"`` (``spec``:
        ``test_source``, ``test_id``) run the code as the module ``solution`` under the runner's harness.

        Native programs (:mod:`builder.judge.languages`): ``mode="compile"`` runs the compiler command ``spec["command"]``
        (a JSON list) in the scratch directory, where ``files`` put the source, and returns the file
        ``spec["output"]`` as ``stdout`` when the compiler exits 0; ``mode="exec"`` runs ``binary`` (a descriptor of a
        sealed executable file) with ``argv`` instead of Python code. ``streams``: the program's stdin and stdout are
        these descriptors (pipes to an interactor), taken over and closed by the call; ``stdin`` is then ignored,
        ``stdout`` comes back empty and ``stdin_consumed`` False (the caller measures both on its side).
        """

    def cancel(self) -> None:
        """End the run in progress (called from another thread: an interactive test whose interactor has decided);
        a no-op when nothing runs."""

    def describe(self) -> dict[str, object]:
        """The isolation reached, for the build's metadata and ``builder sandbox-check``."""
        return {"executor": type(self).__name__, "level": self.level}

    def close(self) -> None:
        """End every process this sandbox started and free its resources."""

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
