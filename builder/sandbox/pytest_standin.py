"""A small stand-in for the ``pytest`` module, as unit tests inside the sandbox see it (``import pytest``).

Runs only in the sandboxed child (:mod:`builder.sandbox.runner`, unit-test mode): a fresh module is made from this
file for every test, after the solution's own code ran, so nothing a solution does at import time reaches it. It
provides what generated unit tests use: ``raises``, ``approx``, ``fail``, ``skip``, ``param``, ``mark.parametrize`` /
``mark.skip`` / ``mark.skipif`` and ``fixture``; the fixtures themselves are resolved by
:mod:`builder.sandbox.unittest_plan`. Standard library only.
"""

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
