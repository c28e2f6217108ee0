"""C and C++ programs: compiled once inside the sandbox, then run as binaries under the same isolation and limits.

**Compiling.** The source (and any header files a checker or interactor ships, e.g. Kattis' ``validate.h``) is written
into an empty scratch folder of the sandbox and the compiler runs there as a test of its own (mode ``compile``,
:mod:`builder.sandbox.native`): the same namespaces or Landlock, throwaway uid, seccomp filter, cgroup and rlimits as
a program, with the compile limits below. It sees its source and the system's headers and libraries, nothing of the
host (so ``#include "/etc/shadow"`` or ``.incbin`` find nothing to leak) and no expected output. The flags are what
the big judges use (Codeforces, Kattis/problemtools ``languages.yaml``)::

    g++ -std=gnu++17 -O2 -pipe -static -DONLINE_JUDGE -o solution solution.cpp -lm
    gcc -std=gnu17   -O2 -pipe -static -DONLINE_JUDGE -o solution solution.c   -lm

``-static`` only where the toolchain has the static C (and C++) libraries (``gcc -print-file-name=libc.a``; Debian's
``libc6-dev`` and ``libstdc++-12-dev`` have them; macOS has none): a static binary needs nothing of the sandbox's root
(no dynamic loader), and starts faster. ``-DONLINE_JUDGE`` as Codeforces defines it, so the common
``#ifndef ONLINE_JUDGE freopen("input.txt", ...)`` guard does what its author meant.

**The compile stage in the taxonomy.** ``syntax_error`` is the taxonomy's compile-stage class: for Python, code that
does not compile (SyntaxError, ...); for C and C++, a compiler that does not produce a program — diagnostics, or the
compile going over its own CPU, wall, memory or output-size limits (a judge reports that as a compilation error too).
An executor failure (the sandbox itself) is ``sandbox_error``, never ``syntax_error``.

**Binaries.** A compiled program is kept, for as long as it is needed, as a sealed (no write, grow or shrink), read-only
in-memory file (:class:`Binary`); every test sends that descriptor to the sandbox, which ``fexecve``\\ s it in the
test's process after the whole lock-down: nothing is copied per test. A crash by a signal is ``runtime_error``; an
uncaught ``std::bad_alloc`` (libstdc++'s terminate message on stderr, then SIGABRT) is ``memory``, as an uncaught
``MemoryError`` is for Python — with a memory cgroup the kernel's OOM kill is the exact ``memory`` verdict anyway.
The ``exception`` column of a native run holds the uncaught C++ exception's type from that message
(``std::out_of_range``) or the signal's name (``SIGSEGV``).

**Checkers and output validators** (:func:`judge_program_accepts`) may be Python or C/C++, in two protocols: testlib
(``checker input.txt output.txt answer.txt``, exit 0 accepts, 1 or 2 reject) and Kattis' output validators
(``validator input.txt answer.txt feedback/ < output``, exit 42 accepts, 43 rejects, the feedback folder is the
scratch folder). A compiled checker is compiled once per problem per worker (:class:`BinaryCache`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from builder.core import languages as L
from builder.core import taxonomy as T
from builder.sandbox import base
from builder.sandbox.base import Limits, RunResult, Sandbox
from builder.sandbox.fdio import executable_memfd

#: the compile step's own limits: CPU seconds, wall seconds, memory (MB), the largest binary (MB), processes
COMPILE_LIMITS = Limits(cpu_s=30.0, wall_s=120.0, memory_mb=2048, output_mb=64, max_processes=16, file_size_mb=64)
COMPILERS = {L.CPP: "g++", L.C: "gcc"}
STANDARDS = {L.CPP: "-std=gnu++17", L.C: "-std=gnu17"}
#: where the compiled program is written in the scratch folder
OUTPUT_NAME = "solution"
_TERMINATE = re.compile(rb"terminate called after throwing an instance of '([^'\n]{1,100})'")
HEADER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,99}$")


# --- the toolchain ----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def compiler_path(language: str) -> str | None:
    """The compiler of ``language`` on PATH (None where it is missing)."""
    return shutil.which(COMPILERS[language])


@functools.lru_cache(maxsize=None)
def static_available(language: str) -> bool:
    """Whether the toolchain can link ``language`` statically (its static C and C++ libraries are installed)."""
    compiler = compiler_path(language)
    if compiler is None:
        return False
    needed = ["libc.a"] + (["libstdc++.a"] if language == L.CPP else [])
    for name in needed:
        try:
            found = subprocess.run([compiler, f"-print-file-name={name}"], capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return False
        if not os.path.isabs(found) or not os.path.isfile(found):
            return False
    return True


def compile_command(language: str, source_name: str, output: str = OUTPUT_NAME) -> list[str]:
    """The compiler's command line for ``language`` (see the module docstring)."""
    language = L.normalize(language)
    if not L.SPECS[language].compiled:
        raise ValueError(f"{language} is not compiled")
    command = [COMPILERS[language], STANDARDS[language], "-O2", "-pipe"]
    if static_available(language):
        command.append("-static")
    return [*command, "-DONLINE_JUDGE", "-o", output, source_name, "-lm"]


def toolchain_problem(language: str) -> str | None:
    """Why ``language`` cannot be compiled here (one line), or None."""
    language = L.normalize(language)
    if not L.SPECS[language].compiled:
        return None
    if compiler_path(language) is None:
        return f"no {COMPILERS[language]} on PATH: {L.SPECS[language].display} candidates need it (Debian/Ubuntu: apt-get install g++)"
    return None


def describe_toolchain(languages: Sequence[str]) -> dict[str, str]:
    """The compile command of every compiled language asked for (for build.json and the card)."""
    out: dict[str, str] = {}
    for language in languages:
        if L.is_compiled(language) and compiler_path(language):
            out[language] = " ".join(compile_command(language, L.SPECS[language].source_name))
    return out


# --- binaries ------------------------------------------------------------------------------------------------------


class Binary:
    """A compiled program: a sealed, read-only in-memory file (``fd``), executable by descriptor."""

    def __init__(self, data: bytes) -> None:
        self.fd: int | None = executable_memfd("program", data)
        self.size = len(data)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __del__(self) -> None:
        try:
            self.close()
        except OSError:
            pass


@dataclass
class Compiled:
    """What compiling a program gave: the binary, or why not (``verdict`` ``syntax_error`` or ``sandbox_error``)."""

    binary: Binary | None
    verdict: str
    diagnostics: str = ""
    cpu_s: float = 0.0
    wall_s: float = 0.0
    peak_memory_mb: float = 0.0


def compile_source(
    sandbox: Sandbox, language: str, source: str, headers: Mapping[str, str] | None = None, retries: int = 1,
    limits: Limits = COMPILE_LIMITS,
) -> Compiled:
    """Compile ``source`` (plus ``headers``: name -> text, for ``#include "name"``) inside the sandbox, under
    ``limits`` (:data:`COMPILE_LIMITS`)."""
    language = L.normalize(language)
    problem = toolchain_problem(language)
    if problem is not None:
        return Compiled(None, T.SANDBOX_ERROR, problem)
    spec = L.SPECS[language]
    files = {spec.source_name: source.encode("utf-8", errors="surrogateescape")}
    for name, text in (headers or {}).items():
        if not HEADER_NAME.match(name) or name in (spec.source_name, OUTPUT_NAME):
            return Compiled(None, T.SANDBOX_ERROR, f"unusable header file name {name!r}")
        files[name] = text.encode("utf-8", errors="surrogateescape")
    command = compile_command(language, spec.source_name)
    run = RunResult(status=base.SANDBOX_ERROR)
    for _attempt in range(1 + retries):
        run = sandbox.run("", b"", limits, files=files, mode="compile",
                          spec={"command": json.dumps(command), "output": OUTPUT_NAME})
        if run.status != base.SANDBOX_ERROR:
            break
    diagnostics = (run.error or run.stderr_tail.decode("utf-8", errors="replace"))[-2000:]
    measured = {"cpu_s": run.cpu_s, "wall_s": run.wall_s, "peak_memory_mb": run.peak_memory_mb}
    if run.status == base.SANDBOX_ERROR:
        return Compiled(None, T.SANDBOX_ERROR, diagnostics, **measured)
    if run.status == base.EXITED and run.exit_code == 0 and run.stdout:
        return Compiled(Binary(run.stdout), T.PASSED, diagnostics, **measured)
    if run.status == base.TIMEOUT:
        diagnostics += f"\ncompilation over its limits ({limits.cpu_s:g} s CPU, {limits.wall:g} s wall)"
    elif run.status == base.MEMORY:
        diagnostics += f"\ncompilation over its memory limit ({limits.memory_mb} MB)"
    elif run.status == base.OUTPUT_LIMIT:
        diagnostics += f"\ncompiled program over {limits.output_mb} MB"
    return Compiled(None, T.SYNTAX_ERROR, diagnostics.strip()[-2000:], **measured)


class BinaryCache:
    """Compiled checkers and interactors of one worker, by (language, source, headers, flags): compiled once per
    problem, kept for the next candidates of the same problem (the last ``size`` ones)."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._items: OrderedDict[str, Compiled] = OrderedDict()

    def get(self, sandbox: Sandbox, language: str, source: str, headers: Mapping[str, str] | None = None) -> Compiled:
        language = L.normalize(language)
        key = hashlib.sha256(json.dumps([language, source, sorted((headers or {}).items()),
                                         compile_command(language, "x")]).encode("utf-8", "surrogatepass")).hexdigest()
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
            return hit
        compiled = compile_source(sandbox, language, source, headers)
        if compiled.verdict == T.SANDBOX_ERROR:
            return compiled  # not kept: the next candidate tries again
        self._items[key] = compiled
        while len(self._items) > self.size:
            _, old = self._items.popitem(last=False)
            if old.binary is not None:
                old.binary.close()
        return compiled


#: one per worker process
JUDGE_BINARIES = BinaryCache()


# --- running a binary -----------------------------------------------------------------------------------------------


def native_outcome(run: RunResult) -> RunResult:
    """A native run in the taxonomy's terms: an uncaught ``std::bad_alloc`` is over the memory limit; ``exception``
    names the uncaught C++ exception (libstdc++'s terminate message) or the signal that ended the program."""
    if run.status in (base.SANDBOX_ERROR,):
        return run
    thrown = _TERMINATE.search(run.stderr_tail)
    if run.status == base.SIGNALED and run.signal is not None:  # not our own kills (time, memory)
        try:
            run.exception = signal.Signals(run.signal).name
        except ValueError:
            run.exception = f"signal {run.signal}"
    if thrown is not None and run.signal == signal.SIGABRT:
        run.exception = thrown.group(1).decode("ascii", "replace")
        if run.exception == "std::bad_alloc" and run.status == base.SIGNALED:
            run.status = base.MEMORY
    return run


def run_binary(
    sandbox: Sandbox, binary: Binary, stdin: bytes, limits: Limits, *, argv: Sequence[str] = (),
    files: Mapping[str, bytes] | None = None, streams: tuple[int, int] | None = None,
) -> RunResult:
    if binary.fd is None:
        raise ValueError("the binary is closed")
    run = sandbox.run("", stdin, limits, argv=argv, files=files, mode="exec", binary=binary.fd, streams=streams)
    return native_outcome(run)


# --- checkers and output validators -----------------------------------------------------------------------------------

CHECKER_PROTOCOLS = ("testlib", "kattis")
#: exit codes: (accept, reject)
ACCEPT = {"testlib": (0,), "kattis": (42,)}
REJECT = {"testlib": (1, 2), "kattis": (43,)}


def judge_program_accepts(
    sandbox: Sandbox,
    program: str,
    language: str | None,
    protocol: str | None,
    test_input: str,
    expected: str,
    actual: bytes,
    limits: Limits,
    headers: Mapping[str, str] | None = None,
) -> bool | None:
    """Run a checker (testlib protocol) or an output validator (Kattis protocol) written in any language on (input,
    output, answer); True / False, or None when the checker itself failed (it does not compile, crashes, answers
    outside its protocol)."""
    from builder.judge.compare import expected_bytes

    language = L.normalize(language)
    protocol = protocol or "testlib"
    files = {"input.txt": test_input.encode("utf-8", errors="surrogateescape"), "answer.txt": expected_bytes(expected)}
    if protocol == "kattis":
        argv, stdin = ("input.txt", "answer.txt", "./"), actual
    else:
        argv, stdin = ("input.txt", "output.txt", "answer.txt"), b""
        files["output.txt"] = actual
    if L.is_compiled(language):
        compiled = JUDGE_BINARIES.get(sandbox, language, program, headers)
        if compiled.binary is None:
            return None
        run = run_binary(sandbox, compiled.binary, stdin, limits, argv=argv, files=files)
    else:
        run = sandbox.run(program, stdin, limits, argv=argv, files=files)
        if run.exception_phase == "compile" or run.exception not in (None, "AssertionError"):
            return None
    if run.status != base.EXITED:
        return None
    if run.exit_code in ACCEPT[protocol]:
        return True
    if run.exit_code in REJECT[protocol]:
        return False
    return None
