"""Linux isolation primitives for the fork-server, through ctypes: namespaces, mounts, seccomp, prctl.

Python 3.11 has no ``os.unshare`` / ``os.setns`` and no mount API, so this module calls libc directly. It is imported
by the zygote (a locked-down interpreter that forks one child per test), so it imports only the standard library.

The seccomp filter is a classic BPF program assembled here (no libseccomp needed): it kills any syscall made through
a foreign ABI (x32, i386 ``int 0x80``), refuses with ``EPERM`` the syscalls a test program never needs and that could
reach outside the sandbox (sockets, ptrace, mount, namespaces, bpf, keyrings, perf, kexec, modules, ...), refuses
``clone`` with a namespace flag, and answers ``clone3`` with ``ENOSYS`` so libc falls back to the filtered ``clone``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import platform
import struct

# --- clone / unshare flags ------------------------------------------------------------------------------------------
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
NAMESPACE_FLAGS = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET

# --- mount flags ----------------------------------------------------------------------------------------------------
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MNT_DETACH = 2

# statvfs f_flag bits -> mount flags (a bind remount must keep the locked flags of its source)
_ST_TO_MS = ((1, MS_RDONLY), (2, MS_NOSUID), (4, MS_NODEV), (8, MS_NOEXEC), (1024, MS_NOATIME), (2048, MS_NODIRATIME), (4096, MS_RELATIME))

# --- prctl ------------------------------------------------------------------------------------------------------------
PR_SET_PDEATHSIG = 1
PR_GET_SECCOMP = 21
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
SECCOMP_MODE_FILTER = 2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.syscall.restype = ctypes.c_long


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _b(path: str | None) -> bytes | None:
    return None if path is None else os.fsencode(path)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), f"unshare({flags:#x})")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(fd, nstype), f"setns({nstype:#x})")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), f"mount {target}")


def umount2(target: str, flags: int) -> None:
    _check(_libc.umount2(_b(target), flags), f"umount {target}")


_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine())


def pivot_root(new_root: str, put_old: str) -> None:
    if _SYS_PIVOT_ROOT is None:
        raise OSError(errno.ENOSYS, "pivot_root: unknown syscall number on this architecture")
    _check(_libc.syscall(_SYS_PIVOT_ROOT, _b(new_root), _b(put_old)), "pivot_root")


_SYS_CLOSE_RANGE = {"x86_64": 436, "aarch64": 436}.get(platform.machine())


def close_from(first: int) -> None:
    """Close every fd >= ``first`` (one close_range syscall; a loop over RLIMIT_NOFILE where it is missing)."""
    if _SYS_CLOSE_RANGE is not None and _libc.syscall(_SYS_CLOSE_RANGE, ctypes.c_uint(first), ctypes.c_uint(0xFFFFFFFF), ctypes.c_uint(0)) == 0:
        return
    os.closerange(first, os.sysconf("SC_OPEN_MAX"))


IPC_RMID = 0


def ipc_remove(kind: str, ident: int) -> None:
    """Remove one SysV IPC object (``kind``: shm, msg or sem)."""
    if kind == "shm":
        result = _libc.shmctl(ident, IPC_RMID, None)
    elif kind == "msg":
        result = _libc.msgctl(ident, IPC_RMID, None)
    else:
        result = _libc.semctl(ident, 0, IPC_RMID)
    _check(0 if result >= 0 else result, f"{kind}ctl({ident}, IPC_RMID)")


def sethostname(name: str) -> None:
    data = name.encode()
    _check(_libc.sethostname(data, len(data)), "sethostname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    result = _libc.prctl(option, arg2, arg3, arg4, arg5)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")
    return result


def mount_flags_of(path: str) -> int:
    """The mount flags (MS_*) of the mount that holds ``path`` (to keep them on a bind remount)."""
    f_flag = os.statvfs(path).f_flag
    flags = 0
    for st, ms in _ST_TO_MS:
        if f_flag & st:
            flags |= ms
    return flags


def bind_mount(source: str, target: str, *, readonly: bool = True, extra: int = 0) -> None:
    """Bind ``source`` on ``target`` (recursively), then remount it read-only / nosuid with its locked flags kept."""
    mount(source, target, None, MS_BIND | MS_REC)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | extra | mount_flags_of(source)
    if readonly:
        flags |= MS_RDONLY
    mount(None, target, None, flags)


# --- seccomp ----------------------------------------------------------------------------------------------------------
AUDIT_ARCH_X86_64 = 0xC000003E
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
X32_SYSCALL_BIT = 0x40000000

#: syscalls a test program is refused (x86_64 numbers): network, debugging other processes, mounts, namespaces,
#: kernel keyrings, bpf, perf, kexec and modules, clocks, swap, io_uring, handle-based opens, userfaultfd, System V
#: IPC and POSIX message queues (objects that would outlive the test), modify_ldt, ...
DENIED_SYSCALLS_X86_64: dict[str, int] = {
    "socket": 41,
    "connect": 42,
    "accept": 43,
    "bind": 49,
    "listen": 50,
    "accept4": 288,
    "ptrace": 101,
    "syslog": 103,
    "uselib": 134,
    "ustat": 136,
    "sysfs": 139,
    "vhangup": 153,
    "pivot_root": 155,
    "_sysctl": 156,
    "adjtimex": 159,
    "chroot": 161,
    "acct": 163,
    "settimeofday": 164,
    "mount": 165,
    "umount2": 166,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "sethostname": 170,
    "setdomainname": 171,
    "iopl": 172,
    "ioperm": 173,
    "create_module": 174,
    "init_module": 175,
    "delete_module": 176,
    "get_kernel_syms": 177,
    "query_module": 178,
    "quotactl": 179,
    "nfsservctl": 180,
    "lookup_dcookie": 212,
    "clock_settime": 227,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "migrate_pages": 256,
    "unshare": 272,
    "move_pages": 279,
    "perf_event_open": 298,
    "fanotify_init": 300,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "clock_adjtime": 305,
    "setns": 308,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "kcmp": 312,
    "finit_module": 313,
    "kexec_file_load": 320,
    "kexec_load": 246,
    "bpf": 321,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "pidfd_getfd": 438,
    "process_madvise": 440,
    "mount_setattr": 442,
    "quotactl_fd": 443,
    "memfd_secret": 447,
    # a process's own descriptor table for segments: nothing a test program needs
    "modify_ldt": 154,
    # System V IPC and POSIX message queues: kernel objects that outlive a process (a test must leave nothing)
    "shmget": 29,
    "shmat": 30,
    "shmctl": 31,
    "semget": 64,
    "semop": 65,
    "semctl": 66,
    "shmdt": 67,
    "msgget": 68,
    "msgsnd": 69,
    "msgrcv": 70,
    "msgctl": 71,
    "semtimedop": 220,
    "mq_open": 240,
    "mq_unlink": 241,
    "mq_timedsend": 242,
    "mq_timedreceive": 243,
    "mq_notify": 244,
    "mq_getsetattr": 245,
}
SYS_CLONE_X86_64 = 56
SYS_CLONE3_X86_64 = 435

_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_JSET_K = 0x45
_BPF_RET_K = 0x06


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def build_seccomp_filter() -> bytes | None:
    """The BPF program (``struct sock_filter[]`` bytes) for this machine, or None where it is not supported."""
    if platform.machine() != "x86_64":
        return None
    denied = sorted(set(DENIED_SYSCALLS_X86_64.values()))
    # layout: [0] ld arch, [1] jeq x86_64, [2] ld nr, [3] jge x32 -> kill, [4..] denied checks,
    # then clone check (3 insns), clone3 check (1), ret allow, ret eperm, ret enosys, ret kill
    n_denied = len(denied)
    first = 4
    clone_at = first + n_denied
    clone3_at = clone_at + 3
    allow_at = clone3_at + 1
    eperm_at = allow_at + 1
    enosys_at = eperm_at + 1
    kill_at = enosys_at + 1
    prog = [
        _insn(_BPF_LD_W_ABS, 0, 0, 4),
        _insn(_BPF_JEQ_K, 0, kill_at - 2, AUDIT_ARCH_X86_64),
        _insn(_BPF_LD_W_ABS, 0, 0, 0),
        _insn(_BPF_JGE_K, kill_at - 4, 0, X32_SYSCALL_BIT),
    ]
    for i, nr in enumerate(denied):
        pc = first + i
        prog.append(_insn(_BPF_JEQ_K, eperm_at - pc - 1, 0, nr))
    # clone: refuse any namespace flag in args[0] (low 32 bits at offset 16 on little-endian)
    prog.append(_insn(_BPF_JEQ_K, 0, 2, SYS_CLONE_X86_64))
    prog.append(_insn(_BPF_LD_W_ABS, 0, 0, 16))
    prog.append(_insn(_BPF_JSET_K, eperm_at - (clone_at + 2) - 1, allow_at - (clone_at + 2) - 1, NAMESPACE_FLAGS))
    prog.append(_insn(_BPF_JEQ_K, enosys_at - clone3_at - 1, 0, SYS_CLONE3_X86_64))
    prog.append(_insn(_BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    prog.append(_insn(_BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM))
    prog.append(_insn(_BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.ENOSYS))
    prog.append(_insn(_BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS))
    assert len(prog) == kill_at + 1
    return b"".join(prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class SeccompFilter:
    """A prepared filter: building it allocates; installing it in a forked child only calls prctl."""

    def __init__(self, program: bytes) -> None:
        self._buffer = ctypes.create_string_buffer(program, len(program))
        self._fprog = _SockFprog(len(program) // 8, ctypes.addressof(self._buffer))

    def install(self) -> None:
        """Set no_new_privs (required for an unprivileged filter) and load the filter into this process."""
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        result = _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(self._fprog), 0, 0)
        if result != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"seccomp filter: {os.strerror(err)}")


def seccomp_supported() -> bool:
    try:
        prctl(PR_GET_SECCOMP)
    except OSError:
        return False
    return build_seccomp_filter() is not None
