"""Child-side runner: runs one untrusted program and reports what happened through authenticated records.

Used by every executor, in the sandboxed child only: the fork-server's zygote imports this module once, calls
:func:`prepare` (a pristine snapshot of the interpreter's state, taken before any program exists) and calls
:func:`execute` in every forked child; the spawn sandbox runs this file as a script (``python runner.py PAYLOAD_FD``).

**Records.** Everything the judge learns besides the program's output and exit comes from one line per record
written to the side channel (fd 3): ``<nonce> <kind> <hex data>``. The nonce is a per-run secret the supervisor
puts in the payload; the runner reads it before the program's code exists in the process and never stores it where
the program can reach it without deliberately scraping the runner's memory. A record without the nonce is ignored,
so a program that writes to fd 3, prints the harness's pass line, exits early or hooks the interpreter cannot make a
record; at most it can keep the runner from writing one (which never turns a failure into a pass). Kinds:

* ``compile <class>``: the code does not compile (written before any of the program's code ran);
* ``exception <class>``: the first uncaught exception of the program (main thread or any other thread);
* ``result <json>``: call mode: the return value of the called function, as JSON;
* ``pass`` / ``fail <message>``: unit-test mode: the test function ran to completion / an assertion in the test
  failed (or the test code itself raised because of what the solution returned);
* ``end <status>``: the runner's own exit path was reached.

**Modes.** ``stdin``: the program runs as ``__main__`` (competitive-programming style). ``call``: the code is the
module ``solution``; the runner calls a function (or ``Solution().method``) with JSON arguments (LeetCode/TACO
call-based tests). ``unittest``: the code is the module ``solution``; the runner executes a pytest-style test module
and one test in it, with a small stand-in for pytest (:mod:`builder.sandbox.pytest_standin`) and the fixtures of
:mod:`builder.sandbox.unittest_plan`. The verdict of call and unit-test runs is decided here, so before the test
module runs the runner restores what the solution's import-time code may have patched (builtins for the test's
code, the dicts of every module loaded before the program, ``unittest.TestCase``, a fresh ``pytest``), and before
writing a verdict it clears trace/profile hooks, blocks signals and stops the garbage collector. Only these
objects are bound at :func:`prepare` time; what a solution does to objects it shares with the test *during* its
calls (an ``__eq__`` that is always true, patching a class the test uses) remains possible: the README's sandbox
section states this residual.

Exit status follows CPython: 0 on a clean end, the ``SystemExit`` code, or 1 after an uncaught exception (an uncaught
exception in a non-main thread also makes the status 1, which plain CPython would not do).
"""

from __future__ import annotations

import builtins
import gc
import io
import json
import os
import signal
import sys
import threading
import traceback
import types

#: exceptions raised by ``compile`` that mean "the code does not compile" (null bytes raise ValueError on 3.11)
COMPILE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError)
MODES = ("stdin", "call", "unittest")
RECORD_KINDS = ("compile", "exception", "result", "pass", "fail", "end")
SOLUTION_FILE = "solution.py"
TEST_FILE = "test_solution.py"

_STATE: dict[str, object] = {}


def _child_source(name: str) -> str:
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), name), encoding="utf-8") as fh:
        return fh.read()


def prepare(sources: dict[str, str] | None = None) -> None:
    """Snapshot the interpreter before any program exists (in the zygote once; in a spawned runner at start).

    ``sources`` maps ``pytest_standin`` / ``unittest_plan`` to their source text (the zygote passes what it read
    before ``pivot_root``); by default they are read next to this file.
    """
    sources = sources or {name: _child_source(name + ".py") for name in ("pytest_standin", "unittest_plan")}
    standin = compile(sources["pytest_standin"], "pytest.py", "exec")
    plan = compile(sources["unittest_plan"], "unittest_plan.py", "exec")
    for code in (standin, plan):  # once, so that every module the harness imports is in the snapshot below
        exec(code, {"__name__": "harness_preload"})
    skip = {"__main__", "builtins", "sys"}
    _STATE.update(
        builtins=dict(builtins.__dict__),
        modules=[(name, mod, dict(mod.__dict__)) for name, mod in list(sys.modules.items())
                 if isinstance(mod, types.ModuleType) and name not in skip],
        sysmods=sys.modules,
        standin=standin,
        plan=plan,
    )
    case = sys.modules.get("unittest.case")
    if case is not None:
        _STATE["testcase"] = (case.TestCase, dict(case.TestCase.__dict__))


def _hide_harness() -> None:
    """The runner's own modules leave ``sys.modules``: a program cannot import or patch them by name."""
    for name in [n for n in sys.modules if n == "builder" or n.startswith("builder.")]:
        del sys.modules[name]


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


def execute(source: str, side_fd: int, argv: list[str] | tuple[str, ...] = (), *, nonce: str = "", mode: str = "stdin",
            spec: dict | None = None, filename: str = SOLUTION_FILE) -> int:
    """Compile and run ``source`` in ``mode``; return the exit status the process should end with."""
    if not _STATE:
        prepare()
    # --- everything the verdict path uses is bound here, before the program's code exists ----------------------
    fio_write, side = io.FileIO.write, io.FileIO(side_fd, "wb", closefd=False)
    tag = nonce.encode("ascii")
    BaseExc, isinst, typ, getattr_, str_ = BaseException, isinstance, type, getattr, str
    settrace, setprofile, thread_settrace, thread_setprofile = sys.settrace, sys.setprofile, threading.settrace, threading.setprofile
    sigmask, block, all_signals, gc_disable = signal.pthread_sigmask, signal.SIG_BLOCK, signal.valid_signals(), gc.disable
    spec = dict(spec or {})
    reported: list[str] = []

    def emit(kind: bytes, data: bytes = b"") -> None:
        try:
            fio_write(side, tag + b" " + kind + b" " + data.hex().encode("ascii") + b"\n")
        except BaseExc:  # a program that closed or replaced fd 3 only loses its own reports
            pass

    def lock_down() -> None:
        """Nothing of the program runs between this and the verdict record."""
        settrace(None)
        setprofile(None)
        thread_settrace(None)
        thread_setprofile(None)
        gc_disable()
        try:
            sigmask(block, all_signals)
        except BaseExc:
            pass

    def report(exc: BaseException | type[BaseException], phase: bytes = b"exception") -> None:
        cls = exc if isinst(exc, typ) else typ(exc)
        name = getattr_(cls, "__name__", "?")
        if not isinst(name, str_):
            name = "?"
        if phase == b"exception":
            if reported:
                return
            reported.append(name)
        emit(phase, name[:100].encode("utf-8", "replace"))

    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)
    try:
        code = compile(source, filename, "exec")
    except COMPILE_ERRORS as exc:
        report(exc, b"compile")
        sys.stderr.write("".join(traceback.format_exception_only(type(exc), exc)))
        emit(b"end", b"1")
        return 1

    thread_failures: list[str] = []

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        report(args.exc_type)
        thread_failures.append(args.exc_type.__name__)
        traceback.print_exception(args.exc_type, args.exc_value, args.exc_traceback)

    threading.excepthook = thread_hook
    _hide_harness()
    module = types.ModuleType("__main__" if mode == "stdin" else "solution")
    module.__file__ = filename
    module.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = module
    if mode != "stdin":
        sys.modules["solution"] = module
    sys.argv = [filename, *argv]
    status = 0
    try:
        if mode == "stdin":
            exec(code, module.__dict__)
        elif mode == "call":
            status = _call(code, module, spec, emit, lock_down)
        elif mode == "unittest":
            status = _unittest(code, module, spec, emit, lock_down, thread_hook)
        else:
            raise ValueError(f"unknown mode {mode!r}")
    except SystemExit as exc:
        status = _exit_status(exc.code)
    except BaseException as exc:  # noqa: BLE001 - every escape of the program is reported
        report(exc)
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
    emit(b"end", str(status).encode("ascii"))
    return status


# --- call mode ---------------------------------------------------------------------------------------------------


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {(k if isinstance(k, str) else str(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(_jsonable(v) for v in value)  # type: ignore[type-var]
        except TypeError:
            return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    return repr(value)


def _resolve(scope: dict, name: str):  # type: ignore[no-untyped-def]
    cls = scope.get("Solution")
    if isinstance(cls, type) and hasattr(cls, name):
        return getattr(cls(), name)
    if "." in name:
        owner, _, attr = name.partition(".")
        holder = scope.get(owner)
        if isinstance(holder, type):
            return getattr(holder(), attr)
    func = scope.get(name)
    if callable(func):
        return func
    raise NameError(f"name {name!r} is not defined")


def _call(code, module, spec, emit, lock_down) -> int:  # type: ignore[no-untyped-def]
    """Run the solution as module ``solution`` (its prints go to stderr), call the function, emit its result.

    The return value is judged by the supervisor, which holds the expected value: a solution can only make its own
    result wrong, so this mode needs no more than the authenticated record.
    """
    args = [json.loads(line) for line in str(spec.get("args", "")).split("\n") if line.strip()]
    stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        exec(code, module.__dict__)
        result = _resolve(module.__dict__, str(spec["fn_name"]))(*args)
        text = json.dumps(_jsonable(result), allow_nan=True)
    finally:
        sys.stdout = stdout
    lock_down()
    emit(b"result", text.encode("utf-8", "surrogatepass"))
    return 0


# --- unit-test mode ----------------------------------------------------------------------------------------------


def _code_objects(code: types.CodeType) -> set[int]:
    """ids of ``code`` and every code object nested in it (the test module's own functions)."""
    found, stack = set(), [code]
    while stack:
        item = stack.pop()
        found.add(id(item))
        stack.extend(c for c in item.co_consts if isinstance(c, types.CodeType))
    return found


_MISSING = object()


def _restore(state: dict) -> None:
    """Undo what the solution's import-time code did to builtins, to the modules loaded before it (their
    ``sys.modules`` entries and their dicts) and to ``unittest.TestCase``: every binding that existed then and was
    changed or removed gets its old value back (new bindings stay: a submodule the solution imported is still there
    for the test). Uses only the methods of built-in types, never a builtin function the solution could have
    replaced."""
    missing = _MISSING
    current = builtins.__dict__
    for key, value in state["builtins"].items():
        if current.get(key, missing) is not value:
            current[key] = value
    sysmods = state["sysmods"]
    for name, mod, saved in state["modules"]:
        if sysmods.get(name, missing) is not mod:
            sysmods[name] = mod
        current = mod.__dict__
        for key, value in saved.items():
            if current.get(key, missing) is not value:
                current[key] = value
    saved_case = state.get("testcase")
    if saved_case is not None:
        cls, attrs = saved_case
        for key in [k for k in cls.__dict__ if k not in attrs]:
            try:
                delattr(cls, key)
            except (AttributeError, TypeError):
                pass
        for key, value in attrs.items():
            if cls.__dict__.get(key, missing) is not value and key not in ("__dict__", "__weakref__"):
                try:
                    setattr(cls, key, value)
                except (AttributeError, TypeError):
                    pass


def _unittest(code, module, spec, emit, lock_down, thread_hook) -> int:  # type: ignore[no-untyped-def]
    """Import the solution, then run one test of the test module; emit ``pass`` or ``fail``.

    Blame: an exception whose deepest frame of the test module or the solution is the solution's (by code object,
    not by file name) is the solution's (``exception`` record: logic_error / runtime_error); one raised by the test
    module's own code (a failed assertion, or an error caused by what the solution returned) is a ``fail``.
    """
    # bound before the solution runs: it cannot reach these through any module or builtin
    state, restore, hide, code_objects = dict(_STATE), _restore, _hide_harness, _code_objects
    test_source, test_id = str(spec["test_source"]), str(spec["test_id"])
    stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        exec(code, module.__dict__)
    finally:
        sys.stdout = stdout
    # from here on the harness runs, on builtins, modules and TestCase as they were before the solution
    restore(state)
    hide()
    threading.excepthook = thread_hook
    standin = types.ModuleType("pytest")
    exec(state["standin"], standin.__dict__)
    sys.modules["pytest"] = sys.modules["_pytest"] = standin
    sys.modules["solution"] = module
    skipped_cls = standin.__dict__["_Skipped"]
    plan_ns: dict = {"__name__": "unittest_plan"}
    exec(state["plan"], plan_ns)
    test_code = compile(test_source, TEST_FILE, "exec")
    test_codes = code_objects(test_code)
    harness_codes = code_objects(state["standin"]) | code_objects(state["plan"])
    namespace = {"__name__": "test_solution", "__file__": TEST_FILE, "__builtins__": builtins}

    def blame(tb) -> str:  # type: ignore[no-untyped-def]
        who = "test"
        while tb is not None:
            ident = id(tb.tb_frame.f_code)
            if ident in test_codes:
                who = "test"
            elif ident not in harness_codes:
                who = "solution"
            tb = tb.tb_next
        return who

    def failed(exc: BaseException) -> int:
        message = f"{type(exc).__name__}: {exc}"[:500].encode("utf-8", "replace")
        lock_down()
        emit(b"fail", message)
        return 0

    try:
        exec(test_code, namespace)
        owner, _, name = test_id.rpartition("::")
        holder = namespace[owner] if owner else None
        func = getattr(holder, name) if holder is not None else namespace[name]
    except BaseException as exc:  # noqa: BLE001 - the test module itself is broken, or names what does not exist
        if blame(exc.__traceback__) == "solution":
            raise
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.__stderr__)
        return failed(exc)
    target_func = getattr(func, "__func__", func)
    invocations = plan_ns["invocations"](namespace, holder, name, func)
    ran = 0
    skipped = getattr(target_func, "_cvb_skip__", False) is True
    while not skipped:
        try:
            target, kwargs = next(invocations)
        except StopIteration:
            break
        except skipped_cls as exc:
            if blame(exc.__traceback__) == "solution":
                raise
            skipped = True
            break
        except BaseException as exc:  # noqa: BLE001 - a fixture or set-up failed
            if blame(exc.__traceback__) == "solution":
                raise
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.__stderr__)
            return failed(exc)
        if getattr(target, "__func__", target) is not target_func:  # the plan may only ever call the test itself
            invocations.close()
            return failed(RuntimeError("the test plan did not call the test function"))
        try:
            target(**kwargs)
            ran += 1
        except skipped_cls as exc:
            invocations.close()
            if blame(exc.__traceback__) == "solution":
                raise
            skipped = True
        except BaseException as exc:  # noqa: BLE001
            try:
                invocations.close()
            except BaseException:  # noqa: BLE001 - a tear-down failing after a failure: the failure decides
                pass
            if blame(exc.__traceback__) == "solution":
                raise
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.__stderr__)
            return failed(exc)
    if not ran and not skipped:
        return failed(RuntimeError("no test case ran"))
    lock_down()
    emit(b"pass")
    return 0


# --- the spawn sandbox's entry point -------------------------------------------------------------------------------


def main() -> None:
    """``python runner.py PAYLOAD_FD SIDE_FD``: the payload (JSON: code, argv, nonce, mode, spec) is read and its fd
    closed before the program exists."""
    payload_fd, side_fd = int(sys.argv[1]), int(sys.argv[2])
    with os.fdopen(payload_fd, "rb") as fh:
        payload = json.loads(fh.read())
    prepare()
    source = payload["code"]
    status = execute(source, side_fd, payload.get("argv", []), nonce=payload["nonce"], mode=payload.get("mode", "stdin"),
                     spec=payload.get("spec"))
    del payload, source
    sys.exit(status)


if __name__ == "__main__":
    main()
