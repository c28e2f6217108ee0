"""``builder sandbox-check``: the isolation level a sandbox reached, and probes that show it holds.

The probes are small hostile programs run through the sandbox itself: they try the network (a listener this process
opens on 127.0.0.1), a canary file of the host, a canary environment variable, the memory limit and the CPU limit.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from builder.sandbox import base
from builder.sandbox.base import Limits, Sandbox

CANARY_ENV = "BUILDER_SANDBOX_CHECK_CANARY"


@dataclass(frozen=True)
class Probe:
    name: str
    ok: bool
    detail: str


def describe_lines(sandbox: Sandbox) -> list[str]:
    """The sandbox's ``describe()`` as aligned ``key: value`` lines."""
    info = sandbox.describe()
    lines = []
    for key, value in info.items():
        if isinstance(value, dict):
            for sub, reason in value.items():
                lines.append(f"{key + ' ' + str(sub) + ':':<22} {reason}")
            continue
        if isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value) or "-"
        elif value is None or value is False:
            value = "no"
        elif value is True:
            value = "yes"
        lines.append(f"{key + ':':<22} {value}")
    return lines


def run_probes(sandbox: Sandbox) -> list[Probe]:
    """Run the probe programs; each Probe says whether the sandbox held."""
    probes: list[Probe] = []
    limits = Limits(cpu_s=2.0, memory_mb=256)
    hello = sandbox.run("print(2 * int(input()))", b"21\n", limits)
    probes.append(Probe("runs a program", hello.status == base.EXITED and hello.stdout == b"42\n", _brief(hello)))

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.1)
    got: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                got.append(conn.recv(16) or b"<connect>")
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    net = sandbox.run(
        f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'x')\n    print('connected')\n"
        "except OSError as e:\n    print(type(e).__name__)",
        b"",
        limits,
    )
    stop.set()
    thread.join(timeout=2)
    listener.close()
    probes.append(Probe("network unreachable", not got and b"connected" not in net.stdout, net.stdout.decode(errors="replace").strip()))

    with tempfile.TemporaryDirectory(prefix="builder-check-") as tmp:
        canary = Path(tmp) / "canary.txt"
        canary.write_text("host canary")
        written = Path(tmp) / "written.txt"
        files = sandbox.run(
            f"try:\n    print(open({str(canary)!r}).read())\nexcept OSError as e:\n    print(type(e).__name__)\n"
            f"try:\n    open({str(written)!r}, 'w').write('x')\nexcept OSError:\n    pass",
            b"",
            limits,
        )
        probes.append(
            Probe("host files hidden", b"host canary" not in files.stdout and not written.exists(), files.stdout.decode(errors="replace").strip())
        )

    os.environ[CANARY_ENV] = "canary-value"
    try:
        env = sandbox.run(
            "import os, glob\nleak = 'canary-value' in str(os.environ)\nfor p in glob.glob('/proc/*/environ'):\n"
            "    try:\n        leak = leak or b'canary-value' in open(p, 'rb').read()\n    except OSError:\n        pass\nprint(leak)",
            b"",
            limits,
        )
    finally:
        os.environ.pop(CANARY_ENV, None)
    probes.append(Probe("environment hidden", env.stdout.strip() == b"False", env.stdout.decode(errors="replace").strip()))

    memory = sandbox.run("x = bytearray(400 << 20)\nprint(len(x))", b"", Limits(cpu_s=5.0, memory_mb=256))
    probes.append(Probe("memory limit (400 MB of 256)", memory.status == base.MEMORY, _brief(memory)))
    cpu = sandbox.run("while True: pass", b"", Limits(cpu_s=0.5, wall_s=10.0))
    probes.append(Probe("cpu limit (0.5 s)", cpu.status == base.TIMEOUT, _brief(cpu)))
    return probes


def _brief(run: base.RunResult) -> str:
    return f"status={run.status} cpu={run.cpu_s:.3f}s peak={run.peak_memory_mb:.0f}MB" + (f" error={run.error}" if run.error else "")
