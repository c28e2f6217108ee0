"""Hostile and tricky programs through the fork-server sandbox, each with the verdict the judge must give.

Every case runs through the real :class:`ForkServerSandbox` and the real judge (``builder.judge.run_verdict``). After
each run no process of the sandbox's throwaway uid may be left; after the suite no zygote of this test process either.
Cases marked ``agree`` are also run through the spawn-per-test sandbox, which must give the same verdict (the two
executors agree on everything the first one handled). Skipped where the machine offers no isolation (not root and no
user namespaces): ``tests/test_sandbox_isolation.py`` covers the degraded modes.

CI runs this file at every isolation tier this machine reaches (tests/tiers/launch.py): a few cases check a mechanism
a tier does not have (a PID or mount namespace at tier 3, a memory cgroup) and are skipped there with the reason;
at tier 3 the programs' ``/tmp`` is their own folder (``tiers.support.for_tier``).
"""

from __future__ import annotations

import os
import socket
import textwrap
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from builder.core import taxonomy as T
from builder.core.errors import UserError
from builder.judge.compare import tokens_match
from builder.judge.verdict import run_verdict
from builder.sandbox.base import Limits
from builder.sandbox.forkserver import ZYGOTE_MARKER, ForkServerSandbox
from builder.sandbox.spawn import SpawnSandbox
from builder.sandbox.zygote import python_dirs
from tiers.support import (
    NO_PID_NAMESPACE, NO_PRIVATE_ROOT, NO_UTS_NET_NAMESPACE, RLIMIT_AS_STACKS, environment_in_scratch, for_tier, program_processes, tier_of,
)

CANARY_TOKEN = "hf_canary_DO_NOT_LEAK_7f3a9c"
LIMITS = Limits(cpu_s=1.0, memory_mb=256, output_mb=8, max_processes=16)


@dataclass(frozen=True)
class Case:
    code: str
    verdict: str
    stdin: str = "21\n"
    expected: str = "42\n"
    limits: Limits = LIMITS
    agree: bool = False  # the spawn sandbox must give the same verdict


def _c(code: str, verdict: str, **kw: object) -> Case:
    return Case(textwrap.dedent(code).strip() + "\n", verdict, **kw)  # type: ignore[arg-type]


FAST = Limits(cpu_s=0.5, memory_mb=256, output_mb=8, max_processes=16)

CASES: dict[str, Case] = {
    # --- time -------------------------------------------------------------------------------------------------
    "infinite_loop": _c("input()\nwhile True: pass", T.TIMEOUT, limits=FAST, agree=True),
    "sleep_forever": _c("import time\ninput()\ntime.sleep(60)", T.TIMEOUT, limits=FAST, agree=True),
    "sigxcpu_ignored": _c(
        """
        import signal
        signal.signal(signal.SIGXCPU, signal.SIG_IGN)
        input()
        while True: pass
        """,
        T.TIMEOUT,
        limits=FAST,
        agree=True,
    ),
    "busy_threads": _c(
        """
        import threading
        input()
        def spin():
            while True: pass
        for _ in range(4): threading.Thread(target=spin, daemon=True).start()
        spin()
        """,
        T.TIMEOUT,
        limits=FAST,
    ),
    "self_alarm": _c("import signal\ninput()\nsignal.alarm(1)\nwhile True: pass", T.RUNTIME_ERROR, limits=Limits(cpu_s=3.0, wall_s=6.0, memory_mb=256), agree=True),
    # --- memory -----------------------------------------------------------------------------------------------
    "huge_allocation": _c("input()\nx = [0] * (10 ** 11)", T.MEMORY, agree=True),
    "touch_400mb": _c("input()\nx = bytearray(400 << 20)\nprint(len(x))", T.MEMORY, agree=True),
    "slow_memory_growth": _c(
        """
        import time
        input()
        chunks = []
        while True:
            chunks.append(bytearray(4 << 20))
            time.sleep(0.002)
        """,
        T.MEMORY,
        limits=Limits(cpu_s=2.0, wall_s=20.0, memory_mb=256),
    ),
    "caught_memory_error_recovers": _c(
        """
        n = int(input())
        try:
            x = bytearray(10 ** 13)
        except MemoryError:
            x = None
        print(2 * n)
        """,
        T.PASSED,
        agree=True,
    ),
    "caught_memory_error_still_over": _c(
        """
        n = int(input())
        chunks = []
        try:
            while True:
                chunks.append(bytearray(1 << 20))
        except MemoryError:
            chunks.clear()
        print(2 * n)
        """,
        T.MEMORY,
    ),
    # --- output -----------------------------------------------------------------------------------------------
    "stdout_flood": _c("input()\nwhile True: print('x' * 1000)", T.RUNTIME_ERROR, agree=True),
    "stdout_flood_bytes": _c("import sys\ninput()\nwhile True: sys.stdout.buffer.write(b'y' * 65536)", T.RUNTIME_ERROR, agree=True),
    "stderr_noise_passes": _c(
        """
        import sys
        n = int(input())
        for i in range(20000): print('debug', i, file=sys.stderr)
        print(2 * n)
        """,
        T.PASSED,
        agree=True,
    ),
    "stderr_flood": _c("import sys\ninput()\nwhile True: sys.stderr.write('e' * 4096)", T.RUNTIME_ERROR, agree=True),
    # --- processes --------------------------------------------------------------------------------------------
    "fork_bomb_plain": _c("import os\ninput()\nwhile True: os.fork()", T.RUNTIME_ERROR),
    "fork_bomb_resilient": _c(
        """
        import os
        input()
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """,
        T.TIMEOUT,
        limits=FAST,
    ),
    "orphaned_grandchild": _c(
        """
        import os, time
        n = int(input())
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(600)
            os._exit(0)
        print(2 * n)
        """,
        T.PASSED,
    ),
    "kill_parent": _c(
        """
        import os, signal
        n = int(input())
        for target in (os.getppid(), 1):
            try:
                os.kill(target, signal.SIGKILL)
            except OSError:
                pass
        print(2 * n)
        """,
        T.PASSED,
    ),
    "kill_minus_one": _c(
        """
        import os, signal
        n = int(input())
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        print(2 * n)
        """,
        T.PASSED,
    ),
    # signals 32 and 33 (the C library's own) are ignored in a process that `just` started (Rust's posix_spawn), and
    # execve keeps that: a program must not inherit it (its own signal kills it, as any other with a default action)
    "libc_signal_kills": _c("import os, time\ninput()\nos.kill(os.getpid(), 32)\ntime.sleep(1)\nprint(42)", T.RUNTIME_ERROR),
    "setuid_root": _c("import os\ninput()\nos.setuid(0)\nprint(42)", T.RUNTIME_ERROR),
    "regain_limits": _c(  # a higher hard CPU limit, a lower OOM score, another cgroup: each one won is a wrong answer
        """
        import os, resource
        n, won = int(input()), 0
        soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
        try:
            if hard != resource.RLIM_INFINITY:
                resource.setrlimit(resource.RLIMIT_CPU, (hard + 60, hard + 60))
                won += 1
        except (ValueError, OSError):
            pass
        def read(path):
            try:
                return open(path).read()
            except OSError:
                return ""
        def write(path, text):
            try:
                with open(path, "w") as fh:
                    fh.write(text)
            except OSError:
                pass
        score = read("/proc/self/oom_score_adj").strip()
        write("/proc/self/oom_score_adj", "-1000")
        if score and int(read("/proc/self/oom_score_adj")) < int(score):  # spared by the OOM killer
            won += 2
        before = read("/proc/self/cgroup")
        for group in ("", "memory/", "pids/", "cpuacct/"):
            write(f"/sys/fs/cgroup/{group}cgroup.procs", f"{os.getpid()}\\n")
        if read("/proc/self/cgroup") != before:
            won += 4
        print(1000 + won if won else 2 * n)
        """,
        T.PASSED,
    ),
    "subprocess_python": _c(
        """
        import subprocess, sys
        n = int(input())
        out = subprocess.run([sys.executable, "-c", f"print({n} * 2)"], capture_output=True, text=True).stdout
        print(out.strip())
        """,
        T.PASSED,
        limits=Limits(cpu_s=3.0, memory_mb=256, max_processes=16),
    ),
    # --- secrets, files, network ------------------------------------------------------------------------------
    "read_environment": _c(
        f"""
        import os, glob
        n = int(input())
        leak = "{CANARY_TOKEN}" in repr(dict(os.environ)) or "HF_TOKEN" in os.environ
        for path in glob.glob("/proc/*/environ") + ["/proc/self/environ", "/proc/1/environ"]:
            try:
                leak = leak or b"{CANARY_TOKEN}" in open(path, "rb").read()
            except OSError:
                pass
        print("LEAK" if leak else 2 * n)
        """,
        T.PASSED,
    ),
    "read_parent_proc": _c(
        """
        import os
        n = int(input())
        ppid = os.getppid()
        seen = []
        for name in ("environ", "cmdline", "maps", "mem"):
            try:
                with open(f"/proc/{ppid}/{name}", "rb") as fh:
                    if fh.read(64):
                        seen.append(name)
            except OSError:
                pass
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
        print(2 * n if ppid == 1 and "environ" not in seen and "mem" not in seen and len(pids) <= 3 else f"seen {seen} {pids}")
        """,
        T.PASSED,
    ),
    "reach_other_processes": _c(  # memory and descriptors of every process it can name, by system call, not /proc
        """
        import ctypes, os
        n = int(input())
        libc = ctypes.CDLL(None, use_errno=True)
        class iovec(ctypes.Structure):
            _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
        buf = ctypes.create_string_buffer(64)
        local = iovec(ctypes.cast(buf, ctypes.c_void_p), 64)
        remote = iovec(ctypes.cast(buf, ctypes.c_void_p), 64)  # any address: EFAULT would mean the read was allowed
        me = os.getpid()
        pids = {1, os.getppid()} | set(range(max(2, me - 64), me + 64))  # without a PID namespace: the zygote, its tests
        try:
            pids |= {int(p) for p in os.listdir("/proc") if p.isdigit()}
        except OSError:  # no /proc (Landlock at tier 3): the pids it can guess still count
            pass
        pids.discard(me)
        won = []
        for pid in sorted(pids):
            pidfd = libc.syscall(434, pid, 0)  # pidfd_open
            if pidfd >= 0:
                for fd in range(16):
                    got = libc.syscall(438, pidfd, fd, 0)  # pidfd_getfd: a copy of one of its descriptors
                    if got >= 0:
                        won.append(f"getfd {pid}:{fd}")
                        os.close(got)
                os.close(pidfd)
            if libc.syscall(310, pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0) >= 0 or ctypes.get_errno() == 14:
                won.append(f"process_vm_readv {pid}")  # 310: process_vm_readv
            if libc.ptrace(0x4206, pid, 0, 0) == 0:  # PTRACE_SEIZE
                won.append(f"seize {pid}")
        print(2 * n if not won else f"won {won[:8]}")
        """,
        T.PASSED,
    ),
    # the Python environment may live anywhere (/root, /home, /var, a .venv inside the clone): the folders on the way
    # to it exist in the sandbox's root, but nothing beside them
    "read_repo_and_home": _c(
        """
        import os
        n = int(input())
        python = {python_dirs}
        def on_the_way(p):
            return any(d == p or d.startswith(p.rstrip("/") + "/") for d in python)
        paths = ("/work", "/root/.bashrc", "/etc/shadow", "/home", "/var", "{repo}", "{repo}/README.md", "{repo}/builder")
        seen = [p for p in paths if os.path.exists(p) and not on_the_way(p)]
        for d in python:
            parts = d.strip("/").split("/")
            for i in range(1, len(parts)):
                folder = "/" + "/".join(parts[:i])
                if any(folder == p or folder.startswith(p + "/") for p in python + ["/usr", "/lib", "/lib64", "/bin"]):
                    break  # inside a mounted folder: everything there is the environment's
                extra = [x for x in os.listdir(folder) if not on_the_way(folder.rstrip("/") + "/" + x)]
                seen += [folder + "/" + x for x in extra if folder != "/"]
        print(2 * n if not seen else f"seen {seen}")
        """,
        T.PASSED,
    ),
    "read_host_canary": _c("n = int(input())\ntry:\n    print(open('{canary_file}').read())\nexcept OSError:\n    print(2 * n)", T.PASSED),
    "write_host_canary": _c(
        """
        import os
        n = int(input())
        for path in ("{canary_write}", "/usr/canary_written", "/etc/canary_written", "/canary_written"):
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as fh:
                    fh.write("pwned")
            except OSError:
                pass
        print(2 * n)
        """,
        T.PASSED,
    ),
    "connect_localhost": _c(
        """
        import socket
        n = int(input())
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"stolen")
            print("CONNECTED")
        except OSError:
            print(2 * n)
        """,
        T.PASSED,
    ),
    "raw_syscalls_refused": _c(
        """
        import ctypes, os
        n = int(input())
        libc = ctypes.CDLL(None, use_errno=True)
        results = [
            libc.unshare(0x10000000),               # CLONE_NEWUSER
            libc.mount(b"none", b"/tmp", b"tmpfs", 0, None),
            libc.ptrace(16, 1, 0, 0),               # PTRACE_ATTACH to init
            libc.syscall(321, 0, 0, 0),             # bpf
            libc.syscall(272, 0x40000000),          # unshare(CLONE_NEWNET)
        ]
        print(2 * n if all(r == -1 for r in results) else f"allowed {results}")
        """,
        T.PASSED,
    ),
    "hostname_and_net": _c(
        """
        import os, socket
        n = int(input())
        ifaces = sorted(line.split(":")[0].strip() for line in open("/proc/net/dev").read().splitlines()[2:])
        print(2 * n if socket.gethostname() == "sandbox" and ifaces == ["lo"] else f"{socket.gethostname()} {ifaces}")
        """,
        T.PASSED,
    ),
    "scratch_is_private": _c(
        """
        import os
        n = int(input())
        with open("note.txt", "w") as fh:
            fh.write("left behind")
        here = [x for x in os.listdir(".") if "/tmp/" + x not in {environment}]  # the environment's folder, if under /tmp
        print(2 * n if os.getcwd() == "/tmp" and here == ["note.txt"] else os.listdir("."))
        """,
        T.PASSED,
    ),
    # --- recursion, threads, signals ------------------------------------------------------------------------
    "recursion_default_limit": _c("input()\ndef f(n): return f(n + 1)\nf(0)", T.LOGIC_ERROR, agree=True),
    "recursion_beyond_default": _c(
        """
        import sys
        sys.setrecursionlimit(10 ** 6)
        def depth(n): return 0 if n == 0 else depth(n - 1) + 1
        n = int(input())
        print(depth(300000) // 300000 * 2 * n)
        """,
        T.PASSED,
        limits=Limits(cpu_s=3.0, memory_mb=512),
        agree=True,
    ),
    "recursion_deep_c_stack": _c(
        """
        import sys
        from functools import lru_cache
        sys.setrecursionlimit(10 ** 6)
        @lru_cache(maxsize=None)
        def depth(n): return 0 if n == 0 else depth(n - 1) + 1
        n = int(input())
        print(depth(100000) // 100000 * 2 * n)
        """,
        T.PASSED,
        limits=Limits(cpu_s=3.0, memory_mb=512),
        agree=True,
    ),
    "thread_main_big_stack": _c(
        """
        import sys, threading
        sys.setrecursionlimit(10 ** 6)
        threading.stack_size(512 << 20)
        def depth(n): return 0 if n == 0 else depth(n - 1) + 1
        def main():
            n = int(input())
            print(depth(200000) // 200000 * 2 * n)
        t = threading.Thread(target=main)
        t.start()
        t.join()
        """,
        T.PASSED,
        limits=Limits(cpu_s=3.0, memory_mb=256),
        # not `agree`: under the spawn sandbox's RLIMIT_AS a 512 MB thread stack cannot even be reserved
    ),
    "thread_exception": _c("import threading\ndef m():\n    int(input())\n    [][1]\nthreading.Thread(target=m).start()", T.LOGIC_ERROR, agree=True),
    "segfault_ctypes": _c("import ctypes\ninput()\nctypes.string_at(0)", T.RUNTIME_ERROR, agree=True),
    "abort": _c("import os\ninput()\nos.abort()", T.RUNTIME_ERROR, agree=True),
    "closed_stdout_fd": _c("import os\nn = int(input())\nos.close(1)\nprint(2 * n)", T.RUNTIME_ERROR, agree=True),
    "closed_stdout_object": _c("import sys\nn = int(input())\nsys.stdout.close()\nprint(2 * n)", T.LOGIC_ERROR, agree=True),
    "sigterm_self": _c("import os, signal\nprint(2 * int(input()), flush=True)\nos.kill(os.getpid(), signal.SIGTERM)", T.RUNTIME_ERROR, agree=True),
    # --- I/O habits -------------------------------------------------------------------------------------------
    "no_trailing_newline": _c("import sys\nsys.stdout.write(str(2 * int(input())))", T.PASSED, agree=True),
    "read_stdin_twice": _c("import sys\na = sys.stdin.read()\nb = sys.stdin.read()\nprint(2 * int(a) if b == '' else 'again')", T.PASSED, agree=True),
    "eof_handled": _c("n = int(input())\ntry:\n    input()\nexcept EOFError:\n    print(2 * n)", T.PASSED, agree=True),
    "eof_uncaught": _c("n = int(input())\nm = int(input())\nprint(2 * n)", T.RUNTIME_ERROR, agree=True),
    "exit_builtin": _c("print(2 * int(input()))\nexit()", T.PASSED, agree=True),
    "sys_exit_message": _c("import sys\nprint(2 * int(input()))\nsys.exit('giving up')", T.RUNTIME_ERROR, agree=True),
    "sys_exit_zero": _c("import sys\nprint(2 * int(input()))\nsys.exit(0)", T.PASSED, agree=True),
    "atexit_output": _c("import atexit\nn = int(input())\natexit.register(lambda: print(2 * n))", T.PASSED, agree=True),
    "open_zero": _c("print(2 * int(open(0).read()))", T.PASSED, agree=True),
    "dev_stdin": _c("print(2 * int(open('/dev/stdin').read()))", T.PASSED, agree=True),
    "stdout_buffer_write": _c("import sys\nsys.stdout.buffer.write(str(2 * int(sys.stdin.buffer.read())).encode())", T.PASSED, agree=True),
    "huge_int_print": _c("print(7 ** int(input()))", T.PASSED, stdin="20000\n", expected="", agree=True),
    "stdin_10mb": _c("import sys\ndata = sys.stdin.buffer.read().split()\nprint(sum(map(int, data)))", T.PASSED, stdin="", expected="", agree=True),
    "never_reads_stdin": _c("print(7)", T.NO_STDIN, agree=True),
    "wrong_answer": _c("print(2 * int(input()) + 1)", T.WA, agree=True),
    "prints_nothing": _c("x = input()", T.EMPTY_OUTPUT, agree=True),
    "numpy_works": _c("import numpy as np\nprint(int(np.array([int(input())]).sum() * 2))", T.PASSED, limits=Limits(cpu_s=5.0, memory_mb=512)),
    # --- compile ----------------------------------------------------------------------------------------------
    "syntax_error": _c("def f(:\n    pass", T.SYNTAX_ERROR, agree=True),
    "indentation_error": _c("x = input()\n  print(x)", T.SYNTAX_ERROR, agree=True),
    "null_byte_source": Case("print(1)\x00\n", T.SYNTAX_ERROR, agree=True),
}

_BIG_NUMBERS = [str(i) for i in range(1, 1_500_000)]
_BIG_STDIN = "\n".join(_BIG_NUMBERS) + "\n"
assert len(_BIG_STDIN) > 10_000_000


def _decimal(n: int) -> str:
    import sys

    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        return str(n)
    finally:
        sys.set_int_max_str_digits(old)


def _case_io(name: str, case: Case) -> tuple[str, str]:
    if name == "stdin_10mb":
        return _BIG_STDIN, str(sum(range(1, 1_500_000)))
    if name == "huge_int_print":
        return case.stdin, _decimal(7**20000)
    return case.stdin, case.expected


@pytest.fixture(scope="module")
def host_canaries(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("canary")
    secret = base / "secret.txt"
    secret.write_text("HOST SECRET CONTENT")
    write_target = base / "written" / "by_candidate.txt"
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            received.append(b"<connection>" + conn.recv(100))
            conn.close()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    yield {"canary_file": str(secret), "canary_write": str(write_target), "port": listener.getsockname()[1], "received": received, "base": base}
    stop.set()
    thread.join(timeout=2)
    listener.close()


@pytest.fixture(scope="module")
def sandbox():
    previous = os.environ.get("HF_TOKEN")
    os.environ["HF_TOKEN"] = CANARY_TOKEN  # set in the supervisor's environment: must never reach a program
    try:
        box = ForkServerSandbox()
    except UserError as exc:
        pytest.skip(f"no isolation on this machine: {exc}")
    try:
        yield box
    finally:
        zygote_pid = box._holder[0].proc.pid if box._holder[0] else None
        program_uid = None if box.shared_uid else box.program_uid
        box.close()
        if previous is None:
            os.environ.pop("HF_TOKEN", None)
        else:
            os.environ["HF_TOKEN"] = previous
        # after the suite: no process of the sandbox's uid and no zygote of this test process is left
        left = [] if program_uid is None else _processes_of_uid(program_uid)
        assert left == [], [Path(f"/proc/{pid}/status").read_text()[:400] for pid in left if Path(f"/proc/{pid}").exists()]
        assert _zygotes_of(os.getpid()) == []
        if zygote_pid is not None:
            assert not Path(f"/proc/{zygote_pid}").exists()


@pytest.fixture(scope="module")
def spawn_box():
    box = SpawnSandbox()
    yield box
    box.close()


def _processes_of_uid(uid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("Uid:") and int(line.split()[1]) == uid:
                found.append(int(entry))
    return found


def _zygotes_of(ppid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if ZYGOTE_MARKER.encode() in cmdline and int(stat.rsplit(")", 1)[1].split()[1]) == ppid:
            found.append(int(entry))
    return found


def _verdict(box, code: str, stdin: str, expected: str, limits: Limits) -> tuple[str, object]:
    run = box.run(code, stdin.encode(), limits)
    return run_verdict(run, stdin, expected, lambda actual: tokens_match(expected, actual)), run


def test_suite_is_large_enough() -> None:
    assert len(CASES) >= 40
    assert {c.verdict for c in CASES.values()} >= {T.PASSED, T.TIMEOUT, T.MEMORY, T.RUNTIME_ERROR, T.LOGIC_ERROR, T.SYNTAX_ERROR, T.NO_STDIN, T.WA, T.EMPTY_OUTPUT}


#: cases that check a mechanism a tier does not have (the guarantee itself is checked by the other cases and tests/tiers)
TIER3_SKIPS = {"read_repo_and_home": NO_PRIVATE_ROOT, "read_parent_proc": NO_PID_NAMESPACE, "hostname_and_net": NO_UTS_NET_NAMESPACE}
NO_CGROUP_SKIPS = {"thread_main_big_stack": RLIMIT_AS_STACKS}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_program(sandbox: ForkServerSandbox, host_canaries: dict, name: str) -> None:
    if tier_of(sandbox) == 3 and name in TIER3_SKIPS:
        pytest.skip(TIER3_SKIPS[name])
    if not sandbox.features.get("cgroup") and name in NO_CGROUP_SKIPS:
        pytest.skip(NO_CGROUP_SKIPS[name])
    case = CASES[name]
    code = for_tier(case.code, sandbox)
    for key in ("canary_file", "canary_write", "port"):
        code = code.replace("{" + key + "}", str(host_canaries[key]))
    code = code.replace("{repo}", str(Path(__file__).resolve().parents[1]))
    code = code.replace("{python_dirs}", repr(sorted({os.path.realpath(p) for p in python_dirs() if p})))
    code = code.replace("{environment}", repr(environment_in_scratch()))
    stdin, expected = _case_io(name, case)
    verdict, run = _verdict(sandbox, code, stdin, expected, case.limits)
    assert verdict == case.verdict, run
    assert program_processes(sandbox) == [], "a process of the program outlived its test"
    if name == "write_host_canary":
        assert not Path(host_canaries["canary_write"]).exists()
        assert not Path(host_canaries["canary_write"]).parent.exists()
        assert not Path("/usr/canary_written").exists() and not Path("/etc/canary_written").exists()
    if name == "connect_localhost":
        assert host_canaries["received"] == []
    if name == "read_environment":
        assert CANARY_TOKEN.encode() not in run.stdout + run.stderr_tail


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.agree))
def test_spawn_sandbox_agrees(spawn_box: SpawnSandbox, name: str) -> None:
    case = CASES[name]
    stdin, expected = _case_io(name, case)
    verdict, run = _verdict(spawn_box, case.code, stdin, expected, case.limits)
    assert verdict == case.verdict, run


def test_sandbox_still_healthy_after_the_suite(sandbox: ForkServerSandbox, host_canaries: dict) -> None:
    verdict, run = _verdict(sandbox, "print(2 * int(input()))", "21\n", "42\n", LIMITS)
    assert verdict == T.PASSED, run
    assert host_canaries["received"] == []
