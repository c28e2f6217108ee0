"""The exec launcher of the fork-server sandbox (``launcher.c``), built once per process.

A test whose program is a compiled binary (mode ``exec``, no files) is started by the zygote with ``posix_spawn`` of
this small static C program instead of a fork of the zygote's interpreter: it does the same lock-down with system
calls (see ``launcher.c``) and then ``execveat`` of the binary. That takes a forked Python interpreter (copying its
page tables, then copy-on-write faults while it sets up) off every test of a binary: see ``just bench``
(``bench/bench_compiled.py``) for the per-test cost with and without it.

The supervisor compiles the source with the machine's C compiler (``-static`` where the toolchain has the static C
library, else a dynamic executable) into a sealed memfd, once per process, and sends it with every test of a binary;
the zygote runs it from that descriptor. Without a C compiler (no C/C++ candidates can run then either) or with
``launcher`` in ``BUILDER_SANDBOX_DISABLE``, binaries run through the forked interpreter as before.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from builder.sandbox.fdio import executable_memfd

SOURCE = Path(__file__).with_name("launcher.c")

_lock = threading.Lock()
_built: dict[str, object] = {}


def launcher_fd() -> int | None:
    """A sealed memfd holding the launcher executable (built on the first call of this process), or None when it
    cannot be built here (:func:`launcher_error` says why)."""
    with _lock:
        if "fd" not in _built:
            _built["fd"], _built["error"] = _build()
        fd = _built["fd"]
        return fd if isinstance(fd, int) else None


def launcher_error() -> str | None:
    """Why the launcher could not be built (None when it was, or was not tried yet)."""
    error = _built.get("error")
    return error if isinstance(error, str) else None


def compile_launcher(output: str) -> str | None:
    """Compile ``launcher.c`` to ``output``; the compiler's complaint when it cannot be compiled, else None."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return "no C compiler (cc) on PATH"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C", "LC_ALL": "C"}
    complaint = "no output"
    for static in (["-static"], []):
        try:
            done = subprocess.run([compiler, "-O2", "-Wall", *static, "-o", output, str(SOURCE)], capture_output=True,
                                  timeout=120, env=env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{compiler}: {exc}"
        if done.returncode == 0:
            return None
        lines = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        complaint = lines[-1] if lines else f"exit {done.returncode}"
    return f"{compiler} could not build the launcher: {complaint}"


def _build() -> tuple[int | None, str | None]:
    with tempfile.TemporaryDirectory(prefix="builder-launcher-") as folder:
        output = os.path.join(folder, "launcher")
        error = compile_launcher(output)
        if error is not None:
            return None, error
        data = Path(output).read_bytes()
    return executable_memfd("builder-launcher", data), None
