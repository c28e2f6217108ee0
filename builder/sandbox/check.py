"""``builder sandbox-check``: the isolation tier and level a sandbox reached, and probes that show it holds.

The probes are small hostile programs run through the sandbox itself, one per guarantee of the tiers (README, "Isolation
tiers"): the network (a listener this process opens on 127.0.0.1), a canary file of the host (private to this user),
a world-readable "dataset" file with an expected output (what a throwaway uid alone would not protect), a canary
environment variable, state left for the next test (files in every writable place, a process), a daemon that must
not outlive its test, attacks on the zygote (signals, its memory, its limits), the memory limit and the CPU limit.
"""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
import threading
import time
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

    with tempfile.TemporaryDirectory(prefix="builder-check-data-") as tmp:
        os.chmod(tmp, 0o755)  # like a dataset anyone on the machine may read (../shared/data is)
        answers = Path(tmp) / "expected.jsonl"
        answers.write_text('{"output": "expected-output-canary"}\n')
        answers.chmod(0o644)
        peek = sandbox.run(
            f"import os\nseen = []\ntry:\n    seen.append(open({str(answers)!r}).read())\nexcept OSError as e:\n    seen.append(type(e).__name__)\n"
            f"try:\n    seen += os.listdir({tmp!r})\nexcept OSError as e:\n    seen.append(type(e).__name__)\nprint(seen)",
            b"",
            limits,
        )
        probes.append(Probe("expected outputs unreadable (a world-readable dataset file)", b"canary" not in peek.stdout and b"expected.jsonl" not in peek.stdout
                            and peek.status == base.EXITED, peek.stdout.decode(errors="replace").strip()))

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

    probes.append(_state_probe(sandbox, limits))
    probes.append(_leftover_probe(sandbox, limits))
    if type(sandbox).__name__ == "ForkServerSandbox":  # elsewhere the parent is the caller itself
        probes.append(_zygote_probe(sandbox, limits))

    memory = sandbox.run("x = bytearray(400 << 20)\nprint(len(x))", b"", Limits(cpu_s=5.0, memory_mb=256))
    probes.append(Probe("memory limit (400 MB of 256)", memory.status == base.MEMORY, _brief(memory)))
    cpu = sandbox.run("while True: pass", b"", Limits(cpu_s=0.5, wall_s=10.0))
    probes.append(Probe("cpu limit (0.5 s)", cpu.status == base.TIMEOUT, _brief(cpu)))
    return probes


LEAVE = """
import os, time
marker = "builder-check-left-{tag}"
for folder in (".", "/tmp", "/dev/shm", "/var/tmp", os.path.expanduser("~")):
    try:
        with open(os.path.join(folder, marker), "w") as fh:
            fh.write("left")
        os.chmod(os.path.join(folder, marker), 0o666)
    except OSError:
        pass
print("done")
"""

FIND = """
import os
marker = "builder-check-left-{tag}"
found = []
for folder in (".", "/tmp", "/dev/shm", "/var/tmp", os.path.expanduser("~")):
    try:
        found += [os.path.join(folder, n) for n in os.listdir(folder) if n.startswith("builder-check-left")]
    except OSError:
        try:
            open(os.path.join(folder, marker)).close()
            found.append(os.path.join(folder, marker))
        except OSError:
            pass
print(found)
"""


def _state_probe(sandbox: Sandbox, limits: Limits) -> Probe:
    """A test leaves a file wherever it can write; the next test (another candidate's) must find none of them."""
    tag = secrets.token_hex(4)
    left = sandbox.run(LEAVE.format(tag=tag), b"", limits)
    found = sandbox.run(FIND.format(tag=tag), b"", limits)
    ok = left.stdout.strip() == b"done" and found.status == base.EXITED and found.stdout.strip() == b"[]"
    for folder in ("/tmp", "/dev/shm", "/var/tmp", os.path.expanduser("~")):  # where a weak sandbox let it through
        try:
            os.unlink(os.path.join(folder, f"builder-check-left-{tag}"))
        except OSError:
            pass
    return Probe("nothing left for the next test", ok, found.stdout.decode(errors="replace").strip() or _brief(found))


def _leftover_probe(sandbox: Sandbox, limits: Limits) -> Probe:
    """A daemon (new session, double fork, its own interpreter) must not outlive its test: none of its processes is
    alive on the machine afterwards (found by a unique word on their command line)."""
    tag = "builder-check-daemon-" + secrets.token_hex(4)
    code = (
        "import os, sys, time\n"
        "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        f"        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(120)', {tag!r}])\n"
        "    os._exit(0)\n"
        "time.sleep(0.5)\nprint('forked')"
    )
    run = sandbox.run(code, b"", limits)
    deadline = time.monotonic() + 5.0
    alive = _with_word(tag)
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = _with_word(tag)
    for pid in alive:  # a weak sandbox let it live: do not leave it behind
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    return Probe("no process outlives its test", run.stdout.strip() == b"forked" and not alive, f"{_brief(run)} alive after the test: {alive}")


def _with_word(word: str) -> list[int]:
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if word.encode() in fh.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


ZYGOTE_ATTACK = """
import ctypes, os, signal
done = []
for pid in (os.getppid(),):  # the zygote (PID 1 of the test's namespace where there is one)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
            done.append(f"kill {{pid}} {{sig.name}}")
        except OSError:
            pass
    try:
        with open(f"/proc/{{pid}}/mem", "rb") as fh:
            done.append(f"opened /proc/{{pid}}/mem")
    except OSError:
        pass
    try:
        import resource
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (3, 3))
        done.append(f"prlimit {{pid}}")
    except (OSError, ValueError):
        pass
    try:
        os.sched_setaffinity(pid, {{0}})
        done.append(f"affinity {{pid}}")
    except OSError:
        pass
print(done)
"""


def _zygote_probe(sandbox: Sandbox, limits: Limits) -> Probe:
    """Signals, its memory, its limits and CPUs: the process that forks every test must stay out of reach (the next
    test runs normally, on the same zygote). Signals that the kernel accepts but that have no effect (PID 1 of a
    namespace ignores what it has no handler for) are fine: what counts is that nothing changed."""
    restarts = getattr(sandbox, "restarts", 0)
    attack = sandbox.run(ZYGOTE_ATTACK.format(), b"", limits)
    after = sandbox.run("import os\nprint(len(os.sched_getaffinity(0)), 2 * int(input()))", b"21\n", limits)
    ncpu = len(os.sched_getaffinity(0))
    ok = (attack.status == base.EXITED and after.status == base.EXITED and after.stdout.split() == [str(ncpu).encode(), b"42"]
          and getattr(sandbox, "restarts", 0) == restarts and b"mem" not in attack.stdout and b"prlimit" not in attack.stdout)
    return Probe("the zygote is out of reach", ok, f"{attack.stdout.decode(errors='replace').strip()} then {_brief(after)}")


def _brief(run: base.RunResult) -> str:
    return f"status={run.status} cpu={run.cpu_s:.3f}s peak={run.peak_memory_mb:.0f}MB" + (f" error={run.error}" if run.error else "")
