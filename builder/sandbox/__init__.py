"""Executors for untrusted programs behind one interface (:class:`builder.sandbox.base.Sandbox`)."""

from __future__ import annotations

from builder.core.errors import UserError
from builder.sandbox.base import Limits, RunResult, Sandbox

SANDBOX_KINDS = ("auto", "forkserver", "spawn")

__all__ = ["Limits", "RunResult", "Sandbox", "SANDBOX_KINDS", "make_sandbox"]


def make_sandbox(kind: str = "auto", *, allow_unsandboxed: bool = False) -> Sandbox:
    """The executor for ``kind``: "auto" (the strongest available), "forkserver" or "spawn".

    "spawn" is the simple spawn-per-test executor (rlimits only: it does not hide the network or the user's
    files); "forkserver" detects and uses the strongest isolation the machine offers, and refuses to run with
    none unless ``allow_unsandboxed`` is set.
    """
    if kind not in SANDBOX_KINDS:
        raise UserError(f"unknown sandbox kind {kind!r}; choose one of {', '.join(SANDBOX_KINDS)}")
    if kind == "spawn":
        from builder.sandbox.spawn import SpawnSandbox

        return SpawnSandbox()
    try:
        from builder.sandbox.forkserver import ForkServerSandbox
    except ImportError:
        if kind == "forkserver":
            raise UserError("the fork-server sandbox is not available in this installation") from None
        from builder.sandbox.spawn import SpawnSandbox

        return SpawnSandbox()
    return ForkServerSandbox(allow_unsandboxed=allow_unsandboxed)
