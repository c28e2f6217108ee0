"""A run request a sandbox cannot honour is refused before anything starts, by every sandbox alike."""

from __future__ import annotations

import pytest

from builder.sandbox import base
from builder.sandbox.base import Limits
from builder.sandbox.spawn import SpawnSandbox


@pytest.mark.parametrize("name", ["", "a/b", "../x", ".", "..", "nul\0name", "/etc/passwd"])
def test_scratch_file_names_must_be_plain(name: str) -> None:
    with pytest.raises(ValueError, match="plain names"):
        base.check_request("stdin", None, {name: b"x"})
    with SpawnSandbox() as sandbox, pytest.raises(ValueError, match="plain names"):
        sandbox.run("print(1)", b"", Limits(), files={name: b"x"})


def test_modes_and_binaries_must_agree() -> None:
    base.check_request("stdin", None, {"input.txt": b"1"})
    base.check_request("exec", 7, None)
    with pytest.raises(ValueError, match="unknown run mode"):
        base.check_request("shell", None, None)
    with pytest.raises(ValueError, match="only it takes one"):
        base.check_request("exec", None, None)
    with pytest.raises(ValueError, match="only it takes one"):
        base.check_request("stdin", 7, None)
