"""A Python environment under /tmp would be hidden by the sandbox's scratch tmpfs: refused with one clear line."""

from __future__ import annotations

import sys

import pytest

from builder.errors import UserError
from builder.sandbox import forkserver


def test_packages_under_tmp_are_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", [*sys.path, "/tmp/venv/lib/python3.11/site-packages"])
    assert forkserver._python_dirs_under_scratch() == ["/tmp/venv/lib/python3.11/site-packages"]


def test_this_environment_is_not_under_tmp() -> None:
    assert forkserver._python_dirs_under_scratch() == []


def test_fork_server_refuses_an_environment_it_would_hide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", [*sys.path, "/tmp/venv/lib/python3.11/site-packages"])
    with pytest.raises(UserError, match="install the environment outside /tmp"):
        forkserver.ForkServerSandbox()
