"""Each tier's stated guarantees, checked at the tier this test process reaches (CI runs it as root, as a user and as
a default container: tests/tiers/launch.py). Where a guarantee rests on a mechanism only some tiers have, the test
says which; none is skipped at the tier that promises it.
"""

from __future__ import annotations

import json
import os
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder.cli import cli
from builder.core.errors import UserError
from builder.sandbox import base
from builder.sandbox.base import Limits
from builder.sandbox.forkserver import DISABLE_ENV, ForkServerSandbox
from tiers.support import program_processes, scratch_path, tier_of

LIMITS = Limits(cpu_s=3.0, memory_mb=256, max_processes=16)


@pytest.fixture(scope="module")
def box():
    try:
        sandbox = ForkServerSandbox()
    except UserError as exc:
        pytest.skip(f"no isolation tier here: {exc}")
    yield sandbox
    sandbox.close()


def _run(box: ForkServerSandbox, code: str, stdin: bytes = b"") -> base.RunResult:
    return box.run(textwrap.dedent(code).strip() + "\n", stdin, LIMITS)


def test_sandbox_check_reports_the_tier_and_every_probe_holds() -> None:
    result = CliRunner().invoke(cli, ["sandbox-check"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    tier = int(next(line for line in lines if line.startswith("tier:")).split()[1])
    assert tier in (1, 2, 3)
    probes = [line for line in lines if line.startswith("probe ")]
    assert len(probes) == 10 and all(": ok (" in line for line in probes), probes
    described = json.loads(CliRunner().invoke(cli, ["sandbox-check", "--json", "--no-probe"]).output)
    assert described["tier"] == tier and described["level"].startswith(f"tier{tier}:")


def test_a_world_readable_dataset_stays_unreadable(box: ForkServerSandbox, tmp_path: Path) -> None:
    """What a throwaway uid alone does not protect (tier 3's Landlock, tiers 1 and 2's private root do)."""
    data = Path(tempfile.mkdtemp(prefix="builder-tier-data-"))
    try:
        data.chmod(0o755)
        (data / "problems.jsonl").write_text('{"tests": [{"output": "the-expected-answer"}]}\n')
        (data / "problems.jsonl").chmod(0o644)
        run = _run(box, f"""
            import os
            seen = []
            for attempt in (lambda: open({str(data / 'problems.jsonl')!r}).read(), lambda: os.listdir({str(data)!r}),
                            lambda: open("/etc/passwd").read(), lambda: os.listdir("/")):
                try:
                    seen.append(str(attempt())[:80])
                except OSError as exc:
                    seen.append(type(exc).__name__)
            print(seen)
        """)
        assert run.status == base.EXITED and b"expected-answer" not in run.stdout and b"problems.jsonl" not in run.stdout, run
        assert b"root:x:0:0" not in run.stdout or tier_of(box) in (1, 2)  # tiers 1-2 show their own tiny /etc/passwd
        if tier_of(box) == 3:
            assert run.stdout.count(b"PermissionError") == 4, run.stdout  # Landlock: nothing outside its folder
    finally:
        (data / "problems.jsonl").unlink()
        data.rmdir()


def test_another_worker_cannot_reach_a_running_test(box: ForkServerSandbox) -> None:
    """Two workers at once: the second's program cannot read what the first is writing, wherever it looks."""
    other = ForkServerSandbox()
    try:
        where = scratch_path(other) if tier_of(other) == 3 else "/tmp"
        started = threading.Event()
        results: list[base.RunResult] = []

        def first() -> None:
            results.append(_run(other, """
                import time
                open("secret.txt", "w").write("first-worker-secret")
                print("written", flush=True)
                time.sleep(3)
            """))

        thread = threading.Thread(target=first)
        thread.start()
        started.wait(1.0)
        time.sleep(1.0)
        second = _run(box, f"""
            import os
            seen = []
            for path in ({where + '/secret.txt'!r}, {scratch_path(other) + '/secret.txt' if tier_of(other) == 3 else '/tmp/secret.txt'!r}):
                try:
                    seen.append(open(path).read())
                except OSError as exc:
                    seen.append(type(exc).__name__)
            print(seen)
        """)
        thread.join()
        assert results and results[0].stdout.startswith(b"written"), results
        assert second.status == base.EXITED and b"first-worker-secret" not in second.stdout, second
    finally:
        other.close()


def test_nothing_of_a_test_survives_it(box: ForkServerSandbox) -> None:
    """Files wherever it may write, a daemon in a new session, a fork bomb held by the process limit: gone after."""
    run = _run(box, """
        import os, time
        for folder in (".", "/tmp", "/dev/shm", "/var/tmp"):
            try:
                open(os.path.join(folder, "survivor"), "w").write("x")
            except OSError:
                pass
        for _ in range(3):
            if os.fork() == 0:
                os.setsid()
                while True:
                    try:
                        if os.fork() == 0:
                            time.sleep(60)
                    except OSError:
                        time.sleep(0.01)
        time.sleep(0.5)
        print("left")
    """)
    assert run.stdout.startswith(b"left"), run
    assert program_processes(box) == []
    look = _run(box, """
        import os
        found = []
        for folder in (".", "/tmp", "/dev/shm", "/var/tmp"):
            try:
                found += [os.path.join(folder, n) for n in os.listdir(folder) if n == "survivor"]
            except OSError:
                pass
        print(found)
    """)
    assert look.stdout.strip() == b"[]", look
    assert not Path("/var/tmp/survivor").exists() and not Path("/dev/shm/survivor").exists()


def test_the_zygote_and_its_supervisor_are_out_of_reach(box: ForkServerSandbox) -> None:
    restarts = box.restarts
    run = _run(box, f"""
        import os, signal, resource
        done = []
        for pid in (os.getppid(), 1, {os.getpid()}):
            for attempt, what in ((lambda: os.kill(pid, signal.SIGKILL), "kill"), (lambda: os.kill(pid, signal.SIGINT), "int"),
                                  (lambda: resource.prlimit(pid, resource.RLIMIT_NOFILE, (3, 3)), "prlimit"),
                                  (lambda: open(f"/proc/{{pid}}/mem", "rb").read(1), "mem"),
                                  (lambda: open(f"/proc/{{pid}}/environ", "rb").read(), "environ")):
                try:
                    attempt()
                    done.append(f"{{what}} {{pid}}")
                except (OSError, ValueError):
                    pass
        print(done)
    """)
    again = _run(box, "print(2 * int(input()))", b"21\n")
    assert again.stdout == b"42\n" and box.restarts == restarts, (run, again)
    hits = eval(run.stdout.decode())  # noqa: S307 - a list of strings the program printed
    # PID 1 of the test's own namespace accepts a signal it ignores (the kernel protects it); nothing else may land
    assert [h for h in hits if not (h.startswith(("kill 1", "int 1")) and box.features.get("pidns"))] == [], hits


def test_a_one_uid_user_namespace_keeps_the_verdict_records_and_the_zygote_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tier 2 without newuidmap: programs run as the zygote's own uid. They own the side channel's file, so it must
    be unreadable by construction (a socket), and the calls that act on another process of the uid are self-only."""
    monkeypatch.setenv(DISABLE_ENV, "uid")
    try:
        shared = ForkServerSandbox()
    except UserError as exc:
        pytest.skip(f"no isolation tier here: {exc}")
    try:
        if tier_of(shared) != 2:
            pytest.skip("tier 2 only (user namespaces: a normal user)")
        assert shared.shared_uid and shared.id_map == "one uid"
        run = _run(shared, """
            import os, resource
            out = []
            try:
                os.fchmod(3, 0o600)  # the program owns it (same uid): allowed, and useless on a socket
                out.append("fchmod")
            except OSError as exc:
                out.append("fchmod " + type(exc).__name__)
            for attempt in (lambda: os.read(3, 100), lambda: open("/proc/self/fd/3", "rb").read(),
                            lambda: resource.prlimit(1, resource.RLIMIT_NOFILE, (3, 3)), lambda: os.sched_setaffinity(1, {0}),
                            lambda: open("/proc/1/mem", "rb"), lambda: open("/proc/1/environ", "rb").read()):
                try:
                    out.append(repr(attempt()))
                except OSError as exc:
                    out.append(type(exc).__name__)
            caps = [line for line in open("/proc/self/status") if line.startswith(("CapEff", "CapPrm", "CapBnd"))]
            print(repr((out, [line.split()[1] for line in caps])))
        """)
        out, caps = eval(run.stdout.decode())  # noqa: S307
        assert out[1] == "b''" and out[2] == "OSError", out  # nothing to read back on the program's end; no reopening
        assert out[3:7] == ["PermissionError", "PermissionError", "FileNotFoundError", "FileNotFoundError"], out
        assert caps == ["0000000000000000"] * 3, caps
    finally:
        shared.close()


def test_tier3_closes_what_has_no_namespace(box: ForkServerSandbox) -> None:
    if tier_of(box) != 3:
        pytest.skip("tier 3 only (no namespaces)")
    repo = str(Path(__file__).resolve().parents[2])  # readable by every user: only Landlock keeps it closed
    run = _run(box, f"""
        import os, socket, sys, subprocess
        out = {{}}
        for name, attempt in (("proc", lambda: os.listdir("/proc")), ("etc", lambda: open("/etc/hostname").read()),
                              ("tmp", lambda: open("/tmp/builder-tier3-{os.getpid()}", "w")),
                              ("shm", lambda: open("/dev/shm/builder-tier3-{os.getpid()}", "w")),
                              ("repo", lambda: os.listdir({repo!r})), ("socket", lambda: socket.socket())):
            try:
                attempt()
                out[name] = "allowed"
            except OSError as exc:
                out[name] = type(exc).__name__
        out["own folder"] = (os.stat(".").st_mode & 0o777, os.stat(".").st_uid == os.getuid())
        out["python"] = subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True).stdout.strip()
        print(out)
    """)
    out = eval(run.stdout.decode())  # noqa: S307
    assert {k: out[k] for k in ("proc", "etc", "tmp", "shm", "repo", "socket")} == {
        "proc": "PermissionError", "etc": "PermissionError", "tmp": "PermissionError", "shm": "PermissionError",
        "repo": "PermissionError", "socket": "PermissionError"}, out
    assert out["own folder"] == (0o700, True) and out["python"] == "42", out
    assert box.program_uid is not None and box.program_uid != os.getuid()
