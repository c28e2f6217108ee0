"""Child-side runner: compiles and executes one untrusted program as ``__main__``.

Used by every executor, in the sandboxed child only: the spawn sandbox runs this file as a script
(``python -I runner.py SIDE_FD CODE_PATH [ARGS...]``); the fork-server calls :func:`execute` in the forked child.

Side channel: one JSON line ``{"phase": "compile" | "run", "exception": "<class name>"}`` is written to ``side_fd``
when the code does not compile or an exception escapes the program (in the main thread or in any other thread), so
the judge learns the exception class without parsing stderr. The traceback still goes to stderr, as usual.
Exit status follows CPython: 0 on a clean end, the ``SystemExit`` code, or 1 after an uncaught exception (an uncaught
exception in a non-main thread also makes the status 1, which plain CPython would not do).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import traceback
import types

#: exceptions raised by ``compile`` that mean "the code does not compile" (null bytes raise ValueError on 3.11)
COMPILE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError)


def _report(side_fd: int, phase: str, exc: BaseException | type[BaseException]) -> None:
    name = exc.__name__ if isinstance(exc, type) else type(exc).__name__
    try:
        os.write(side_fd, json.dumps({"phase": phase, "exception": name}).encode() + b"\n")
    except OSError:
        pass


def _exit_status(code: object) -> int:
    """The process exit status CPython gives ``SystemExit(code)``; a non-int code is printed to stderr."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        print(code, file=sys.stderr)
    except Exception:
        pass
    return 1


def execute(source: str, side_fd: int, argv: list[str] | tuple[str, ...] = (), filename: str = "solution.py") -> int:
    """Compile and run ``source``; return the exit status the process should end with."""
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)
    try:
        code = compile(source, filename, "exec")
    except COMPILE_ERRORS as exc:
        _report(side_fd, "compile", exc)
        sys.stderr.write("".join(traceback.format_exception_only(type(exc), exc)))
        return 1

    thread_failures: list[str] = []

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        if not thread_failures:
            _report(side_fd, "run", args.exc_type)
        thread_failures.append(args.exc_type.__name__)
        traceback.print_exception(args.exc_type, args.exc_value, args.exc_traceback)

    threading.excepthook = thread_hook
    main = types.ModuleType("__main__")
    main.__file__ = filename
    main.__builtins__ = __builtins__  # type: ignore[attr-defined]
    sys.modules["__main__"] = main
    sys.argv = [filename, *argv]
    status = 0
    try:
        exec(code, main.__dict__)
    except SystemExit as exc:
        status = _exit_status(exc.code)
    except BaseException as exc:  # noqa: BLE001 - every escape of the program is reported
        _report(side_fd, "run", exc)
        # the program's frames only: this runner's own frame (and its path on the machine) is not the program's
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
        traceback.print_exception(type(exc), exc, tb)
        status = 1
    # Like interpreter shutdown: wait for the program's non-daemon threads (thread-main habit).
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            try:
                thread.join()
            except BaseException:  # noqa: BLE001
                break
    if thread_failures and status == 0:
        status = 1
    try:
        sys.stdout.flush()
    except BaseException:  # noqa: BLE001 - closed or broken stdout is the program's business
        pass
    return status


def main() -> None:
    side_fd = int(sys.argv[1])
    path = sys.argv[2]
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        source = fh.read()
    status = execute(source, side_fd, sys.argv[3:], filename=os.path.basename(path))
    sys.exit(status)


if __name__ == "__main__":
    main()
