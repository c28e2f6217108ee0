"""Test styles beyond stdin/stdout: functional (call-based) tests and pytest-style unit tests.

Both styles become one ordinary program per test, run by the sandbox like any candidate, so they share the
taxonomy (``judge.run_verdict``) with stdin tests:

* ``functional``: the test's ``input`` holds the call's arguments, one JSON value per line (LiveCodeBench and
  TACO call-based tests); its ``output`` is the expected return value as JSON. The program is the solution plus a
  driver that reads the arguments from stdin, calls the named function (or ``Solution().method`` when the code
  defines a class ``Solution`` with that method) and prints the return value as one JSON line. Output the solution
  prints itself goes to stderr, so it cannot corrupt the result line. Exceptions in the call propagate: the runner's
  side channel reports their class, so an IndexError is a ``logic_error`` as for any program.
  :func:`compare_functional` compares the printed value with the expected one, with float tolerance inside lists.
* ``pytest``: one test row per test function (KodCode). ``input`` is the test module's source, ``output`` the test
  function's name as JSON (``"test_add"`` or ``"TestX::test_add"``). The program is the solution (importable as the
  module ``solution``, as the tests expect: ``from solution import add``) plus a small runner that executes the test
  module and calls that one test with its parametrized cases and fixtures. pytest itself is not imported in the
  sandbox: a minimal stand-in module provides what unit tests use (``raises``, ``approx``, ``mark.parametrize``,
  ``fixture``, ``param``, ``fail``, ``skip``) and the fixtures ``tmp_path``, ``tmpdir``, ``capsys``, ``capfd``,
  ``monkeypatch``; :func:`unsupported_fixtures` lets a source quarantine tests that need anything else. When the test
  passes the program prints the test's name as JSON (so ``compare_functional(test["output"], stdout)`` accepts);
  when an assertion fails, or the test code raises because of what the solution returned, it prints a failure
  record instead and exits cleanly (``wa``); an exception raised inside the solution's own code propagates
  (``logic_error`` / ``runtime_error``).

In both styles the solution runs with ``__name__ == "solution"``, so an ``if __name__ == "__main__":`` demo block in
a model's answer does not run (and cannot eat the arguments or block on ``input()``).
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Mapping
from typing import Any

#: the file name the test module is compiled under inside the program (tracebacks, failure attribution)
TEST_FILENAME = "test_solution.py"
#: fixtures the in-sandbox runner provides (besides fixtures the test module defines itself)
BUILTIN_FIXTURES = frozenset({"tmp_path", "tmpdir", "capsys", "capfd", "monkeypatch", "request"})

_PRELUDE = (
    "import sys as _cvb_sys; _cvb_file = _cvb_sys._getframe().f_code.co_filename; "
    "_cvb_stdout = _cvb_sys.stdout; _cvb_sys.stdout = _cvb_sys.stderr; {extra}__name__ = 'solution'\n"
)

_FUNCTIONAL_DRIVER = '''

# --- call-based test driver (added by the builder) ---
def _cvb_jsonable(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_cvb_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {(k if isinstance(k, str) else str(k)): _cvb_jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(_cvb_jsonable(v) for v in value)
        except TypeError:
            return [_cvb_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return _cvb_jsonable(value.tolist())
    return repr(value)


def _cvb_resolve(name):
    scope = globals()
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


def _cvb_call(fn_name):
    import json as _json
    args = [_json.loads(line) for line in _cvb_stdin.split("\\n") if line.strip()]
    func = _cvb_resolve(fn_name)
    result = func(*args)
    _cvb_stdout.write(_json.dumps(_cvb_jsonable(result)) + "\\n")
    _cvb_stdout.flush()


'''

_PYTEST_SHIM = r'''
import contextlib as _contextlib
import math as _math
import re as _re


class Failed(AssertionError):
    pass


class _Skipped(Exception):
    pass


class _ExceptionInfo:
    def __init__(self, expected, match):
        self.expected, self.match_expr = expected, match
        self.value = self.type = self.tb = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            raise Failed(f"DID NOT RAISE {self.expected!r}")
        if not issubclass(exc_type, self.expected):
            return False
        self.value, self.type, self.tb = exc, exc_type, tb
        if self.match_expr is not None and not _re.search(self.match_expr, str(exc)):
            raise AssertionError(f"Regex pattern {self.match_expr!r} does not match {str(exc)!r}")
        return True

    def match(self, pattern):
        assert _re.search(pattern, str(self.value)), f"Regex pattern {pattern!r} does not match {str(self.value)!r}"
        return True


def raises(expected_exception, *args, match=None, **kwargs):
    info = _ExceptionInfo(expected_exception, match)
    if args:
        with info:
            args[0](*args[1:], **kwargs)
    return info


class approx:
    def __init__(self, expected, rel=None, abs=None, nan_ok=False):
        self.expected, self.rel, self.abs, self.nan_ok = expected, rel, abs, nan_ok

    def _close(self, expected, actual):
        if isinstance(expected, dict):
            return isinstance(actual, dict) and expected.keys() == actual.keys() and all(
                self._close(expected[k], actual[k]) for k in expected)
        if isinstance(expected, (list, tuple)):
            return isinstance(actual, (list, tuple)) and len(expected) == len(actual) and all(
                self._close(e, a) for e, a in zip(expected, actual))
        if isinstance(expected, bool) or not isinstance(expected, (int, float)) or isinstance(actual, bool):
            return expected == actual
        if not isinstance(actual, (int, float)):
            return False
        if _math.isnan(expected) or _math.isnan(actual):
            return self.nan_ok and _math.isnan(expected) and _math.isnan(actual)
        if expected == actual:
            return True
        rel = 1e-6 if self.rel is None else self.rel
        absolute = 1e-12 if self.abs is None else self.abs
        return abs(expected - actual) <= max(rel * abs(expected), absolute)

    def __eq__(self, actual):
        return self._close(self.expected, actual)

    __hash__ = None

    def __repr__(self):
        return f"approx({self.expected!r})"


def fail(reason="", pytrace=True):
    raise Failed(reason)


def skip(reason="", allow_module_level=False):
    raise _Skipped(reason)


class _Param:
    def __init__(self, values, marks=(), id=None):
        self.values, self.marks, self.id = values, marks, id


def param(*values, marks=(), id=None):
    return _Param(values, marks, id)


class _MarkDecorator:
    def __init__(self, name, args=(), kwargs=None):
        self.name, self.args, self.kwargs = name, args, kwargs or {}

    def __call__(self, *args, **kwargs):
        if self.name != "parametrize" and len(args) == 1 and callable(args[0]) and not kwargs:
            func = args[0]
            if self.name == "skip" or (self.name == "skipif" and self.args and self.args[0]):
                func._cvb_skip__ = True
            return func
        return _MarkDecorator(self.name, args, kwargs)


class _Parametrize:
    def __init__(self, argnames, argvalues, indirect=False, ids=None, scope=None):
        if isinstance(argnames, str):
            names = [n.strip() for n in argnames.split(",") if n.strip()]
        else:
            names = list(argnames)
        cases = []
        for value in argvalues:
            if isinstance(value, _Param):
                value = value.values
                value = value if len(names) > 1 else value[0]
            cases.append(tuple(value) if len(names) > 1 else (value,))
        self.names, self.cases = names, cases

    def __call__(self, func):
        func._cvb_params__ = [(self.names, self.cases)] + list(getattr(func, "_cvb_params__", []))
        return func


class _Mark:
    def __getattr__(self, name):
        if name == "parametrize":
            return lambda *args, **kwargs: _Parametrize(*args, **kwargs)
        return _MarkDecorator(name)


mark = _Mark()


def fixture(*args, **kwargs):
    def decorate(func):
        func._cvb_fixture__ = True
        return func
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return decorate(args[0])
    return decorate
'''

_PYTEST_RUNNER = '''

# --- unit-test runner (added by the builder) ---
def _cvb_run_test(test_source, test_id):
    import inspect, io, itertools, json, os, shutil, tempfile, types, unittest
    from pathlib import Path

    _cvb_sys.modules["solution"] = _cvb_sys.modules["__main__"]
    shim = types.ModuleType("pytest")
    exec(compile(_cvb_shim_source, "pytest_shim.py", "exec"), shim.__dict__)
    _cvb_sys.modules["pytest"] = shim
    _cvb_sys.modules["_pytest"] = shim

    class CaptureResult(tuple):
        out = property(lambda self: self[0])
        err = property(lambda self: self[1])

    class Capture:
        def __init__(self):
            self._saved = (_cvb_sys.stdout, _cvb_sys.stderr)
            self._out, self._err = io.StringIO(), io.StringIO()
            _cvb_sys.stdout, _cvb_sys.stderr = self._out, self._err

        def readouterr(self):
            out, err = self._out.getvalue(), self._err.getvalue()
            self._out.seek(0); self._out.truncate()
            self._err.seek(0); self._err.truncate()
            return CaptureResult((out, err))

        def close(self):
            _cvb_sys.stdout, _cvb_sys.stderr = self._saved

    class MonkeyPatch:
        _missing = object()

        def __init__(self):
            self._undo = []

        def setattr(self, target, name, value=_missing, raising=True):
            if value is self._missing:
                module, _, attr = target.rpartition(".")
                target, name, value = __import__(module, fromlist=["_"]), attr, name
            old = getattr(target, name, self._missing)
            self._undo.append(lambda: setattr(target, name, old) if old is not self._missing else delattr(target, name))
            setattr(target, name, value)

        def delattr(self, target, name, raising=True):
            old = getattr(target, name, self._missing)
            if old is not self._missing:
                self._undo.append(lambda: setattr(target, name, old))
                delattr(target, name)

        def setitem(self, mapping, key, value):
            old = mapping.get(key, self._missing)
            self._undo.append(lambda: mapping.__setitem__(key, old) if old is not self._missing else mapping.pop(key, None))
            mapping[key] = value

        def delitem(self, mapping, key, raising=True):
            if key in mapping:
                old = mapping[key]
                self._undo.append(lambda: mapping.__setitem__(key, old))
                del mapping[key]

        def setenv(self, name, value, prepend=None):
            self.setitem(os.environ, name, str(value))

        def delenv(self, name, raising=True):
            self.delitem(os.environ, name)

        def chdir(self, path):
            old = os.getcwd()
            self._undo.append(lambda: os.chdir(old))
            os.chdir(path)

        def syspath_prepend(self, path):
            _cvb_sys.path.insert(0, str(path))

        def undo(self):
            while self._undo:
                self._undo.pop()()

    finalizers = []

    def builtin_fixture(name):
        if name in ("tmp_path", "tmpdir"):
            path = tempfile.mkdtemp(prefix="cvb_")
            finalizers.append(lambda: shutil.rmtree(path, ignore_errors=True))
            return Path(path)
        if name in ("capsys", "capfd"):
            cap = Capture()
            finalizers.append(cap.close)
            return cap
        if name == "monkeypatch":
            patch = MonkeyPatch()
            finalizers.append(patch.undo)
            return patch
        if name == "request":
            return types.SimpleNamespace(param=None, node=types.SimpleNamespace(name=test_id))
        raise LookupError(f"fixture {name!r} not found")

    def resolve(name, namespace, cache):
        if name in cache:
            return cache[name]
        func = namespace.get(name)
        if callable(func) and getattr(func, "_cvb_fixture__", False):
            kwargs = {arg: resolve(arg, namespace, cache) for arg in inspect.signature(func).parameters}
            value = func(**kwargs)
            if inspect.isgenerator(value):
                generator, value = value, next(value)
                finalizers.append(lambda: next(generator, None))
        else:
            value = builtin_fixture(name)
        cache[name] = value
        return value

    def cases(func):
        groups = getattr(func, "_cvb_params__", [])
        if not groups:
            yield {}
            return
        for combo in itertools.product(*[[dict(zip(names, case)) for case in group] for names, group in groups]):
            merged = {}
            for part in combo:
                merged.update(part)
            yield merged

    namespace = {"__name__": "test_solution", "__file__": _cvb_test_filename, "__builtins__": __builtins__}
    exec(compile(test_source, _cvb_test_filename, "exec"), namespace)
    owner, _, name = test_id.rpartition("::")
    holder = namespace[owner] if owner else None
    func = getattr(holder, name) if holder is not None else namespace[name]
    if getattr(func, "_cvb_skip__", False):
        return
    if isinstance(holder, type) and issubclass(holder, unittest.TestCase):
        case = holder(name)
        case.setUp()
        try:
            getattr(case, name)()
        finally:
            case.tearDown()
        return
    for params in cases(func):
        instance = holder() if holder is not None else None
        target = getattr(instance, name) if instance is not None else func
        if instance is not None and hasattr(instance, "setup_method"):
            instance.setup_method(target)
        cache = dict(params)
        try:
            kwargs = {arg: resolve(arg, namespace, cache) for arg in inspect.signature(target).parameters}
            target(**kwargs)
        finally:
            while finalizers:
                finalizers.pop()()
            if instance is not None and hasattr(instance, "teardown_method"):
                instance.teardown_method(target)


def _cvb_blame(tb):
    """'solution' when the deepest frame of the program or the test module is the program's, else 'test'."""
    blame = "test"
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename == _cvb_file:
            blame = "solution"
        elif filename == _cvb_test_filename:
            blame = "test"
        tb = tb.tb_next
    return blame


def _cvb_main(test_source, test_id):
    import json as _json
    try:
        _cvb_run_test(test_source, test_id)
    except Exception as exc:
        shim = _cvb_sys.modules.get("pytest")
        if shim is not None and isinstance(exc, getattr(shim, "_Skipped", ())):
            pass
        elif _cvb_blame(exc.__traceback__) == "solution":
            raise
        else:
            import traceback
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=_cvb_sys.__stderr__)
            record = {"failed": test_id, "error": f"{type(exc).__name__}: {exc}"[:500]}
            _cvb_stdout.write(_json.dumps(record) + "\\n")
            _cvb_stdout.flush()
            return
    _cvb_stdout.write(_json.dumps(test_id) + "\\n")
    _cvb_stdout.flush()


'''


def _insert_prelude(solution: str, prelude: str) -> str:
    """``prelude`` before the solution's code, after its ``from __future__`` imports (which must come first)."""
    if "__future__" not in solution:
        return prelude + solution
    try:
        tree = ast.parse(solution)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return prelude + solution  # does not compile either way: the runner reports syntax_error
    last = 0
    for index, node in enumerate(tree.body):
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            last = node.end_lineno or node.lineno
        elif index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the module docstring may precede them
        else:
            break
    lines = solution.splitlines(keepends=True)
    head = "".join(lines[:last])
    if head and not head.endswith("\n"):
        head += "\n"
    return head + prelude + "".join(lines[last:])


def functional_program(solution: str, fn_name: str) -> str:
    """The solution plus a driver that calls ``fn_name`` with the JSON arguments on stdin and prints the result."""
    prelude = _PRELUDE.format(extra="_cvb_stdin = _cvb_sys.stdin.read(); ")
    body = _insert_prelude(solution, prelude)
    if not body.endswith("\n"):
        body += "\n"
    return body + _FUNCTIONAL_DRIVER + f"_cvb_call({fn_name!r})\n"


def pytest_program(solution: str, test_source: str, test_id: str) -> str:
    """The solution (as module ``solution``) plus a runner for one test function of ``test_source``."""
    body = _insert_prelude(solution, _PRELUDE.format(extra=""))
    if not body.endswith("\n"):
        body += "\n"
    return (
        body
        + _PYTEST_RUNNER
        + f"_cvb_test_filename = {TEST_FILENAME!r}\n_cvb_shim_source = {_PYTEST_SHIM!r}\n"
        + f"_cvb_main({test_source!r}, {test_id!r})\n"
    )


def wrap_program(solution: str, problem_row: Mapping[str, Any], test: Mapping[str, str]) -> tuple[str, str]:
    """The program the sandbox runs for one test of ``problem_row``, and its stdin.

    ``stdin`` problems run the solution as is; ``functional`` and ``pytest`` problems get the drivers described in
    the module docstring. Raises ValueError for a problem that cannot be run (no ``fn_name``, unknown test type).
    """
    test_type = problem_row.get("test_type") or "stdin"
    if test_type == "stdin":
        return solution, test["input"]
    if test_type == "functional":
        fn_name = problem_row.get("fn_name")
        if not fn_name:
            raise ValueError(f"problem {problem_row.get('problem_id')}: functional tests need fn_name")
        return functional_program(solution, fn_name), test["input"]
    if test_type == "pytest":
        return pytest_program(solution, test["input"], json.loads(test["output"])), ""
    raise ValueError(f"problem {problem_row.get('problem_id')}: unknown test_type {test_type!r}")


# --- comparing return values ------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def values_match(expected: Any, actual: Any, tol: float) -> bool:
    """Structural equality of JSON values; floats (anywhere inside lists/dicts) within ``tol * max(1, |b|)``."""
    if isinstance(expected, float) or isinstance(actual, float):
        if not (_is_number(expected) and _is_number(actual)):
            return expected == actual
        b, a = float(expected), float(actual)
        if math.isnan(b) or math.isnan(a):
            return math.isnan(b) and math.isnan(a)
        if math.isinf(b) or math.isinf(a):
            return a == b
        return abs(a - b) <= tol * max(1.0, abs(b))
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(
            values_match(e, a, tol) for e, a in zip(expected, actual)
        )
    if isinstance(expected, dict):
        return isinstance(actual, dict) and expected.keys() == actual.keys() and all(
            values_match(expected[k], actual[k], tol) for k in expected
        )
    return bool(expected == actual)


def compare_functional(expected: str, actual_stdout: str, tol: float, match: str | None = None) -> bool:
    """Does the program's result (the last non-empty line of stdout, as JSON) equal ``expected`` (JSON)?

    Floats are compared with tolerance ``tol`` relative to ``max(1, |expected|)``, also inside lists and dicts;
    tuples arrive as lists. A result line that is not JSON never matches; an expected value that is not JSON is
    compared as text.

    ``match`` is the problem's ``functional_match`` (see :data:`builder.schema.FUNCTIONAL_MATCHES`): ``None`` or
    ``"exact"`` compares the value itself (LiveCodeBench); ``"exact_or_first"`` also accepts the first element of an
    expected non-empty list, as TACO's and APPS' ``testing_util.py`` do (``output == outputs[i]``, or
    ``output == outputs[i][0]`` when ``outputs[i]`` is a non-empty list): those upstreams store most expected
    return values wrapped in a one-element list, some not.
    """
    if match not in (None, "exact", "exact_or_first"):
        raise ValueError(f"unknown functional_match {match!r} (exact, exact_or_first)")
    lines = [line for line in actual_stdout.splitlines() if line.strip()]
    if not lines:
        return False
    try:
        actual = json.loads(lines[-1])
    except ValueError:
        return False
    try:
        wanted = json.loads(expected)
    except ValueError:
        return expected.strip() == lines[-1].strip()
    if values_match(wanted, actual, tol):
        return True
    first = match == "exact_or_first" and isinstance(wanted, list) and len(wanted) > 0
    return first and values_match(wanted[0], actual, tol)


# --- what a source needs to build pytest-style problems ------------------------------------------------------


def _is_test_class(node: ast.ClassDef) -> bool:
    if node.name.startswith("Test"):
        return not any(isinstance(item, ast.FunctionDef) and item.name == "__init__" for item in node.body)
    return any(
        (isinstance(base, ast.Attribute) and base.attr == "TestCase") or (isinstance(base, ast.Name) and base.id == "TestCase")
        for base in node.bases
    )


def pytest_test_ids(test_source: str) -> list[str]:
    """The tests pytest would collect from ``test_source``, in order: ``test_x`` or ``TestClass::test_y``.

    Raises SyntaxError when the source does not parse.
    """
    tree = ast.parse(test_source)
    ids: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            ids.append(node.name)
        elif isinstance(node, ast.ClassDef) and _is_test_class(node):
            ids.extend(
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef) and item.name.startswith("test")
            )
    return ids


def unsupported_fixtures(test_source: str) -> list[str]:
    """Fixture names the tests ask for that the in-sandbox runner cannot provide (empty when all is well)."""
    tree = ast.parse(test_source)
    defined: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
            "fixture" in ast.unparse(dec) for dec in node.decorator_list
        ):
            defined.add(node.name)
    missing: list[str] = []

    def check(func: ast.FunctionDef | ast.AsyncFunctionDef, skip_self: bool) -> None:
        params = {
            name.strip()
            for dec in func.decorator_list
            if isinstance(dec, ast.Call) and "parametrize" in ast.unparse(dec.func) and dec.args
            and isinstance(dec.args[0], ast.Constant) and isinstance(dec.args[0].value, str)
            for name in dec.args[0].value.split(",")
        }
        for dec in func.decorator_list:
            if isinstance(dec, ast.Call) and "parametrize" in ast.unparse(dec.func) and dec.args:
                first = dec.args[0]
                if isinstance(first, (ast.List, ast.Tuple)):
                    params.update(e.value for e in first.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
        args = [a.arg for a in func.args.args]
        if skip_self and args:
            args = args[1:]
        for arg in args:
            if arg not in params and arg not in defined and arg not in BUILTIN_FIXTURES and arg not in missing:
                missing.append(arg)

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            check(node, skip_self=False)
        elif isinstance(node, ast.ClassDef) and _is_test_class(node):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name.startswith("test"):
                    check(item, skip_self=True)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in defined:
            for arg in (a.arg for a in node.args.args):
                if arg not in defined and arg not in BUILTIN_FIXTURES and arg not in missing and arg != "self":
                    missing.append(arg)
    return missing
