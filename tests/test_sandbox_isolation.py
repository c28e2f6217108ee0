"""Isolation detection, the reported level, refusal without isolation, and clean degradation (issue 3, done-when 4).

Features are forced off the way a user or CI would: ``disable=`` or ``BUILDER_SANDBOX_DISABLE``. With each one off
the sandbox still runs programs, still enforces time and memory, still leaves no process behind, and reports the
level it reached; with no network/filesystem isolation it refuses unless explicitly allowed.
"""

from __future__ import annotations

import json
import os
import socket
import textwrap
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder.core import taxonomy as T
from builder.cli import cli
from builder.core.errors import UserError
from builder.judge.compare import tokens_match
from builder.judge.verdict import run_verdict
from builder.sandbox import base, make_sandbox
from builder.sandbox.base import Limits
from builder.sandbox.forkserver import DISABLE_ENV, ForkServerSandbox, parse_disable


def _full() -> ForkServerSandbox:
    try:
        return ForkServerSandbox()
    except UserError as exc:
        pytest.skip(f"no isolation on this machine: {exc}")


@pytest.fixture(scope="module")
def full_sandbox():
    box = _full()
    yield box
    box.close()


def _verdict(box, code: str, stdin: str, expected: str, limits: Limits) -> tuple[str, base.RunResult]:
    run = box.run(textwrap.dedent(code), stdin.encode(), limits)
    return run_verdict(run, stdin, expected, lambda actual: tokens_match(expected, actual)), run


ORPHAN = """
    import os, time
    n = int(input())
    r, w = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(w, f"{os.getpid()} ".encode())
            time.sleep(600)
        os._exit(0)
    os.close(w)
    grandchild = os.read(r, 64).split()[0].decode()
    print(2 * n)
    import sys
    print(grandchild, file=sys.stderr)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _basic_suite(box: ForkServerSandbox) -> None:
    """What must hold at every level: programs run, limits hold, nothing outlives its test."""
    ok, run = _verdict(box, "print(2 * int(input()))", "21\n", "42", Limits(cpu_s=2.0))
    assert ok == T.PASSED, run
    slow, run = _verdict(box, "input()\nwhile True: pass", "1\n", "1", Limits(cpu_s=0.5, wall_s=20.0))
    assert slow == T.TIMEOUT, run
    big, run = _verdict(box, "input()\nx = bytearray(600 << 20)\nprint(len(x))", "1\n", "1", Limits(cpu_s=5.0, memory_mb=256))
    assert big == T.MEMORY, run
    orphan, run = _verdict(box, ORPHAN, "21\n", "42", Limits(cpu_s=2.0))
    assert orphan == T.PASSED, run
    if not box.features.get("pidns"):  # the grandchild's pid is a host pid: it must be gone
        pid = int(run.stderr_tail.split()[-1])
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), "an orphaned grandchild outlived its test"


def test_full_isolation_is_detected_and_reported(full_sandbox: ForkServerSandbox) -> None:
    info = full_sandbox.describe()
    assert info["executor"] == "forkserver" and info["isolated"] is True
    tier = info["tier"]
    assert tier in (1, 2, 3) and info["tier_name"] and info["level"] == full_sandbox.level and info["level"].startswith(f"tier{tier}:")
    for guarantee in ("host_files", "network", "environment", "other_candidates", "leftover_processes", "memory_verdict"):
        assert isinstance(info[guarantee], str) and info[guarantee], guarantee
    if tier in (1, 2):
        assert {"mount", "net", "pid"} <= set(info["namespaces"]) and "namespaces" in info["level"]
        assert ("user" in info["namespaces"]) == (tier == 2)
    else:
        assert info["landlock"] and info["throwaway_uid"] is True and "landlock" in info["level"]
    assert info["memory_verdict"].startswith("exact") == bool(full_sandbox.features.get("cgroup"))
    if full_sandbox.features.get("cgroup"):
        assert "cgroup" in info["level"]
    if full_sandbox.features.get("seccomp"):
        assert "seccomp" in info["level"]
    assert json.loads(json.dumps(info)) == info  # goes into build.json


def test_describe_is_deterministic(full_sandbox: ForkServerSandbox) -> None:
    other = _full()
    try:
        assert other.describe() == full_sandbox.describe()  # no pids, uids, paths or times: build.json stays stable
    finally:
        other.close()


def test_full_sandbox_basic_suite(full_sandbox: ForkServerSandbox) -> None:
    _basic_suite(full_sandbox)


@pytest.mark.parametrize("feature", ["cgroup", "pidns", "seccomp", "uid", "ipcns", "utsns", "nnp", "netns", "mountns", "landlock", "namespaces", "all"])
def test_degrades_cleanly_with_a_feature_forced_off(feature: str) -> None:
    full = _full()  # skip where the machine has no isolation to begin with
    full_tier = full.tier
    full.close()
    box = ForkServerSandbox(disable=feature, allow_unsandboxed=True)
    try:
        off = parse_disable(feature)
        for name in off:
            assert box.features.get(name) is False
        assert set(box.describe()["disabled"]) == set(off)
        if feature == "cgroup":
            assert "cgroup" not in box.level
        if feature == "seccomp":
            assert "seccomp" not in box.level
        tier = box.tier
        if not off & {"mountns", "netns", "userns", "uid", "landlock", "seccomp", "namespaces"}:
            assert tier == full_tier  # a feature no tier rests on: the same tier, without it
        if tier == 4:
            assert box.isolated is False and box.level.startswith("unsandboxed:")
        else:  # what remains still keeps host files, network and environment away: a tier that says so
            assert box.isolated is True and box.level.startswith(f"tier{tier}:")
            if off & {"mountns", "netns"}:
                assert tier == 3 and box.features["landlock"] and box.features["uid"] and box.features["seccomp"]
        _basic_suite(box)
    finally:
        box.close()


def test_refuses_without_isolation_unless_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    _full().close()
    monkeypatch.setenv(DISABLE_ENV, "mountns,netns,landlock")
    with pytest.raises(UserError, match="allow-unsandboxed") as refused:
        ForkServerSandbox()
    message = str(refused.value)
    assert "\n" not in message and "tier 1" in message and "tier 2" in message and "tier 3" in message
    assert "landlock: disabled" in message and "README" in message
    with pytest.raises(UserError, match="allow-unsandboxed"):
        make_sandbox("forkserver")
    box = make_sandbox("forkserver", allow_unsandboxed=True)
    try:
        assert box.level.startswith("unsandboxed:")
        assert box.describe()["isolated"] is False
    finally:
        box.close()


def test_disable_parsing() -> None:
    assert parse_disable("cgroup, netns") == {"cgroup", "netns"}
    assert parse_disable(["namespaces"]) == {"userns", "pidns", "mountns", "netns", "ipcns", "utsns"}
    assert "seccomp" in parse_disable("all")
    assert parse_disable(None) == frozenset() and parse_disable("") == frozenset()
    with pytest.raises(UserError, match="unknown sandbox feature"):
        parse_disable("cgroups,netns")


def _listener():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.1)
    received: list[bytes] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                received.append(conn.recv(16) or b"<connect>")
                conn.close()
            except OSError:
                pass

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return listener, received, stop, thread


CONNECT = """
    import socket
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"stolen")
        print("connected")
    except OSError as exc:
        print(type(exc).__name__, exc.errno)
"""


@pytest.mark.parametrize(("feature", "layer"), [("netns", "seccomp"), ("seccomp", "netns")])
def test_network_layers_hold_on_their_own(feature: str, layer: str) -> None:
    """With the network namespace off, seccomp still refuses sockets; with seccomp off, the namespace has no route."""
    _full()
    box = ForkServerSandbox(disable=feature, allow_unsandboxed=True)
    listener, received, stop, thread = _listener()
    try:
        if not box.features.get(layer):
            pytest.skip(f"{layer} unavailable here")
        run = box.run(textwrap.dedent(CONNECT.format(port=listener.getsockname()[1])), b"", Limits(cpu_s=3.0))
        assert run.status == base.EXITED, run
        assert b"connected" not in run.stdout
        expected = b"PermissionError" if layer == "seccomp" else b"OSError"
        assert run.stdout.startswith(expected), run.stdout
        time.sleep(0.3)
        assert received == []
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()
        box.close()


def test_close_removes_cgroups_and_root_mountpoint() -> None:
    box = _full()
    zygote = box._holder[0]
    assert zygote is not None
    parents = dict(zygote.cgroup_parents)
    root_dir = zygote.root_dir
    assert box.run("print(1)", b"", Limits()).stdout == b"1\n"
    box.close()
    assert not Path(root_dir).exists()
    for path in parents.values():
        assert not Path(path).exists()
    assert zygote.proc.poll() is not None


def test_auto_sandbox_is_the_fork_server() -> None:
    _full()
    with make_sandbox("auto") as box:
        assert isinstance(box, ForkServerSandbox)


def test_cli_sandbox_check(monkeypatch: pytest.MonkeyPatch) -> None:
    _full()
    runner = CliRunner()
    result = runner.invoke(cli, ["sandbox-check"])
    assert result.exit_code == 0, result.output
    assert "level:" in result.output and "isolated:              yes" in result.output and "tier:" in result.output
    assert "FAILED" not in result.output and result.output.count("probe ") == 10
    as_json = runner.invoke(cli, ["sandbox-check", "--json", "--no-probe"])
    assert json.loads(as_json.output)["isolated"] is True
    monkeypatch.setenv(DISABLE_ENV, "all")
    refused = runner.invoke(cli, ["sandbox-check", "--no-probe"])
    assert refused.exit_code == 2 and "allow-unsandboxed" in refused.output
    allowed = runner.invoke(cli, ["sandbox-check", "--no-probe", "--allow-unsandboxed"])
    assert allowed.exit_code == 0 and "unsandboxed:rlimits" in allowed.output


def test_spawn_sandbox_fails_the_probes_it_should() -> None:
    """The probes are not vacuous: the rlimits-only baseline lets the network and host files through."""
    from builder.sandbox.check import run_probes
    from builder.sandbox.spawn import SpawnSandbox

    if os.geteuid() != 0 and not Path("/proc/self/ns/net").exists():
        pytest.skip("no /proc")
    probes = {p.name: p.ok for p in run_probes(SpawnSandbox())}
    assert probes["runs a program"] and probes["environment hidden"]
    assert probes["host files hidden"] is False and probes["network unreachable"] is False
    assert probes["expected outputs unreadable (a world-readable dataset file)"] is False
    assert probes["nothing left for the next test"] is False and probes["no process outlives its test"] is False
    assert "the zygote is out of reach" not in probes  # its parent is the caller: never attacked
