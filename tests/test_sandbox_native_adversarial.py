"""Hostile C and C++ programs through the fork-server sandbox: the same guarantees as for Python programs.

Each program is compiled once, inside the sandbox (``builder.judge.compiled.compile_source``), and run as a binary
(``run_binary``) under the real judge (``run_verdict``). The classes of attack: system calls the seccomp filter refuses,
made directly with inline assembly (no libc wrapper to trust), foreign system-call ABIs (``int $0x80``, x32), process
bombs, memory floods (``mmap``, the stack, ``new``), reading and writing host files, the network, signals to the
sandbox's own processes, leftovers for the next test, output floods and time abuse (sleeping, spinning with
SIGXCPU ignored, clocks); then attacks on the compiler (including host files into the program, reading devices
forever, huge objects). After every case no process of the program may be left, and host files stay unread and
unwritten. x86_64 only for the assembly cases (the seccomp filter covers aarch64 the same way; the cases there would
need their own assembly).
"""

from __future__ import annotations

import os
import platform
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from builder.core import taxonomy as T
from builder.core.errors import UserError
from builder.judge.compare import tokens_match
from builder.judge.compiled import compile_source, run_binary, toolchain_problem
from builder.judge.verdict import run_verdict
from builder.sandbox.base import Limits
from builder.sandbox.forkserver import ForkServerSandbox
from tiers.support import for_tier, program_processes, tier_of

pytestmark = pytest.mark.skipif(toolchain_problem("c") is not None or toolchain_problem("cpp") is not None,
                                reason="no gcc/g++ on this machine")
X86_64 = platform.machine() == "x86_64"
LIMITS = Limits(cpu_s=1.0, memory_mb=256, output_mb=8, max_processes=16)
FAST = Limits(cpu_s=0.5, memory_mb=256, output_mb=8, max_processes=16)
#: attacks on the compiler get a small compile budget (the real one is builder.judge.compiled.COMPILE_LIMITS)
SMALL_COMPILE = Limits(cpu_s=3.0, wall_s=20.0, memory_mb=512, output_mb=16, max_processes=16, file_size_mb=64)
CANARY = "HOST SECRET CONTENT 5d1e"


@dataclass(frozen=True)
class Case:
    source: str
    verdicts: frozenset[str]
    language: str = "c"
    stdin: str = "21\n"
    expected: str = "42\n"
    limits: Limits = LIMITS
    x86_64_only: bool = False


def _c(source: str, *verdicts: str, **kw: object) -> Case:
    return Case(textwrap.dedent(source).strip() + "\n", frozenset(verdicts), **kw)  # type: ignore[arg-type]


#: a program that answers 42 after its attack, printing what the attack got (so a breach is a wrong answer)
CASES: dict[str, Case] = {
    # --- system calls, made without libc -------------------------------------------------------------------------
    "asm_socket_refused": _c(
        """
        #include <stdio.h>
        int main(void) {
            long ret;
            __asm__ volatile ("syscall" : "=a"(ret) : "a"(41L), "D"(2L), "S"(1L), "d"(0L) : "rcx", "r11", "memory");
            int n; scanf("%d", &n);
            printf("%ld\\n", ret == -1 ? 2L * n : ret);  /* socket(AF_INET, SOCK_STREAM): -EPERM */
            return 0;
        }
        """, T.PASSED, x86_64_only=True),
    "asm_unshare_and_mount_refused": _c(
        """
        #include <stdio.h>
        static long sys(long nr, long a, long b, long c, long d, long e) {
            long ret; register long r10 __asm__("r10") = d; register long r8 __asm__("r8") = e;
            __asm__ volatile ("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8) : "rcx", "r11", "memory");
            return ret;
        }
        int main(void) {
            long u = sys(272, 0x10000000L, 0, 0, 0, 0);             /* unshare(CLONE_NEWUSER) */
            long m = sys(165, (long)"none", (long)"/tmp", (long)"tmpfs", 0, 0); /* mount */
            long p = sys(101, 0, 0, 0, 0, 0);                        /* ptrace(PTRACE_TRACEME) */
            int n; scanf("%d", &n);
            if (u == -1 && m == -1 && p == -1) printf("%d\\n", 2 * n); else printf("u=%ld m=%ld p=%ld\\n", u, m, p);
            return 0;
        }
        """, T.PASSED, x86_64_only=True),
    "int80_foreign_abi_killed": _c(
        """
        #include <stdio.h>
        int main(void) {
            long ret;
            int n; scanf("%d", &n);
            __asm__ volatile ("int $0x80" : "=a"(ret) : "a"(20L) : "memory");  /* i386 getpid */
            printf("%d\\n", 2 * n);
            return 0;
        }
        """, T.RUNTIME_ERROR, x86_64_only=True),
    "x32_abi_killed": _c(
        """
        #include <stdio.h>
        int main(void) {
            long ret;
            int n; scanf("%d", &n);
            __asm__ volatile ("syscall" : "=a"(ret) : "a"(0x40000000L | 39L) : "rcx", "r11", "memory");  /* x32 getpid */
            printf("%d\\n", 2 * n);
            return 0;
        }
        """, T.RUNTIME_ERROR, x86_64_only=True),
    # --- processes ------------------------------------------------------------------------------------------------
    "fork_bomb": _c(
        """
        #include <stdio.h>
        #include <unistd.h>
        int main(void) { int n; scanf("%d", &n); for (;;) fork(); }
        """, T.TIMEOUT, limits=FAST),
    "thread_bomb": _c(
        """
        #include <pthread.h>
        #include <stdio.h>
        static void *spin(void *x) { for (;;) {} return x; }
        int main(void) { int n; scanf("%d", &n); pthread_t t; for (;;) pthread_create(&t, 0, spin, 0); }
        """, T.TIMEOUT, limits=FAST),
    "daemon_outlives_nothing": _c(
        """
        #include <stdio.h>
        #include <signal.h>
        #include <unistd.h>
        int main(void) {
            int n; scanf("%d", &n);
            if (fork() == 0) { setsid(); signal(SIGTERM, SIG_IGN); signal(SIGHUP, SIG_IGN);
                               if (fork() == 0) { for (;;) sleep(1); } _exit(0); }
            printf("%d\\n", 2 * n);
            return 0;
        }
        """, T.PASSED),
    "kill_everything": _c(
        """
        #include <stdio.h>
        #include <signal.h>
        int main(void) {
            int n; scanf("%d", &n);
            kill(1, SIGKILL); kill(-1, SIGKILL);  /* the zygote (PID 1, another uid) and everything else it may reach */
            printf("%d\\n", 2 * n);
            return 0;
        }
        """, T.PASSED),
    # --- memory -----------------------------------------------------------------------------------------------------
    "mmap_flood": _c(
        """
        #include <stdio.h>
        #include <string.h>
        #include <sys/mman.h>
        int main(void) {
            int n; scanf("%d", &n);
            for (;;) {
                char *p = mmap(0, 64 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
                if (p == MAP_FAILED) { *(volatile char *)0 = 1; }
                memset(p, 1, 64 << 20);
            }
        }
        """, T.MEMORY),
    "stack_exhaustion": _c(
        """
        #include <stdio.h>
        #include <string.h>
        static int deep(int n) { volatile char frame[1 << 16]; memset((char *)frame, n, sizeof frame); return deep(n + 1) + frame[7]; }
        int main(void) { int n; scanf("%d", &n); printf("%d\\n", deep(n)); return 0; }
        """, T.MEMORY, T.RUNTIME_ERROR),
    "new_beyond_everything": _c(
        """
        #include <iostream>
        #include <vector>
        int main() { int n; std::cin >> n; std::vector<long long> v(1ULL << 40, n); std::cout << v.back() << std::endl; }
        """, T.MEMORY, language="cpp"),
    # --- files and the network ------------------------------------------------------------------------------------
    "read_host_files": _c(
        """
        #include <stdio.h>
        #include <string.h>
        int main(void) {
            const char *paths[] = {"{canary_file}", "/etc/shadow", "/proc/1/environ", "{repo}/README.md", "/root/.bashrc"};
            char buf[256]; int leaked = 0;
            for (int i = 0; i < 5; i++) { FILE *f = fopen(paths[i], "r"); if (f) { size_t k = fread(buf, 1, sizeof buf - 1, f);
                buf[k] = 0; if (strstr(buf, "SECRET") || strstr(buf, "root:") || strstr(buf, "HF_") || strstr(buf, "codeverify")) leaked = 1; fclose(f); } }
            int n; scanf("%d", &n); printf("%d\\n", leaked ? -1 : 2 * n); return 0;
        }
        """, T.PASSED),
    "write_host_files": _c(
        """
        #include <stdio.h>
        int main(void) {
            FILE *a = fopen("{canary_write}", "w"), *b = fopen("/usr/canary_native", "w"), *c = fopen("/etc/canary_native", "w");
            int n; scanf("%d", &n); printf("%d\\n", (a || b || c) ? -1 : 2 * n); return 0;
        }
        """, T.PASSED),
    "shell_sees_the_sandbox": _c(
        """
        #include <stdio.h>
        #include <stdlib.h>
        int main(void) {
            int leaked = system("grep -q '^root:x:0:0:root:/root' /etc/passwd 2>/dev/null") == 0;
            int n; scanf("%d", &n); printf("%d\\n", leaked ? -1 : 2 * n); return 0;
        }
        """, T.PASSED),
    "connect_with_libc": _c(
        """
        #include <stdio.h>
        #include <sys/socket.h>
        int main(void) { int s = socket(AF_INET, SOCK_STREAM, 0); int n; scanf("%d", &n); printf("%d\\n", s < 0 ? 2 * n : -1); return 0; }
        """, T.PASSED),
    "environment_is_empty": _c(
        """
        #include <stdio.h>
        extern char **environ;
        int main(void) { int k = 0; while (environ && environ[k]) k++; int n; scanf("%d", &n); printf("%d\\n", k ? -k : 2 * n); return 0; }
        """, T.PASSED),
    "signals_start_at_their_defaults": _c(
        """
        #define _GNU_SOURCE
        #include <signal.h>
        #include <stdio.h>
        int main(void) {
            int bad = 0; sigset_t mask; sigprocmask(SIG_SETMASK, NULL, &mask);
            for (int s = 1; s < NSIG && !bad; s++) {
                struct sigaction sa;
                if (sigaction(s, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL) bad = s;
                if (sigismember(&mask, s) == 1) bad = 1000 + s;
            }
            int n; scanf("%d", &n); printf("%d\\n", bad ? -bad : 2 * n); return 0;  /* SIGPIPE, SIGXFSZ: not ignored */
        }
        """, T.PASSED),
    "libc_signal_kills": _c(
        """
        #include <stdio.h>
        #include <sys/syscall.h>
        #include <unistd.h>
        int main(void) {  /* signal 32, the C library's own: at its default action, it ends the program */
            int n; scanf("%d", &n); syscall(SYS_kill, getpid(), 32); sleep(1); printf("%d\\n", 2 * n); return 0;
        }
        """, T.RUNTIME_ERROR),
    "regain_what_the_launcher_took": _c(
        """
        #define _GNU_SOURCE
        #include <fcntl.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/prctl.h>
        #include <sys/resource.h>
        #include <unistd.h>
        static void slurp(const char *path, char *out, size_t size) {
            int fd = open(path, O_RDONLY); ssize_t n = fd < 0 ? -1 : read(fd, out, size - 1); out[n > 0 ? n : 0] = 0;
            if (fd >= 0) close(fd);
        }
        static void spit(const char *path, const char *text) {
            int fd = open(path, O_WRONLY); if (fd >= 0) { (void)!write(fd, text, strlen(text)); close(fd); }
        }
        int main(void) {  /* every privilege, limit or group the launcher set, tried back; each one won is a wrong answer */
            int n, won = 0; char before[4096], after[4096], pid[32];
            scanf("%d", &n);
            uid_t uid = getuid();
            if (setresuid(0, 0, 0) == 0 && uid != 0) won += 1;                       /* root again */
            if (setresgid(0, 0, 0) == 0 && getgid() == 0 && uid != 0) won += 2;
            if (prctl(PR_CAP_AMBIENT_RAISE, 21 /* CAP_SYS_ADMIN */, 0, 0, 0) == 0) won += 4;
            if (prctl(PR_CAP_AMBIENT_RAISE, 24 /* CAP_SYS_RESOURCE */, 0, 0, 0) == 0) won += 8;
            struct rlimit cpu; getrlimit(RLIMIT_CPU, &cpu);
            if (cpu.rlim_max != RLIM_INFINITY) { cpu.rlim_max += 60; cpu.rlim_cur = cpu.rlim_max; if (setrlimit(RLIMIT_CPU, &cpu) == 0) won += 16; }
            slurp("/proc/self/oom_score_adj", before, sizeof before);
            spit("/proc/self/oom_score_adj", "-1000");
            slurp("/proc/self/oom_score_adj", after, sizeof after);
            if (before[0] && strtol(after, 0, 10) < strtol(before, 0, 10)) won += 32;  /* spared by the OOM killer */
            slurp("/proc/self/cgroup", before, sizeof before);
            snprintf(pid, sizeof pid, "%d\\n", getpid());
            const char *groups[] = {"/sys/fs/cgroup/cgroup.procs", "/sys/fs/cgroup/memory/cgroup.procs",
                                    "/sys/fs/cgroup/pids/cgroup.procs", "/sys/fs/cgroup/cpuacct/cgroup.procs", "../cgroup.procs"};
            for (unsigned i = 0; i < sizeof groups / sizeof *groups; i++) spit(groups[i], pid);
            slurp("/proc/self/cgroup", after, sizeof after);
            if (strcmp(before, after) != 0) won += 64;                               /* out of its own group */
            printf("%d\\n", won ? 1000 + won : 2 * n);
            return 0;
        }
        """, T.PASSED),
    # --- output, time ------------------------------------------------------------------------------------------------
    "output_flood": _c(
        """
        #include <stdio.h>
        #include <string.h>
        int main(void) { static char line[1 << 16]; memset(line, 'x', sizeof line); for (;;) fwrite(line, 1, sizeof line, stdout); }
        """, T.RUNTIME_ERROR, T.NO_STDIN),
    "sleep_forever": _c(
        """
        #include <stdio.h>
        #include <unistd.h>
        int main(void) { int n; scanf("%d", &n); for (;;) pause(); }
        """, T.TIMEOUT, limits=FAST),
    "sigxcpu_ignored_spin": _c(
        """
        #include <stdio.h>
        #include <signal.h>
        int main(void) { signal(SIGXCPU, SIG_IGN); int n; scanf("%d", &n); for (volatile unsigned long i = 0;; i++) {} }
        """, T.TIMEOUT, limits=FAST),
    "every_signal_blocked_and_ignored_spin": _c(
        """
        #include <signal.h>
        #include <stdio.h>
        int main(void) {  /* SIGXCPU, SIGTERM, SIGALRM, ... blocked and ignored: only SIGKILL ends it */
            sigset_t all; sigfillset(&all); sigprocmask(SIG_BLOCK, &all, NULL);
            for (int s = 1; s < NSIG; s++) signal(s, SIG_IGN);
            int n; scanf("%d", &n); for (volatile unsigned long i = 0;; i++) {}
        }
        """, T.TIMEOUT, limits=FAST),
    "clock_and_timer_abuse": _c(
        """
        #include <stdio.h>
        #include <sys/time.h>
        #include <time.h>
        int main(void) {
            struct timespec t = {0, 0};
            int a = clock_settime(CLOCK_REALTIME, &t);
            struct itimerval it = {{0, 0}, {0, 0}};
            setitimer(ITIMER_PROF, &it, 0);  /* its own timers only */
            int n; scanf("%d", &n); printf("%d\\n", a == 0 ? -1 : 2 * n); return 0;
        }
        """, T.PASSED),
    # --- the taxonomy for binaries -----------------------------------------------------------------------------------
    "never_reads_stdin": _c(
        """
        #include <stdio.h>
        int main(void) { printf("42\\n0\\n"); return 0; }
        """, T.NO_STDIN),
    "segfault": _c(
        """
        #include <stdio.h>
        int main(void) { int n; scanf("%d", &n); return *(volatile int *)0; }
        """, T.RUNTIME_ERROR),
    "uncaught_exception": _c(
        """
        #include <iostream>
        #include <vector>
        int main() { int n; std::cin >> n; std::vector<int> v; std::cout << v.at(n) << std::endl; }
        """, T.RUNTIME_ERROR, language="cpp"),
    "nonzero_exit": _c(
        """
        #include <stdio.h>
        int main(void) { int n; scanf("%d", &n); printf("%d\\n", 2 * n); return 3; }
        """, T.RUNTIME_ERROR),
    "empty_output": _c(
        """
        #include <stdio.h>
        int main(void) { int n; scanf("%d", &n); return 0; }
        """, T.EMPTY_OUTPUT),
}

#: attacks on the compiler: none of them may compile into a program that holds a host file, or outlive its limits
COMPILE_CASES: dict[str, str] = {
    "include_host_file": '#include "{canary_file}"\nint main(void) { return 0; }\n',
    "include_etc_shadow": '#include "/etc/shadow"\nint main(void) { return 0; }\n',
    "incbin_host_file": '__asm__(".section .rodata\\n.incbin \\"{canary_file}\\"\\n.previous");\nint main(void) { return 0; }\n',
    "include_dev_zero": '#include "/dev/zero"\nint main(void) { return 0; }\n',
    "huge_object": "char big[1ULL << 33] = {1};\nint main(int argc, char **argv) { return big[(unsigned long)argc << 30]; }\n",
    "template_bomb": (
        "template<int N> struct F { static const long v = F<N-1>::v + F<N-2>::v; };\n"
        "template<> struct F<0> { static const long v = 0; }; template<> struct F<1> { static const long v = 1; };\n"
        "template<int N, int D> struct R { static const long v = R<N, D-1>::v + R<N-1, D-1>::v; };\n"
        "template<int N> struct R<N, 0> { static const long v = F<N>::v; };\n"
        "int main() { return (int)R<100000, 900>::v; }\n"
    ),
}


@pytest.fixture(scope="module")
def sandbox():
    try:
        box = ForkServerSandbox()
    except UserError as exc:
        pytest.skip(f"no isolation on this machine: {exc}")
    try:
        yield box
    finally:
        box.close()


@pytest.fixture(scope="module")
def canaries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("native-canary")
    secret = base / "secret.h"
    secret.write_text(f'const char *leak = "{CANARY}";\n')
    return {"canary_file": str(secret), "canary_write": str(base / "written" / "by_native.txt"),
            "repo": str(Path(__file__).resolve().parents[1])}


def _fill(source: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        source = source.replace("{" + key + "}", value)
    return source


def test_suite_covers_the_attack_classes() -> None:
    assert len(CASES) >= 25 and len(COMPILE_CASES) >= 5
    assert {v for c in CASES.values() for v in c.verdicts} >= {T.PASSED, T.TIMEOUT, T.MEMORY, T.RUNTIME_ERROR, T.NO_STDIN, T.EMPTY_OUTPUT}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_binary(sandbox: ForkServerSandbox, canaries: dict[str, str], name: str) -> None:
    case = CASES[name]
    if case.x86_64_only and not X86_64:
        pytest.skip("inline x86_64 assembly")
    if name == "mmap_flood" and not sandbox.features.get("cgroup"):
        pytest.skip("without a memory cgroup a failed mmap is this program's own segfault (RLIMIT_AS): runtime_error")
    source = for_tier(_fill(case.source, canaries), sandbox)
    compiled = compile_source(sandbox, case.language, source)
    assert compiled.binary is not None, compiled.diagnostics
    try:
        run = run_binary(sandbox, compiled.binary, case.stdin.encode(), case.limits)
    finally:
        compiled.binary.close()
    verdict = run_verdict(run, case.stdin, case.expected, lambda actual: tokens_match(case.expected, actual))
    assert verdict in case.verdicts, run
    assert program_processes(sandbox) == [], "a process of the program outlived its test"
    assert CANARY.encode() not in run.stdout + run.stderr_tail
    assert not Path(canaries["canary_write"]).exists() and not Path(canaries["canary_write"]).parent.exists()
    assert not Path("/usr/canary_native").exists() and not Path("/etc/canary_native").exists()


@pytest.mark.parametrize("name", sorted(COMPILE_CASES))
def test_hostile_source_does_not_compile(sandbox: ForkServerSandbox, canaries: dict[str, str], name: str) -> None:
    language = "cpp" if name == "template_bomb" else "c"
    compiled = compile_source(sandbox, language, _fill(COMPILE_CASES[name], canaries), limits=SMALL_COMPILE)
    assert compiled.binary is None and compiled.verdict == T.SYNTAX_ERROR, compiled
    assert CANARY not in compiled.diagnostics
    assert program_processes(sandbox) == [], "a compiler process outlived its compile"


def test_scratch_is_empty_for_the_next_binary(sandbox: ForkServerSandbox) -> None:
    write = compile_source(sandbox, "c", for_tier(textwrap.dedent("""
        #include <stdio.h>
        int main(void) { FILE *f = fopen("/tmp/left.txt", "w"); fputs("x", f); fclose(f);
                         f = fopen("left_here.txt", "w"); fputs("x", f); fclose(f); puts("ok"); return 0; }
        """), sandbox))
    look = compile_source(sandbox, "c", for_tier(textwrap.dedent("""
        #include <stdio.h>
        int main(void) { puts(fopen("/tmp/left.txt", "r") || fopen("left_here.txt", "r") || fopen("solution.c", "r") ? "found" : "clean"); return 0; }
        """), sandbox))
    assert write.binary is not None and look.binary is not None
    assert run_binary(sandbox, write.binary, b"", LIMITS).stdout == b"ok\n"
    assert run_binary(sandbox, look.binary, b"", LIMITS).stdout == b"clean\n"  # nor the compiler's source
    write.binary.close()
    look.binary.close()


def test_the_binary_cannot_be_changed_by_its_runs(sandbox: ForkServerSandbox) -> None:
    """The sealed binary is the same file for every test: a run that tries to rewrite it (through /proc/self/exe or
    any descriptor) cannot, so the next test runs the program that was compiled."""
    source = textwrap.dedent("""
        #include <stdio.h>
        #include <fcntl.h>
        #include <unistd.h>
        int main(void) {
            int fd = open("/proc/self/exe", O_WRONLY);
            long w = fd >= 0 ? write(fd, "XXXX", 4) : -1;
            printf("%s\\n", w == 4 ? "changed" : "sealed");
            return 0;
        }
        """)
    compiled = compile_source(sandbox, "c", source)
    assert compiled.binary is not None
    first = run_binary(sandbox, compiled.binary, b"", LIMITS)
    second = run_binary(sandbox, compiled.binary, b"", LIMITS)
    compiled.binary.close()
    assert first.stdout == second.stdout == b"sealed\n", (first, second)
    assert tier_of(sandbox) in (1, 2, 3)
    assert os.path.exists("/proc/self/exe")
