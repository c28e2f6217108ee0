"""Child-side code for native programs (C and C++): the compile step, and running a compiled binary.

Like :mod:`builder.sandbox.runner`, this runs only in the sandboxed child: the zygote imports it once (standard library
only) and calls :func:`run` in the forked child of a test whose mode is ``compile`` or ``exec``, after every part of the
lock-down (its own session, the test's memory group, rlimits, throwaway uid, ``no_new_privs``, seccomp, Landlock,
working directory = the test's scratch). Seccomp filters, Landlock domains, rlimits, uid and the cgroup all survive
``execve``, so the compiler and the compiled program run under exactly the limits and isolation of a Python program.

* ``compile``: ``spec["command"]`` (a JSON list: the compiler and its flags, the source file, ``-o OUTPUT``) runs in the
  scratch folder, where the source was written as a file of the test and nothing else is; the compiler's diagnostics
  go to stderr; when it exits 0 the output file is copied to stdout (the supervisor keeps it, sealed, as the binary)
  and the child exits 0. Any other end (diagnostics, a signal, a limit) exits non-zero: the code does not compile.
* ``exec``: the binary is the file descriptor ``BINARY_FD`` (a sealed, read-only memfd the supervisor sent with the
  test); every signal disposition and the signal mask go back to their defaults (the interpreter ignores SIGPIPE
  and SIGXFSZ, which an ``execve`` would keep), the side channel is closed, and the binary replaces this process
  (``fexecve``) with an empty environment. If the ``execve`` itself fails, the setup pipe (still open until a
  successful ``execve`` closes it) carries the error and the test is the executor's failure, not the program's.
  A test of a binary without files normally never gets here: the zygote starts it with the exec launcher
  (``launcher.c``, the same lock-down in C, no fork of the interpreter); this is the path when the launcher is
  disabled or cannot run, and for tests that write files (checkers, validators).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal

MODES = ("compile", "exec")
#: where the binary's descriptor is placed in the child (above stdin/stdout/stderr, side channel, setup pipe, Landlock)
BINARY_FD = 6
#: the child's setup pipe (see the zygote): open until the program's own code starts
SETUP_FD = 4
#: what a compiled program sees as ``argv[0]``
PROGRAM_NAME = "./solution"
#: the compiler's environment: it finds its own parts (cc1plus, as, ld) on PATH, temporary files in its folder
COMPILE_PATH = "/usr/local/bin:/usr/bin:/bin"


def park(fd: int) -> int:
    """A copy of the binary's descriptor above every number the child's set-up moves descriptors to."""
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 16)


def place(parked: int, landlock_open: bool) -> None:
    """Put the binary at ``BINARY_FD`` (close-on-exec) and close everything above the child's fixed descriptors
    (0-4, the Landlock ruleset at 5 when ``landlock_open``)."""
    os.dup2(parked, BINARY_FD, inheritable=False)
    if not landlock_open:
        try:
            os.close(5)
        except OSError:
            pass
    from builder.sandbox import isolation

    isolation.close_from(BINARY_FD + 1)


def _default_signals() -> None:
    """Every signal at its default disposition after ``execve``, the mask empty. ``execve`` itself resets every caught
    signal; an ignored one would survive it (the interpreter ignores SIGPIPE and SIGXFSZ), and so would one whose
    disposition the interpreter did not set (``getsignal`` gives None): only those are reset here, one call each."""
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            if signal.getsignal(sig) in (signal.SIG_IGN, None):
                signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def compile_program(command: list[str], output: str) -> int:
    """Run the compiler (diagnostics to stderr), then copy its output file to stdout; the exit status to end with."""
    env = {"PATH": COMPILE_PATH, "TMPDIR": os.getcwd(), "LANG": "C", "LC_ALL": "C"}
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(2, 1)  # the compiler's own stdout is diagnostics too; stdout is the binary's
            _default_signals()
            os.execvpe(command[0], command, env)
        finally:
            os._exit(127)
    _, status = os.waitpid(pid, 0)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        if os.WIFSIGNALED(status):
            os.write(2, f"\ncompiler killed by signal {os.WTERMSIG(status)}\n".encode())
        return 1
    try:
        fd = os.open(output, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        os.write(2, f"\nno compiled program: {exc}\n".encode())
        return 1
    try:
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            _write_all(1, chunk)
    finally:
        os.close(fd)
    return 0


def exec_binary(argv: list[str]) -> None:
    """Replace this process with the binary at ``BINARY_FD`` (never returns; raises when ``execve`` fails)."""
    _default_signals()
    os.close(3)  # the side channel: a native program has no records to write
    os.set_inheritable(SETUP_FD, False)  # closed by a successful execve; on failure the error goes there
    os.execve(BINARY_FD, [PROGRAM_NAME, *argv], {})


def run(mode: str, argv: list[str], spec: dict | None, has_binary: bool) -> None:
    """The child's program, for a native ``mode`` (never returns)."""
    if mode == "exec":
        if not has_binary:
            raise RuntimeError("exec mode without a binary")
        exec_binary(argv)
    os.close(3)  # the side channel: the compiler has no records to write
    spec = dict(spec or {})
    command = json.loads(spec["command"])
    output = str(spec.get("output") or "a.out")
    os.close(SETUP_FD)  # setup done: what follows is the compiler's doing
    status = compile_program([str(part) for part in command], output)
    os._exit(status)
