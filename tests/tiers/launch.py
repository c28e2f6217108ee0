#!/usr/bin/env python3
"""Run a command the way a user of each isolation tier would, on a machine where we are root (CI).

    launch.py --tier 2 --user NAME [--share PATH ...] -- COMMAND ...
    launch.py --tier 2 [--share PATH ...] -- COMMAND ...          (root in a container that allows user namespaces)
    launch.py --tier 3 [--share PATH ...] [--ro-cgroup] [--mask-proc] -- COMMAND ...

Must start as root with CAP_SYS_ADMIN. Everything happens in a private mount namespace, gone with the command:

* ``--share PATH`` (repeatable): make PATH reachable by other users without changing the machine. Where a folder on
  the way is private (``/root`` is 0700 and pyenv's Python lives under it), a 0755 tmpfs is mounted over that folder
  and only PATH is bound back at its own path (other uids can then run that interpreter; nothing else of the folder
  shows). Without this, tier 2 and 3 cannot run pyenv's Python at all: the sandbox refuses tier 3 and says why.
* ``--tier 2 --user NAME``: drop to that user (its uid, gid, HOME; no supplementary groups; no capability left) and
  exec: what a normal user on a workstation gets (the sandbox uses unprivileged user namespaces). Without ``--user``:
  root with Docker's default capabilities (no CAP_SYS_ADMIN) and no seccomp filter, as in a container run with
  ``--security-opt seccomp=unconfined``: user namespaces are allowed, mounts outside one are not.
* ``--tier 3``: stay root but as a default Docker/Kubernetes container would have it: only Docker's 14 default
  capabilities (no CAP_SYS_ADMIN, CAP_SYS_RESOURCE, CAP_SYS_PTRACE, ...), dropped from the bounding set too, and a
  seccomp filter like Docker's default profile for a container without CAP_SYS_ADMIN: ``unshare``, ``setns``,
  ``mount``/``umount2``/``pivot_root`` and the new mount API, and ``clone`` with any namespace flag refused (EPERM),
  ``clone3`` ENOSYS, keyrings/bpf/perf/kexec/modules/reboot/... EPERM; the three Landlock calls allowed (as Docker's
  profile does since moby/moby#43199). Like runc, the filter is installed while CAP_SYS_ADMIN is still held, so
  ``no_new_privs`` is not set. ``--ro-cgroup`` re-binds every cgroup mount read-only (Docker mounts cgroupfs ``ro``);
  ``--mask-proc`` applies Docker's /proc masks.

Exit status: the command's. x86_64 only (CI's machine).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import errno
import os
import platform
import pwd
import struct
import sys

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.unshare.argtypes = [ctypes.c_int]
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]

CLONE_NEWNS = 0x20000
NS_FLAGS = 0x7E020000  # every CLONE_NEW* flag: Docker's mask for clone
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, PR_SET_SECCOMP = 24, 47, 4, 22

CAPS = {
    "CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4, "KILL": 5, "SETGID": 6, "SETUID": 7,
    "SETPCAP": 8, "LINUX_IMMUTABLE": 9, "NET_BIND_SERVICE": 10, "NET_BROADCAST": 11, "NET_ADMIN": 12, "NET_RAW": 13,
    "IPC_LOCK": 14, "IPC_OWNER": 15, "SYS_MODULE": 16, "SYS_RAWIO": 17, "SYS_CHROOT": 18, "SYS_PTRACE": 19,
    "SYS_PACCT": 20, "SYS_ADMIN": 21, "SYS_BOOT": 22, "SYS_NICE": 23, "SYS_RESOURCE": 24, "SYS_TIME": 25,
    "SYS_TTY_CONFIG": 26, "MKNOD": 27, "LEASE": 28, "AUDIT_WRITE": 29, "AUDIT_CONTROL": 30, "SETFCAP": 31,
    "MAC_OVERRIDE": 32, "MAC_ADMIN": 33, "SYSLOG": 34, "WAKE_ALARM": 35, "BLOCK_SUSPEND": 36, "AUDIT_READ": 37,
    "PERFMON": 38, "BPF": 39, "CHECKPOINT_RESTORE": 40,
}
DOCKER_DEFAULT_CAPS = {"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP",
                       "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"}
#: x86_64 numbers Docker's default profile refuses (EPERM) to a container without CAP_SYS_ADMIN
DOCKER_DENIED = {
    "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155, "open_tree": 428, "move_mount": 429,
    "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442, "keyctl": 250, "add_key": 248,
    "request_key": 249, "bpf": 321, "perf_event_open": 298, "kexec_load": 246, "kexec_file_load": 320,
    "init_module": 175, "finit_module": 313, "delete_module": 176, "reboot": 169, "swapon": 167, "swapoff": 168,
    "acct": 163, "settimeofday": 164, "clock_settime": 227, "clock_adjtime": 305, "adjtimex": 159, "quotactl": 179,
    "lookup_dcookie": 212, "userfaultfd": 323, "open_by_handle_at": 304, "iopl": 172, "ioperm": 173, "syslog": 103,
    "vhangup": 153, "nfsservctl": 180, "create_module": 174, "get_kernel_syms": 177, "query_module": 178,
    "uselib": 134, "ustat": 136, "sysfs": 139, "_sysctl": 156, "fanotify_init": 300,
}
SYS_CLONE, SYS_CLONE3 = 56, 435
AUDIT_ARCH_X86_64, X32_BIT = 0xC000003E, 0x40000000
RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS = 0x7FFF0000, 0x00050000, 0x80000000
DOCKER_MASKED = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                 "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"]
DOCKER_READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: None if s is None else os.fsencode(s)  # noqa: E731
    _check(libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def share(paths: list[str]) -> None:
    """Make each path reachable by every user inside this mount namespace (see the module's docstring)."""
    by_folder: dict[str, list[str]] = {}
    for raw in paths:
        path = os.path.realpath(raw)
        parts = path.split("/")
        for i in range(2, len(parts)):
            folder = "/".join(parts[:i])
            if not os.stat(folder).st_mode & 0o001:
                by_folder.setdefault(folder, []).append(path)
                break
    for folder, inside in sorted(by_folder.items()):
        keep = os.open(folder, os.O_PATH | os.O_DIRECTORY)
        mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
        for path in sorted(set(inside)):
            rel = os.path.relpath(path, folder)
            os.makedirs(os.path.join(folder, rel), mode=0o755, exist_ok=True)
            mount(f"/proc/self/fd/{keep}/{rel}", os.path.join(folder, rel), None, MS_BIND | MS_REC)
        os.close(keep)


def ro_cgroupfs() -> None:
    for line in open("/proc/self/mountinfo"):
        target = line.split()[4].replace("\\040", " ")
        if target == "/sys/fs/cgroup" or target.startswith("/sys/fs/cgroup/"):
            mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def mask_proc() -> None:
    for path in DOCKER_MASKED:
        if os.path.isdir(path):
            mount("tmpfs", path, "tmpfs", MS_RDONLY)
        elif os.path.exists(path):
            mount("/dev/null", path, None, MS_BIND)
    for path in DOCKER_READONLY:
        if os.path.exists(path):
            mount(path, path, None, MS_BIND | MS_REC)
            mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def docker_filter() -> bytes:
    """Classic BPF like Docker's default profile without CAP_SYS_ADMIN (the parts that matter here)."""
    LD, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
    denied = sorted(set(DOCKER_DENIED.values()))
    clone_at = 4 + len(denied)
    clone3_at = clone_at + 3
    allow, eperm, enosys, kill = clone3_at + 1, clone3_at + 2, clone3_at + 3, clone3_at + 4
    prog = [_insn(LD, 0, 0, 4), _insn(JEQ, 0, kill - 2, AUDIT_ARCH_X86_64), _insn(LD, 0, 0, 0), _insn(JGE, kill - 4, 0, X32_BIT)]
    for i, nr in enumerate(denied):
        prog.append(_insn(JEQ, eperm - (4 + i) - 1, 0, nr))
    prog.append(_insn(JEQ, 0, 2, SYS_CLONE))
    prog.append(_insn(LD, 0, 0, 16))  # clone's flags (args[0], low 32 bits)
    prog.append(_insn(JSET, eperm - (clone_at + 2) - 1, allow - (clone_at + 2) - 1, NS_FLAGS))
    prog.append(_insn(JEQ, enosys - clone3_at - 1, 0, SYS_CLONE3))
    prog += [_insn(RET, 0, 0, RET_ALLOW), _insn(RET, 0, 0, RET_ERRNO | errno.EPERM), _insn(RET, 0, 0, RET_ERRNO | errno.ENOSYS),
             _insn(RET, 0, 0, RET_KILL_PROCESS)]
    assert len(prog) == kill + 1
    return b"".join(prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def as_docker_default(seccomp: bool = True) -> None:
    """Docker's default capabilities (bounding set too) and its seccomp profile's refusals (unless ``seccomp`` is
    False: an unconfined container); no no_new_privs."""
    keep = {CAPS[name] for name in DOCKER_DEFAULT_CAPS}
    for cap in range(64):
        if cap in keep:
            continue
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            if ctypes.get_errno() == errno.EINVAL:
                break
            _check(-1, f"PR_CAPBSET_DROP {cap}")
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if seccomp:
        program = docker_filter()
        buffer = ctypes.create_string_buffer(program, len(program))
        fprog = _SockFprog(len(program) // 8, ctypes.addressof(buffer))
        _check(libc.prctl(PR_SET_SECCOMP, 2, ctypes.addressof(fprog), 0, 0), "seccomp")  # while CAP_SYS_ADMIN is held
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()
    _check(libc.capget(ctypes.byref(header), data), "capget")
    for i in range(2):
        mask = sum(1 << (c - 32 * i) for c in keep if 32 * i <= c < 32 * (i + 1))
        data[i].effective &= mask
        data[i].permitted &= mask
        data[i].inheritable = 0
    _check(libc.capset(ctypes.byref(header), data), "capset")


def as_user(name: str) -> None:
    user = pwd.getpwnam(name)
    os.setgroups([])
    os.setresgid(user.pw_gid, user.pw_gid, user.pw_gid)
    os.setresuid(user.pw_uid, user.pw_uid, user.pw_uid)
    os.environ.update(HOME=user.pw_dir, USER=name, LOGNAME=name)
    os.chdir(user.pw_dir if os.path.isdir(user.pw_dir) else "/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tier", type=int, choices=(2, 3), required=True)
    parser.add_argument("--user", help="tier 2: the user to run as")
    parser.add_argument("--share", action="append", default=[], help="a path other users must reach (repeatable)")
    parser.add_argument("--ro-cgroup", action="store_true")
    parser.add_argument("--mask-proc", action="store_true")
    parser.add_argument("--cwd", default=None, help="working directory of the command")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command")
    if os.geteuid() != 0 or platform.machine() != "x86_64":
        sys.exit("launch.py: must start as root on x86_64")
    _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    share(args.share)
    if args.ro_cgroup:
        ro_cgroupfs()
    if args.mask_proc:
        mask_proc()
    cwd = args.cwd
    if args.tier == 2 and args.user:
        as_user(args.user)
    else:
        as_docker_default(seccomp=args.tier == 3)
    if cwd:
        os.chdir(cwd)
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        sys.exit(f"launch.py: {command[0]}: {exc}")


if __name__ == "__main__":
    main()
