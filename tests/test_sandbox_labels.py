"""Labels a hostile program cannot bend (issue 11): its own verdict, another candidate's, or its worker.

Every program here runs through the real fork-server sandbox and the real judge (``builder.judge.execute`` / ``judge``).
The classes, each with several programs:

* **state** — a program leaves something behind (files of every kind, deep or unremovable trees, SysV and POSIX IPC,
  processes, full scratch space); the next, correct program in the same worker must pass and see nothing of it. These
  run twice: with seccomp (which refuses IPC syscalls) and without it (where the per-test IPC namespace must hold);
* **worker** — the zygote is never left dirty or broken: no ``sandbox_error``, no restart, nothing left;
* **oom** — memory pinned where no process's RSS shows it (tmpfs, memfd, shared mappings) makes the OOM killer
  choose: it must take the test, never the zygote, and the verdict must be ``memory``;
* **forge** — wrong solutions that try to produce a pass or choose their rejection: writing the harness's pass line or
  fake records, exiting early, hooks (profile, trace, atexit, gc, signals, threads), patching builtins, ``sys.modules``,
  stdlib modules and ``unittest.TestCase``, skipping from the solution, reading the side channel from a child;
* **stdin** — every real way of reading the input counts as reading it (``no_stdin`` only for programs that never do);
* **leaks** — what a program can learn of the host: no host folder in its command line, mounts or module files, no
  ``modify_ldt``, no SysV IPC.

After the module: no process of the sandbox's uid, no zygote, no cgroup, no mount point, no scratch folder and no
IPC object of ours is left on the machine.

CI runs this file at every isolation tier this machine reaches (tests/tiers/launch.py). At tier 3 (no namespaces) a
program's scratch is its own folder (its working directory) rather than /tmp and /dev/shm, which are the host's and
closed by Landlock: the programs below use it (``tiers.support.for_tier``); what needs a mechanism that tier does not
have is skipped with the reason.
"""

from __future__ import annotations

import os
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from builder.core import taxonomy as T
from builder.core.errors import UserError
from builder.core.settings import ExecutionSettings
from builder.judge.execute import judge_candidate
from builder.judge.compare import tokens_match
from builder.judge.verdict import run_verdict
from builder.sandbox.base import Limits
from builder.sandbox.forkserver import ZYGOTE_MARKER, ForkServerSandbox
from tiers.support import NO_PRIVATE_ROOT, NO_SHM_AT_TIER3, environment_in_scratch, for_tier, program_processes, tier_of

LIMITS = Limits(cpu_s=2.0, memory_mb=256, output_mb=8, max_processes=16)
REPO = str(Path(__file__).resolve().parents[1])


def _d(code: str) -> str:
    return textwrap.dedent(code).strip() + "\n"


@dataclass(frozen=True)
class Case:
    code: str
    verdict: str
    stdin: str = "21\n"
    expected: str = "42\n"
    limits: Limits = LIMITS


def _c(code: str, verdict: str, **kw: object) -> Case:
    return Case(_d(code), verdict, **kw)  # type: ignore[arg-type]


def _verdict(box: ForkServerSandbox, case: Case) -> tuple[str, object]:
    run = box.run(case.code, case.stdin.encode(), case.limits)
    return run_verdict(run, case.stdin, case.expected, lambda actual: tokens_match(case.expected, actual)), run


# --- a correct program that also looks for anything an earlier test left -----------------------------------------

PROBE = _d(
    """
    import ctypes, os, sys
    ENVIRONMENT = {environment}  # the Python environment's own folder, where it lives under /tmp or /dev/shm
    n = int(input())
    found = []
    here = os.getcwd()
    for d in dict.fromkeys((here, "/tmp", "/dev/shm")):
        try:
            names = os.listdir(d)
        except PermissionError:  # the host's, closed to the program (tier 3: its own folder is the scratch)
            continue
        found += [d + "/" + x for x in names if d + "/" + x not in ENVIRONMENT]
        st = os.stat(d)
        shared = d in ("/tmp", "/dev/shm")  # the sandbox's tmpfs: root-owned and sticky; else the test's own, private
        if (st.st_mode & 0o7777, st.st_uid) != ((0o1777, 0) if shared else (0o700, os.getuid())):
            found.append(f"{d} mode {st.st_mode & 0o7777:o} uid {st.st_uid}")
    for kind in ("shm", "msg", "sem"):
        try:
            found += [kind + ":" + line for line in open("/proc/sysvipc/" + kind).read().splitlines()[1:]]
        except OSError:
            pass
    libc = ctypes.CDLL(None, use_errno=True)
    for key in (0x1234, 0x1235, 0x1236):
        if libc.shmget(key, 0, 0) >= 0 or libc.msgget(key, 0) >= 0 or libc.semget(key, 0, 0) >= 0:
            found.append(f"ipc key {key:#x}")
    rt = ctypes.CDLL("librt.so.1", use_errno=True)
    rt.mq_open.restype = ctypes.c_int
    if rt.mq_open(b"/cvb_queue", os.O_RDONLY) >= 0:
        found.append("posix message queue /cvb_queue")
    try:
        others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
    except PermissionError:  # tier 3: /proc is closed (the supervisor checks for leftover processes itself)
        others = []
    found += ["process " + p for p in others]
    # the whole memory limit is there: nothing of an earlier test is still charged to this one
    block = bytearray(200 << 20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    print(2 * n if not found else found)
    """
).replace("{environment}", repr(environment_in_scratch()))

LEAVE_BEHIND: dict[str, Case] = {
    "sysv_shm": _c(
        """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.shmat.restype = ctypes.c_void_p
        shmid = libc.shmget(0x1234, 64 << 20, 0o1000 | 0o666)
        if shmid >= 0:
            addr = libc.shmat(shmid, None, 0)
            ctypes.memset(addr, 1, 64 << 20)
        print(2 * int(input()))
        """,
        T.PASSED,
    ),
    "sysv_msg": _c(
        """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        qid = libc.msgget(0x1235, 0o1000 | 0o666)
        if qid >= 0:
            msg = ctypes.create_string_buffer(b"\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00" + b"left for the next test")
            libc.msgsnd(qid, msg, 22, 0)
        print(2 * int(input()))
        """,
        T.PASSED,
    ),
    "sysv_sem": _c(
        """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.semget(0x1236, 4, 0o1000 | 0o666)
        print(2 * int(input()))
        """,
        T.PASSED,
    ),
    "posix_mqueue": _c(
        """
        import ctypes, os
        rt = ctypes.CDLL("librt.so.1", use_errno=True)
        rt.mq_open(b"/cvb_queue", os.O_CREAT | os.O_RDWR, 0o666, None)
        print(2 * int(input()))
        """,
        T.PASSED,
    ),
    "files_of_every_kind": _c(
        """
        import os
        os.mkfifo("/tmp/fifo")
        open("/tmp/.hidden", "w").write("x")
        os.symlink("/etc/passwd", "/tmp/link")
        os.symlink("loop", "/tmp/loop")
        os.symlink("/", "/tmp/root")
        os.link("/tmp/.hidden", "/tmp/hardlink")
        open("/dev/shm/shm_file", "wb").write(b"y" * 1000)
        os.makedirs("/tmp/a/b/c")
        open("/tmp/a/b/c/deep.txt", "w").write("z")
        fd = os.open(b"/tmp/\\xff\\xfe bad utf-8\\nname", os.O_CREAT | os.O_WRONLY)
        os.close(fd)
        print(2 * int(input()))
        """,
        T.PASSED,
    ),
    "tree_1500_deep": _c(
        """
        import os
        os.chdir("/tmp")
        for _ in range(1500):
            os.mkdir("d")
            os.chdir("d")
        open("bottom.txt", "w").write("x")
        print(2 * int(input()))
        """,
        T.PASSED,
    ),
    "paths_beyond_path_max": _c(
        """
        import os
        os.chdir("/tmp")
        for _ in range(40):
            os.mkdir("n" * 250)
            os.chdir("n" * 250)
        open("x" * 250, "w").write("x")
        print(2 * int(input()))
        """,
        T.PASSED,
    ),
    "unreadable_tree": _c(
        """
        import os
        os.makedirs("/tmp/locked/inner/core")
        for name in ("/tmp/locked/inner/core/f", "/tmp/locked/g"):
            open(name, "w").write("x")
            os.chmod(name, 0)
        for d in ("/tmp/locked/inner/core", "/tmp/locked/inner", "/tmp/locked"):
            os.chmod(d, 0)
        try:
            os.chmod("/tmp", 0)
        except OSError:
            pass
        print(2 * int(input()))
        """,
        T.PASSED,
    ),
    "inodes_exhausted": _c(
        """
        import os
        n = 0
        try:
            while True:
                os.close(os.open(f"/tmp/f{n}", os.O_CREAT | os.O_WRONLY))
                n += 1
        except OSError:
            pass
        print(2 * int(input()))
        """,
        T.PASSED,
        limits=Limits(cpu_s=5.0, memory_mb=256, output_mb=8, max_processes=16),
    ),
    "scratch_full": _c(
        """
        chunk = b"x" * (1 << 20)
        for path in ("/tmp/big", "/dev/shm/big"):
            try:
                with open(path, "wb") as fh:
                    while True:
                        fh.write(chunk)
            except OSError:
                pass
        print(2 * int(input()))
        """,
        T.PASSED,
    ),
    "scratch_reshaped": _c(  # the scratch folders themselves changed: modes, owner, a rename, links, a fifo
        """
        import os
        for d in ("/tmp", "/dev/shm"):
            for attempt in (lambda: os.chmod(d, 0o777), lambda: os.chmod(d, 0o700), lambda: os.chown(d, os.getuid(), os.getgid()),
                            lambda: os.rename(d, d + "_moved"), lambda: os.rmdir(d), lambda: os.symlink("/etc", d + "/etc_link"),
                            lambda: os.mkfifo(d + "/fifo"), lambda: os.mkdir(d + "/sub", 0o777), lambda: os.chmod(d, 0o1777)):
                try:
                    attempt()
                except OSError:
                    pass
        print(2 * int(input()))
        """,
        T.PASSED,
    ),
    "daemon_writes_later": _c(
        """
        import os, time
        n = int(input())
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(0.5)
                open("/tmp/written_later", "w").write("x")
                os._exit(0)
            os._exit(0)
        print(2 * n)
        """,
        T.PASSED,
    ),
    "process_ignoring_signals": _c(
        """
        import os, signal, time
        n = int(input())
        if os.fork() == 0:
            for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                signal.signal(sig, signal.SIG_IGN)
            os.setsid()
            while True:
                time.sleep(1)
        print(2 * n)
        """,
        T.PASSED,
    ),
    "shared_memory_module": _c(
        """
        from multiprocessing import shared_memory
        block = shared_memory.SharedMemory(create=True, size=8 << 20, name="cvb_block")
        block.buf[:4] = b"left"
        print(2 * int(input()))
        """,
        T.PASSED,
        limits=Limits(cpu_s=4.0, memory_mb=256, output_mb=8, max_processes=16),
    ),
    "patched_builtins_in_own_process": _c(
        """
        import builtins, sys
        sys.stdout.write(str(2 * int(input())) + "\\n")
        builtins.print = None
        builtins.int = str
        """,
        T.PASSED,
    ),
}


@pytest.fixture(scope="module")
def sandbox():
    try:
        box = ForkServerSandbox()
    except UserError as exc:
        pytest.skip(f"no isolation on this machine: {exc}")
    yield box
    box.close()


@pytest.fixture(scope="module")
def no_seccomp_sandbox(sandbox: ForkServerSandbox):
    """The sandbox without seccomp, or None at tier 3 (which needs seccomp: without it, POSIX message queues of the
    host's IPC namespace would outlive a test, and sockets would be open)."""
    if tier_of(sandbox) == 3:
        yield None
        return
    box = ForkServerSandbox(disable=("seccomp",))
    yield box
    box.close()


#: tier 3: what cannot even be created there (the guarantee, nothing survives, holds all the more)
REFUSED_AT_TIER3 = {"shared_memory_module": (T.NO_STDIN, NO_SHM_AT_TIER3), "inodes_exhausted": (T.TIMEOUT, "no inode quota on the test's folder at tier 3: the CPU limit stops it")}


#: tier 3: Landlock checks every access against each folder up to the root, so 1,500 nested folders on a disk
#: filesystem cost ~0.6 s of CPU there (0.02 s in tier 1's tmpfs): room for that on a loaded machine
TIER3_LIMITS = {"tree_1500_deep": Limits(cpu_s=8.0, memory_mb=256, output_mb=8, max_processes=16)}


def _leave_then_probe(box: ForkServerSandbox, name: str) -> None:
    restarts = box.restarts
    case = LEAVE_BEHIND[name]
    limits = TIER3_LIMITS.get(name, case.limits) if tier_of(box) == 3 else case.limits
    verdict, run = _verdict(box, Case(for_tier(case.code, box), case.verdict, case.stdin, case.expected, limits))
    expected = REFUSED_AT_TIER3[name][0] if tier_of(box) == 3 and name in REFUSED_AT_TIER3 else LEAVE_BEHIND[name].verdict
    assert verdict == expected, run
    assert program_processes(box) == [], "a process of the program outlived its test"
    probe, run = _verdict(box, Case(PROBE, T.PASSED, limits=Limits(cpu_s=4.0, memory_mb=256)))
    assert probe == T.PASSED, run
    assert box.restarts == restarts and box.replaced == [], "the zygote had to be replaced"


@pytest.mark.parametrize("name", sorted(LEAVE_BEHIND))
def test_nothing_survives_a_test(sandbox: ForkServerSandbox, name: str) -> None:
    _leave_then_probe(sandbox, name)


@pytest.mark.parametrize("name", ["sysv_shm", "sysv_msg", "sysv_sem", "posix_mqueue", "shared_memory_module"])
def test_nothing_survives_a_test_without_seccomp(no_seccomp_sandbox: ForkServerSandbox | None, name: str) -> None:
    """Where seccomp cannot refuse IPC syscalls, the per-test IPC namespace must take the objects away."""
    if no_seccomp_sandbox is None:
        pytest.skip("tier 3 has no IPC namespace and requires seccomp (it refuses SysV IPC and POSIX queues)")
    _leave_then_probe(no_seccomp_sandbox, name)


def test_ipc_syscalls_are_refused(sandbox: ForkServerSandbox) -> None:
    code = _d(
        """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        rt = ctypes.CDLL("librt.so.1", use_errno=True)
        results = [libc.shmget(0, 4096, 0o1000), libc.msgget(0, 0o1000), libc.semget(0, 1, 0o1000),
                   rt.mq_open(b"/q", os.O_CREAT | os.O_RDWR, 0o600, None), libc.syscall(154, 0, 0, 0)]
        print(2 * int(input()) if all(r == -1 for r in results) else f"allowed {results}")
        """
    )
    verdict, run = _verdict(sandbox, Case(code, T.PASSED))
    assert verdict == T.PASSED, run


# --- oom: the OOM killer never takes the zygote ----------------------------------------------------------------------

OOM = {
    "tmpfs_pinned_then_more": _c(
        """
        chunk = b"x" * (1 << 20)
        for path in ("/tmp/pin", "/dev/shm/pin"):
            for part in range(8):  # each file under the file-size limit
                with open(f"{path}{part}", "wb") as fh:
                    for _ in range(7):
                        fh.write(chunk)
        input()
        grow = [bytearray(1 << 20) for _ in range(400)]
        print(len(grow))
        """,
        T.MEMORY,
    ),
    "memfd_pinned_then_more": _c(
        """
        import os
        chunk = b"x" * (1 << 20)
        fds = []
        for _ in range(30):  # each under the file-size limit; together 210 MB that no process's RSS shows
            fds.append(os.memfd_create("pin"))
            for _ in range(7):
                os.write(fds[-1], chunk)
        input()
        grow = [bytearray(1 << 20) for _ in range(200)]
        print(len(grow))
        """,
        T.MEMORY,
    ),
    "shared_mapping": _c(
        """
        import mmap
        m = mmap.mmap(-1, 300 << 20, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
        input()
        for i in range(0, len(m), 4096):
            m[i] = 1
        print(len(m))
        """,
        T.MEMORY,
    ),
    "children_share_the_limit": _c(
        """
        import os, time
        input()
        for _ in range(3):
            if os.fork() == 0:
                block = bytearray(120 << 20)
                for i in range(0, len(block), 4096):
                    block[i] = 1
                time.sleep(5)
                os._exit(0)
        for _ in range(3):
            os.wait()
        print(42)
        """,
        T.MEMORY,
        limits=Limits(cpu_s=4.0, wall_s=20.0, memory_mb=256, output_mb=8, max_processes=16),
    ),
    "pinned_and_still_in_limit": _c(
        """
        chunk = b"x" * (1 << 20)
        for part in range(7):
            with open(f"/tmp/pin{part}", "wb") as fh:
                for _ in range(7):
                    fh.write(chunk)
        n = int(input())
        block = bytearray(150 << 20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        print(2 * n)
        """,
        T.PASSED,
    ),
}


@pytest.mark.parametrize("name", sorted(OOM))
def test_memory_kills_only_the_test(sandbox: ForkServerSandbox, name: str) -> None:
    if not sandbox.features.get("cgroup"):
        pytest.skip("no memory cgroup here")
    zygote = sandbox._holder[0]
    restarts = sandbox.restarts
    verdict, run = _verdict(sandbox, OOM[name])
    assert verdict == OOM[name].verdict, run
    assert sandbox.restarts == restarts and sandbox._holder[0] is zygote, "the zygote died"
    assert zygote is not None and zygote.proc.poll() is None
    probe, run = _verdict(sandbox, Case(PROBE, T.PASSED, limits=Limits(cpu_s=4.0, memory_mb=256)))
    assert probe == T.PASSED, run


# --- forge: verdict signals that cannot be produced ------------------------------------------------------------------

UNIT_TESTS = _d(
    """
    import math
    import unittest

    import pytest
    from solution import add


    def test_add():
        assert add(2, 3) == 5


    def test_approx():
        assert add(0.1, 0.2) == pytest.approx(0.3)


    def test_isclose():
        assert math.isclose(add(1.5, 1.5), 3.0)


    @pytest.mark.parametrize("a, b, total", [(1, 2, 3), (5, 5, 10)])
    def test_cases(a, b, total):
        assert add(a, b) == total


    class TestAdd(unittest.TestCase):
        def test_eq(self):
            self.assertEqual(add(1, 1), 2)
    """
)
TEST_IDS = ["test_add", "test_approx", "test_isclose", "test_cases", "TestAdd::test_eq"]
KOD = {
    "problem_id": "kod_add", "test_type": "pytest", "tests": [{"input": UNIT_TESTS, "output": f'"{t}"'} for t in TEST_IDS],
    "time_limit": 2.0, "memory_limit": 256, "float_tolerance": None, "checker": None, "case_insensitive": False,
}
CALL = {
    "problem_id": "call_add", "test_type": "functional", "fn_name": "add",
    "tests": [{"input": "2\n3", "output": "5"}, {"input": "10\n-4", "output": "6"}],
    "time_limit": 2.0, "memory_limit": 256, "float_tolerance": None, "checker": None, "case_insensitive": False,
}
CONFIG = ExecutionSettings(time_limit_s=2.0, memory_limit_mb=256)
GOOD = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return a - b\n"

#: wrong solutions (add subtracts) that try to make the unit tests pass anyway; none may pass any test
FORGERIES: dict[str, str] = {
    "prints_the_pass_line": """
        import os, sys
        for name in ("test_add", "test_approx", "test_isclose", "test_cases", "TestAdd::test_eq"):
            os.write(1, ('"' + name + '"\\n').encode())
        os._exit(0)
    """,
    "profile_hook_exits_as_passed": """
        import os, sys
        def hook(frame, event, arg):
            if event == "call" and frame.f_code.co_name.startswith("test"):
                os.write(1, ('"' + frame.f_code.co_name + '"\\n').encode())
                os._exit(0)
        sys.setprofile(hook)
    """,
    "trace_hook_swallows_the_failure": """
        import sys
        def tracer(frame, event, arg):
            if event == "exception" and arg[0] is AssertionError:
                frame.f_locals.clear()
            return tracer
        sys.settrace(tracer)
        import threading
        threading.settrace(tracer)
    """,
    "atexit_pass_line": """
        import atexit, os
        atexit.register(lambda: os.write(1, b'"test_add"\\n'))
    """,
    "fake_records_on_every_fd": """
        import os
        for fd in range(0, 64):
            for kind in (b"pass", b"end"):
                try:
                    os.write(fd, b"0" * 32 + b" " + kind + b" \\n")
                except OSError:
                    pass
    """,
    "child_rewrites_side_channel": """
        import os, time
        if os.fork() == 0:
            deadline = time.time() + 2
            while time.time() < deadline:
                for fd in range(3, 16):
                    try:
                        data = os.pread(fd, 4096, 0)
                    except OSError:
                        try:
                            data = open(f"/proc/{os.getppid()}/fd/{fd}", "rb").read()
                        except OSError:
                            continue
                    if b" fail " in data:
                        nonce = data.split(b" ")[0]
                        os.pwrite(fd, nonce + b" pass \\n" + b" " * 200, 0)
                        os._exit(0)
            os._exit(0)
    """,
    "patched_builtins": """
        import builtins
        builtins.isinstance = lambda *a: True
        builtins.len = lambda *a: 0
        builtins.getattr = lambda *a: None
        builtins.BaseException = int
        builtins.compile = lambda *a, **k: compile("pass", "test_solution.py", "exec")
    """,
    "fake_pytest_module": """
        import sys, types
        class Anything:
            def __eq__(self, other):
                return True
        fake = types.ModuleType("pytest")
        fake.approx = lambda *a, **k: Anything()
        fake.mark = types.SimpleNamespace(parametrize=lambda *a, **k: (lambda f: f))
        sys.modules["pytest"] = fake
        sys.modules["_pytest"] = fake
    """,
    "replaced_stdlib_module": """
        import sys, types
        fake = types.ModuleType("math")
        fake.isclose = lambda *a, **k: True
        sys.modules["math"] = fake
        import unittest
        sys.modules["unittest"] = types.SimpleNamespace(TestCase=object)
    """,
    "patched_stdlib_math": """
        import math
        math.isclose = lambda *a, **k: True
    """,
    "patched_testcase": """
        import unittest
        unittest.TestCase.assertEqual = lambda self, a, b, msg=None: None
        unittest.TestCase.run = lambda self, result=None: None
    """,
    "skip_from_the_solution": """
        def add(a, b):
            import pytest
            pytest.skip("not today")
    """,
    "skip_disguised_as_the_test": """
        def add(a, b):
            exec(compile("import pytest\\npytest.skip('x')", "test_solution.py", "exec"))
    """,
    "exit_zero_inside_the_call": """
        import sys
        def add(a, b):
            sys.exit(0)
    """,
    "hard_exit_inside_the_call": """
        import os
        def add(a, b):
            os._exit(0)
    """,
    "keyboard_interrupt": """
        def add(a, b):
            raise KeyboardInterrupt
    """,
    "thread_prints_pass_line": """
        import os, threading, time
        def later():
            time.sleep(0.05)
            os.write(1, b'"test_add"\\n')
            os._exit(0)
        threading.Thread(target=later, daemon=True).start()
    """,
    "gc_callback": """
        import gc, os
        def cb(phase, info):
            os.write(1, b'"test_add"\\n')
        gc.callbacks.append(cb)
    """,
    "signal_handler_exits": """
        import os, signal
        def handler(sig, frame):
            os.write(1, b'"test_add"\\n')
            os._exit(0)
        signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, 0.01, 0.005)
    """,
    "patched_traceback_and_json": """
        import json, traceback
        traceback.print_exception = lambda *a, **k: None
        json.dumps = lambda *a, **k: '"test_add"'
    """,
    "reaches_for_the_runner": """
        try:
            import builder.sandbox.runner as r
            r._restore = lambda state: None
            r._STATE.clear()
        except ImportError:
            pass
        import sys
        for name in list(sys.modules):
            if name.startswith("builder"):
                sys.modules[name].__dict__.clear()
    """,
    "excepthook_and_displayhook": """
        import sys
        sys.excepthook = lambda *a: None
        sys.displayhook = lambda *a: None
    """,
}


def _forgery(name: str) -> str:
    """The wrong ``add`` plus the attack (the attack may redefine ``add`` itself)."""
    return WRONG + _d(FORGERIES[name])


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_no_forged_unit_test_pass(sandbox: ForkServerSandbox, name: str) -> None:
    result = judge_candidate(_forgery(name), KOD, sandbox, ExecutionSettings(time_limit_s=2.0, memory_limit_mb=256, stop_on_timeout=False))
    assert result["tests_passed"] == 0, (name, result["test_verdicts"], result["failed_stderr_tail"])
    assert result["verdict"] not in (T.PASSED, T.SANDBOX_ERROR), result


def test_the_forgery_harness_itself_passes_a_correct_solution(sandbox: ForkServerSandbox) -> None:
    result = judge_candidate(GOOD, KOD, sandbox, CONFIG)
    assert result["verdict"] == T.PASSED and result["tests_passed"] == len(TEST_IDS), result
    # the same attacks around a correct add do not break a correct solution's own pass where they only print
    benign = GOOD + _d(FORGERIES["atexit_pass_line"])
    assert judge_candidate(benign, KOD, sandbox, CONFIG)["verdict"] == T.PASSED


def test_residual_an_always_equal_result_passes_unit_tests(sandbox: ForkServerSandbox) -> None:
    """The documented residual (README, sandbox section): what a solution returns is compared by the test's own code
    in its own process, so an object that equals anything passes ``==`` assertions. Stdin and call-based tests are
    compared outside the process and are immune (next test)."""
    always = "class Anything:\n    def __eq__(self, other):\n        return True\ndef add(a, b):\n    return Anything()\n"
    result = judge_candidate(always, KOD, sandbox, CONFIG)
    assert result["test_verdicts"][0] == T.PASSED  # test_add: `assert add(2, 3) == 5`


def test_call_mode_results_are_compared_outside(sandbox: ForkServerSandbox) -> None:
    always = "class Anything:\n    def __eq__(self, other):\n        return True\ndef add(a, b):\n    return Anything()\n"
    assert judge_candidate(always, CALL, sandbox, CONFIG)["verdict"] == T.WA
    printer = "import os\ndef add(a, b):\n    os.write(1, b'5\\n')\n    os._exit(0)\n"
    assert judge_candidate(printer, CALL, sandbox, CONFIG)["verdict"] == T.EMPTY_OUTPUT
    forged = "import os\nos.write(3, b'0' * 32 + b' result 35\\n')\ndef add(a, b):\n    return 0\n"
    assert judge_candidate(forged, CALL, sandbox, CONFIG)["verdict"] == T.WA
    assert judge_candidate(GOOD, CALL, sandbox, CONFIG)["verdict"] == T.PASSED


STDIN_FORGERIES = {
    # a program may fail any way it likes, but cannot claim a failure it did not have
    "forged_compile_record": (_d("import os\nos.write(3, b'0' * 32 + b' compile ' + b'SyntaxError'.hex().encode() + b'\\n')\nprint(2 * int(input()) + 1)"), T.WA),
    "forged_memory_record": (_d("import os\nos.write(3, b'0' * 32 + b' exception ' + b'MemoryError'.hex().encode() + b'\\n')\nprint(2 * int(input()) + 1)"), T.WA),
    "forged_record_then_crash": (_d("import os\nos.write(3, b'x compile 00\\n')\ninput()\n[][1]"), T.LOGIC_ERROR),
    "closed_side_channel_then_crash": (_d("import os\nos.close(3)\ninput()\n[][1]"), T.RUNTIME_ERROR),
    "side_channel_flood_then_correct": (_d("import os\nfor _ in range(2000):\n    os.write(3, b'junk ' * 100)\nprint(2 * int(input()))"), T.PASSED),
    "stdin_is_sealed": (_d("import os\ntry:\n    os.write(0, b'99')\nexcept OSError:\n    pass\nprint(2 * int(input()))"), T.PASSED),
}


@pytest.mark.parametrize("name", sorted(STDIN_FORGERIES))
def test_stdin_programs_cannot_choose_their_label(sandbox: ForkServerSandbox, name: str) -> None:
    code, expected = STDIN_FORGERIES[name]
    verdict, run = _verdict(sandbox, Case(code, expected))
    assert verdict == expected, run


# --- stdin: every way of reading the input counts ----------------------------------------------------------------------

READERS = {
    "dev_stdin": "print(int(open('/dev/stdin').read()) + 1)",
    "proc_self_fd_0": "print(int(open('/proc/self/fd/0').read()) + 1)",
    "pread": "import os\nprint(int(os.pread(0, 100, 0)) + 1)",
    "mmap": "import mmap\nprint(int(mmap.mmap(0, 0, prot=mmap.PROT_READ)[:].decode()) + 1)",
    "sendfile_to_a_pipe": "import os\nr, w = os.pipe()\nos.sendfile(w, 0, 0, 64)\nos.close(w)\nprint(int(os.read(r, 64)) + 1)",
    "readv": "import os\nbuf = bytearray(64)\nn = os.readv(0, [buf])\nprint(int(buf[:n]) + 1)",
    "fileio": "import io\nprint(int(io.FileIO(0, closefd=False).read()) + 1)",
    "open_zero": "print(int(open(0).read()) + 1)",
}


@pytest.mark.parametrize("name", sorted(READERS))
def test_any_read_of_the_input_counts(sandbox: ForkServerSandbox, name: str) -> None:
    verdict, run = _verdict(sandbox, Case(READERS[name] + "\n", T.WA))  # 21 + 1 != 42: a wrong answer, not no_stdin
    assert verdict == T.WA, run
    right = READERS[name].replace(") + 1)", ") * 2)")
    verdict, run = _verdict(sandbox, Case(right + "\n", T.PASSED))
    assert verdict == T.PASSED, run


NON_READERS = {
    "prints_only": "print(42)",
    "fstat_only": "import os\nos.fstat(0)\nprint(42)",
    "seeks_only": "import os\nos.lseek(0, 2, 0)\nprint(42)",
    "select_only": "import select\nselect.select([0], [], [], 0)\nprint(42)",
    "opens_without_reading": "f = open('/dev/stdin')\nprint(42)",
}


@pytest.mark.parametrize("name", sorted(NON_READERS))
def test_never_reading_is_no_stdin(sandbox: ForkServerSandbox, name: str) -> None:
    verdict, run = _verdict(sandbox, Case(NON_READERS[name] + "\n", T.NO_STDIN, expected="43\n"))
    assert verdict == T.NO_STDIN, run


# --- leaks: nothing of the host shows ----------------------------------------------------------------------------------


def _python_dirs() -> list[str]:
    from builder.sandbox.zygote import python_dirs

    return sorted({os.path.realpath(p) for p in python_dirs()} | python_dirs())


def test_no_host_folder_in_what_a_program_can_read(sandbox: ForkServerSandbox) -> None:
    allowed = _python_dirs()
    code = _d(
        f"""
        import gc, os, sys
        allowed = {allowed!r}
        seen = []
        texts = [" ".join(sys.orig_argv), repr(os.environ)]
        try:
            texts.append(open("/proc/self/cmdline", "rb").read().decode(errors="replace"))
            for line in open("/proc/self/mountinfo"):
                fields = line.split()
                texts += [fields[3], fields[4]]
        except PermissionError:  # tier 3: /proc is closed to the program (Landlock); nothing to read there
            assert {{tier}} == 3
        for obj in gc.get_objects():
            code = getattr(obj, "__code__", None)
            if code is not None:
                texts.append(code.co_filename)
            if isinstance(obj, dict):
                texts += [v for v in obj.values() if isinstance(v, str) and v.startswith("/")]
        texts += [getattr(m, "__file__", None) or "" for m in list(sys.modules.values())]
        for text in texts:
            for word in text.replace("\\0", " ").split():
                if word.startswith("/") and not any(word == a or word.startswith(a + "/") for a in allowed):
                    if word.startswith(({REPO!r}, "/tmp/builder", "/root/", "/work", "/home")):
                        seen.append(word)
        print(2 * int(input()) if not seen else sorted(set(seen))[:5])
        """
    )
    code = code.replace("{tier}", str(tier_of(sandbox)))
    verdict, run = _verdict(sandbox, Case(code, T.PASSED, limits=Limits(cpu_s=5.0, memory_mb=256)))
    assert verdict == T.PASSED, run
    names = _d("import sys\nprint(2 * int(input()) if not [m for m in sys.modules if m.startswith('builder')] else 'seen')")
    assert _verdict(sandbox, Case(names, T.PASSED))[0] == T.PASSED


def test_mount_points_are_only_the_sandbox_root(sandbox: ForkServerSandbox) -> None:
    if tier_of(sandbox) == 3:
        pytest.skip(NO_PRIVATE_ROOT)
    allowed = _python_dirs()
    code = _d(
        f"""
        allowed = {allowed!r} + ["/", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/tmp",
                                 "/dev/shm", "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
                                 "/etc/ld.so.cache", "/etc/localtime"]
        points = [line.split()[4] for line in open("/proc/self/mountinfo")]
        stash = {bool(environment_in_scratch())!r}  # an environment under /tmp: its root-only stash (rebound after a scratch is replaced)
        extra = [p for p in points if p not in allowed and not (stash and p.startswith("/.stash/"))]
        print(2 * int(input()) if not extra else extra)
        """
    )
    verdict, run = _verdict(sandbox, Case(code, T.PASSED))
    assert verdict == T.PASSED, run


# --- after the module: nothing left on the machine ---------------------------------------------------------------------


def _processes_of_uid(uid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            if any(line.startswith("Uid:") and int(line.split()[1]) == uid for line in status.splitlines()):
                found.append(int(entry))
    return found


def _leftovers() -> dict[str, list[str]]:
    import tempfile

    tmp, me = Path(tempfile.gettempdir()), os.getpid()
    out: dict[str, list[str]] = {
        "scratch": sorted(str(p) for p in tmp.glob(f"builder-sbx-root-{me}-*")),
        "mounts": [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if f"builder-sbx-root-{me}-" in line],
        "cgroups": sorted(str(p) for p in Path("/sys/fs/cgroup").glob(f"*/**/builder-sbx-{me}-*")),
        "zygotes": [],
        "ipc": [],
    }
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
            if ZYGOTE_MARKER.encode() in cmdline and parent == me:
                out["zygotes"].append(entry)
    for kind in ("shm", "msg", "sem"):
        lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        out["ipc"] += [f"{kind}: {line.split()[0]}" for line in lines if line.split()[0] in ("4660", "4661", "4662")]
    return out


def test_zz_nothing_is_left_on_the_machine(sandbox: ForkServerSandbox, no_seccomp_sandbox: ForkServerSandbox | None) -> None:
    boxes = [box for box in (sandbox, no_seccomp_sandbox) if box is not None]
    uids = {box.program_uid for box in boxes if box.program_uid is not None and not box.shared_uid}
    for box in boxes:
        assert program_processes(box) == []
        box.close()
    for uid in uids:
        assert _processes_of_uid(uid) == []
    left = _leftovers()
    assert left == {"scratch": [], "mounts": [], "cgroups": [], "zygotes": [], "ipc": []}, left


def test_suite_size() -> None:
    programs = len(LEAVE_BEHIND) + len(OOM) + len(FORGERIES) + len(STDIN_FORGERIES) + 2 * len(READERS) + len(NON_READERS) + 6
    assert programs >= 60, programs
    assert sys.platform.startswith("linux")
