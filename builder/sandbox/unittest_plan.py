"""How one pytest-style test is invoked inside the sandbox: its parametrized cases, fixtures and set-up/tear-down.

Runs only in the sandboxed child (:mod:`builder.sandbox.runner`, unit-test mode), made fresh from this file for every
test after the solution's code ran. :func:`invocations` yields ``(callable, kwargs)`` pairs; the runner itself makes
each call, checks that the callable is the test function, and decides the outcome, so nothing here can turn a failure
into a pass. Fixtures: the test module's own ``@pytest.fixture`` functions (plain or generator), and the built-in
``tmp_path``, ``tmpdir``, ``capsys``, ``capfd``, ``monkeypatch`` and ``request``. Standard library only.
"""

import inspect
import io
import itertools
import os
import shutil
import sys
import tempfile
import types
import unittest
from pathlib import Path

#: fixtures provided here (besides the ones a test module defines itself)
BUILTIN_FIXTURES = frozenset({"tmp_path", "tmpdir", "capsys", "capfd", "monkeypatch", "request"})


class CaptureResult(tuple):
    out = property(lambda self: self[0])
    err = property(lambda self: self[1])


class Capture:
    def __init__(self):
        self._saved = (sys.stdout, sys.stderr)
        self._out, self._err = io.StringIO(), io.StringIO()
        sys.stdout, sys.stderr = self._out, self._err

    def readouterr(self):
        out, err = self._out.getvalue(), self._err.getvalue()
        self._out.seek(0)
        self._out.truncate()
        self._err.seek(0)
        self._err.truncate()
        return CaptureResult((out, err))

    def close(self):
        sys.stdout, sys.stderr = self._saved


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
        sys.path.insert(0, str(path))

    def undo(self):
        while self._undo:
            self._undo.pop()()


def _builtin_fixture(name, test_name, finalizers):
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
        return types.SimpleNamespace(param=None, node=types.SimpleNamespace(name=test_name))
    raise LookupError(f"fixture {name!r} not found")


def _resolve(name, namespace, cache, test_name, finalizers):
    if name in cache:
        return cache[name]
    func = namespace.get(name)
    if callable(func) and getattr(func, "_cvb_fixture__", False):
        kwargs = {arg: _resolve(arg, namespace, cache, test_name, finalizers) for arg in inspect.signature(func).parameters}
        value = func(**kwargs)
        if inspect.isgenerator(value):
            generator, value = value, next(value)
            finalizers.append(lambda: next(generator, None))
    else:
        value = _builtin_fixture(name, test_name, finalizers)
    cache[name] = value
    return value


def _cases(func):
    groups = getattr(func, "_cvb_params__", [])
    if not groups:
        yield {}
        return
    for combo in itertools.product(*[[dict(zip(names, case)) for case in group] for names, group in groups]):
        merged = {}
        for part in combo:
            merged.update(part)
        yield merged


def invocations(namespace, holder, name, func):
    """Yield ``(callable, kwargs)`` for every case of the test ``name`` (a function, or a method of ``holder``)."""
    if isinstance(holder, type) and issubclass(holder, unittest.TestCase):
        case = holder(name)
        case.setUp()
        try:
            yield getattr(case, name), {}
        finally:
            case.tearDown()
        return
    for params in _cases(func):
        instance = holder() if holder is not None else None
        target = getattr(instance, name) if instance is not None else func
        if instance is not None and hasattr(instance, "setup_method"):
            instance.setup_method(target)
        finalizers = []
        cache = dict(params)
        try:
            kwargs = {arg: _resolve(arg, namespace, cache, name, finalizers) for arg in inspect.signature(target).parameters}
            yield target, kwargs
        finally:
            while finalizers:
                finalizers.pop()()
            if instance is not None and hasattr(instance, "teardown_method"):
                instance.teardown_method(target)
