/*
 * The exec launcher of the fork-server sandbox: the lock-down of a test process, for a compiled program.
 *
 * A test whose program is a binary (mode "exec", no files) does not need a forked copy of the zygote's Python
 * interpreter: the zygote starts this small static program with posix_spawn (a vfork: no page tables copied) and it
 * does, with plain system calls, what the zygote's forked child does for every program (zygote.py, ``_program``),
 * then replaces itself with the binary (execveat on a sealed memfd). Every step mirrors the Python one, in the same
 * order for the ones whose order matters; any failure writes one line to the setup pipe and exits 111 (SETUP_FAILED),
 * which the zygote reports as the executor's error, never as the program's.
 *
 * Descriptors (placed by the zygote's posix_spawn file actions; everything else is closed here first):
 *   0, 1, 2  the program's stdin, stdout, stderr
 *   4        the setup pipe (close-on-exec: a successful execve closes it)
 *   5        the Landlock ruleset (flag LANDLOCK)
 *   6        the binary (a sealed memfd; close-on-exec)
 *   7        the test leaf's cgroup.procs (flag CGROUP)
 *   8        the seccomp filter, as the raw BPF program (flag SECCOMP)
 *
 * argv: launcher FLAGS CPU_SOFT FSIZE AS NPROC UID GID SCRATCH -- PROGRAM_ARG...
 *
 * Capabilities: the zygote keeps CAP_SETUID, CAP_SETGID, CAP_SYS_ADMIN and CAP_SYS_RESOURCE in its inheritable set
 * (its bounding set is empty), so this program, executed as uid 0, has exactly those until it changes uid; it then
 * clears every set (effective, permitted, inheritable, ambient) and checks that nothing is left, in every tier,
 * before seccomp and Landlock: the binary starts with no capability and cannot get one back by any execve.
 *
 * Linux only; standard C library and kernel headers only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SETUP_FAILED 111
#define SETUP_FD 4
#define LANDLOCK_FD 5
#define BINARY_FD 6
#define CGROUP_FD 7
#define SECCOMP_FD 8

#define F_IPC 1
#define F_CGROUP 2
#define F_UID 4
#define F_SECCOMP 8
#define F_NNP 16
#define F_LANDLOCK 32
#define F_AS 64
#define F_NPROC 128

#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

static void fail(const char *step, int err) {
    char line[256];
    int n = snprintf(line, sizeof line, "program setup: launcher: %s: %s", step, strerror(err));
    if (n > 0) {
        ssize_t ignored = write(SETUP_FD, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        (void)ignored;
    }
    _exit(SETUP_FAILED);
}

static void check(int result, const char *step) {
    if (result != 0) fail(step, errno);
}

static long long number(const char *text, const char *what) {
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0') fail(what, EINVAL);
    return value;
}

/* zygote.py's _setrlimit: an unprivileged process cannot raise a hard limit; it keeps the one it has */
static void limit(int which, rlim_t soft, rlim_t hard, const char *what) {
    struct rlimit current, wanted;
    check(getrlimit(which, &current), what);
    if (current.rlim_max != RLIM_INFINITY && (hard == RLIM_INFINITY || hard > current.rlim_max) && geteuid() != 0) {
        hard = current.rlim_max;
        soft = soft != RLIM_INFINITY ? (soft < hard ? soft : hard) : hard;
    }
    wanted.rlim_cur = soft;
    wanted.rlim_max = hard;
    check(setrlimit(which, &wanted), what);
}

static void close_from(int first) {
    if (syscall(SYS_close_range, (unsigned)first, ~0U, 0U) == 0) return;
    long top = sysconf(_SC_OPEN_MAX);
    for (long fd = first; fd < (top > 0 ? top : 65536); fd++) close((int)fd);
}

/* Every disposition back to SIG_DFL, with the raw system call: posix_spawn leaves the C library's two internal
 * signals (32 and 33) ignored, and its sigaction refuses to touch them. An all-zero kernel sigaction is SIG_DFL, no
 * flags, an empty mask, whatever the architecture's layout of that structure. */
static void default_signals(void) {
    static const unsigned long zero[8];
    for (int sig = 1; sig <= 64; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) syscall(SYS_rt_sigaction, sig, zero, NULL, 8);
    }
    sigset_t none;
    sigemptyset(&none);
    check(sigprocmask(SIG_SETMASK, &none, NULL), "signal mask");
}

static void drop_capabilities(void) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    check((int)syscall(SYS_capset, &header, data), "capset");
    check((int)syscall(SYS_capget, &header, data), "capget");
    for (int i = 0; i < 2; i++) {
        if (data[i].effective || data[i].permitted || data[i].inheritable) fail("capabilities left", EPERM);
    }
}

static void install_seccomp(void) {
    static struct sock_filter program[4096];
    ssize_t size = pread(SECCOMP_FD, program, sizeof program, 0);
    if (size <= 0 || size % (ssize_t)sizeof(struct sock_filter) != 0 || size == (ssize_t)sizeof program)
        fail("seccomp program", size < 0 ? errno : EINVAL);
    close(SECCOMP_FD);
    struct sock_fprog fprog = {(unsigned short)(size / (ssize_t)sizeof(struct sock_filter)), program};
    check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs");
    check(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0), "seccomp filter");
}

int main(int argc, char **argv) {
    if (argc < 10 || strcmp(argv[9], "--") != 0) fail("usage", EINVAL);
    long long flags = number(argv[1], "flags");
    long long cpu_soft = number(argv[2], "cpu limit");
    long long fsize = number(argv[3], "output limit");
    long long address_space = number(argv[4], "address space limit");
    long long nproc = number(argv[5], "process limit");
    long long uid = number(argv[6], "uid");
    long long gid = number(argv[7], "gid");
    const char *scratch = argv[8];

    /* nothing of the zygote's beyond the descriptors it placed */
    close_from(SECCOMP_FD + 1);
    close(3);
    if (!(flags & F_LANDLOCK)) close(LANDLOCK_FD);
    if (!(flags & F_CGROUP)) close(CGROUP_FD);
    if (!(flags & F_SECCOMP)) close(SECCOMP_FD);
    check(fcntl(SETUP_FD, F_SETFD, FD_CLOEXEC), "setup pipe");
    check(fcntl(BINARY_FD, F_SETFD, FD_CLOEXEC), "binary");
    default_signals();
    if (setsid() < 0) fail("setsid", errno);

    if (flags & F_IPC) check(unshare(CLONE_NEWIPC), "unshare IPC namespace");
    if (flags & F_CGROUP) {
        if (write(CGROUP_FD, "0", 1) != 1) fail("join the test's cgroup", errno);
        close(CGROUP_FD);
    }
    limit(RLIMIT_CPU, (rlim_t)cpu_soft, (rlim_t)cpu_soft + 1, "RLIMIT_CPU");
    limit(RLIMIT_FSIZE, (rlim_t)fsize, (rlim_t)fsize, "RLIMIT_FSIZE");
    limit(RLIMIT_NOFILE, 256, 256, "RLIMIT_NOFILE");
    limit(RLIMIT_CORE, 0, 0, "RLIMIT_CORE");
    limit(RLIMIT_STACK, RLIM_INFINITY, RLIM_INFINITY, "RLIMIT_STACK");
    if (flags & F_AS) limit(RLIMIT_AS, (rlim_t)address_space, (rlim_t)address_space, "RLIMIT_AS");
    int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (oom >= 0) { /* the first the OOM killer takes (raising is always allowed) */
        ssize_t ignored = write(oom, "1000", 4);
        (void)ignored;
        close(oom);
    }
    if (flags & F_NPROC) limit(RLIMIT_NPROC, (rlim_t)nproc, (rlim_t)nproc, "RLIMIT_NPROC");
    if (flags & F_UID) {
        setgroups(0, NULL); /* denied in a user namespace whose setgroups is off: the groups are not ours to change */
        check(setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid), "setresgid");
        check(setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid), "setresuid");
    }
    /* as the program's uid: at tier 3 the scratch folder is private to it, and uid 0 here has no CAP_DAC_OVERRIDE */
    check(chdir(scratch), "chdir to the scratch folder");
    drop_capabilities();
    if (flags & F_SECCOMP) install_seccomp();
    else if (flags & F_NNP) check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs");
    if (flags & F_LANDLOCK) {
        check((int)syscall(SYS_landlock_restrict_self, LANDLOCK_FD, 0U), "landlock_restrict_self");
        close(LANDLOCK_FD);
    }

    argv[9] = "./solution";
    char *environment[] = {NULL};
    syscall(SYS_execveat, BINARY_FD, "", &argv[9], environment, AT_EMPTY_PATH);
    fail("execve of the binary", errno);
    return SETUP_FAILED;
}
