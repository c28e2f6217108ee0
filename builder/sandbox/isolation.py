"""Linux isolation primitives for the fork-server, through ctypes: namespaces, mounts, seccomp, capabilities, Landlock.

Python 3.11 has no ``os.unshare`` / ``os.setns``, no mount API and no Landlock, so this module calls libc directly.
It is imported by the zygote (a locked-down interpreter that forks one child per test), so it imports only the
standard library.

The seccomp filter is a classic BPF program assembled here for x86_64 and aarch64 (no libseccomp: it would be a system
library pip cannot install, and the zygote would have to load it; tests check the numbers against its tables): it
kills any syscall made through a foreign ABI (x32, i386 ``int 0x80``; arm32), refuses with ``EPERM`` the syscalls a
test program never needs and that could reach outside the sandbox (sockets, ptrace, mount, namespaces, bpf, keyrings,
perf, kexec, modules, System V IPC, ...), refuses ``clone`` with a namespace flag, answers ``clone3`` with ``ENOSYS``
so libc falls back to the filtered ``clone``, and — where programs share the zygote's uid — lets the calls that act
on another process by pid act on the caller only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import platform
import struct
from collections.abc import Iterable

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
_SYS_RT_SIGACTION = {"x86_64": 13, "aarch64": 134}.get(platform.machine())
#: the C library's own signals (SIGCANCEL, SIGSETXID): its ``sigaction`` (so Python's ``signal``) refuses them
LIBC_SIGNALS = (32, 33)


def default_libc_signals() -> None:
    """Put the C library's two internal signals back to SIG_DFL with the raw system call. A parent started through
    ``posix_spawn`` (Rust's ``Command``, which ``just`` uses to start pytest or builder) has them ignored, ``execve``
    keeps ignored signals, and nothing in Python can reset them: without this, every program would inherit them
    ignored. (An all-zero kernel sigaction is SIG_DFL, no flags, an empty mask, whatever the architecture's layout.)"""
    if _SYS_RT_SIGACTION is None:
        return
    zero = (ctypes.c_ulong * 8)()
    for sig in LIBC_SIGNALS:
        _libc.syscall(ctypes.c_long(_SYS_RT_SIGACTION), ctypes.c_int(sig), ctypes.byref(zero), None, ctypes.c_size_t(8))


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
    """Bind ``source`` on ``target`` (recursively), then remount it read-only / nosuid with its locked flags kept; where
    the kernel has ``mount_setattr`` (5.12+), mounts below ``source`` (a /usr/local of its own...) become read-only
    too (a bind remount changes the top mount only)."""
    mount(source, target, None, MS_BIND | MS_REC)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | extra | mount_flags_of(source)
    if readonly:
        flags |= MS_RDONLY
    mount(None, target, None, flags)
    if readonly:
        attr = _MountAttr(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0, 0, 0)
        _libc.syscall(_SYS_MOUNT_SETATTR, AT_FDCWD, _b(target), AT_RECURSIVE, ctypes.byref(attr), ctypes.sizeof(attr))


_SYS_MOUNT_SETATTR = 442  # every architecture
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 1, 2, 4


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64), ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


# --- seccomp ----------------------------------------------------------------------------------------------------------
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
X32_SYSCALL_BIT = 0x40000000

#: syscalls a test program is refused, as (x86_64, aarch64) numbers (None: the architecture has no such call):
#: network, debugging other processes, mounts, namespaces, kernel keyrings, bpf, perf, kexec and modules, clocks,
#: swap, io_uring, handle-based opens, userfaultfd, System V IPC and POSIX message queues (objects that would outlive
#: the test), modify_ldt, ... (numbers checked against libseccomp's tables by tests/test_sandbox_seccomp.py)
DENIED_SYSCALLS: dict[str, tuple[int, int | None]] = {
    "socket": (41, 198),
    "connect": (42, 203),
    "accept": (43, 202),
    "bind": (49, 200),
    "listen": (50, 201),
    "accept4": (288, 242),
    "ptrace": (101, 117),
    "syslog": (103, 116),
    "uselib": (134, None),
    "ustat": (136, None),
    "sysfs": (139, None),
    "vhangup": (153, 58),
    "pivot_root": (155, 41),
    "_sysctl": (156, None),
    "adjtimex": (159, 171),
    "chroot": (161, 51),
    "acct": (163, 89),
    "settimeofday": (164, 170),
    "mount": (165, 40),
    "umount2": (166, 39),
    "swapon": (167, 224),
    "swapoff": (168, 225),
    "reboot": (169, 142),
    "sethostname": (170, 161),
    "setdomainname": (171, 162),
    "iopl": (172, None),
    "ioperm": (173, None),
    "create_module": (174, None),
    "init_module": (175, 105),
    "delete_module": (176, 106),
    "get_kernel_syms": (177, None),
    "query_module": (178, None),
    "quotactl": (179, 60),
    "nfsservctl": (180, 42),
    "lookup_dcookie": (212, 18),
    "clock_settime": (227, 112),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "keyctl": (250, 219),
    "migrate_pages": (256, 238),
    "unshare": (272, 97),
    "move_pages": (279, 239),
    "perf_event_open": (298, 241),
    "fanotify_init": (300, 262),
    "name_to_handle_at": (303, 264),
    "open_by_handle_at": (304, 265),
    "clock_adjtime": (305, 266),
    "setns": (308, 268),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "kcmp": (312, 272),
    "finit_module": (313, 273),
    "kexec_file_load": (320, 294),
    "kexec_load": (246, 104),
    "bpf": (321, 280),
    "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "open_tree": (428, 428),
    "move_mount": (429, 429),
    "fsopen": (430, 430),
    "fsconfig": (431, 431),
    "fsmount": (432, 432),
    "fspick": (433, 433),
    "pidfd_getfd": (438, 438),
    "process_madvise": (440, 440),
    "mount_setattr": (442, 442),
    "quotactl_fd": (443, 443),
    "memfd_secret": (447, 447),
    # a process's own descriptor table for segments: nothing a test program needs
    "modify_ldt": (154, None),
    # System V IPC and POSIX message queues: kernel objects that outlive a process (a test must leave nothing)
    "shmget": (29, 194),
    "shmat": (30, 196),
    "shmctl": (31, 195),
    "semget": (64, 190),
    "semop": (65, 193),
    "semctl": (66, 191),
    "shmdt": (67, 197),
    "msgget": (68, 186),
    "msgsnd": (69, 189),
    "msgrcv": (70, 188),
    "msgctl": (71, 187),
    "semtimedop": (220, 192),
    "mq_open": (240, 180),
    "mq_unlink": (241, 181),
    "mq_timedsend": (242, 182),
    "mq_timedreceive": (243, 183),
    "mq_notify": (244, 184),
    "mq_getsetattr": (245, 185),
}
#: the x86_64 numbers alone (kept for readers of the old name)
DENIED_SYSCALLS_X86_64: dict[str, int] = {name: nrs[0] for name, nrs in DENIED_SYSCALLS.items()}

#: syscalls that act on another process named by a pid (or a user): where a program shares the zygote's uid (a
#: one-uid user namespace), the kernel would let it lower the zygote's rlimits, pin its CPUs or renice it; the filter
#: then allows them only on the caller itself (pid 0). (name, x86_64, aarch64, arguments that must be 0)
SELF_ONLY_SYSCALLS: tuple[tuple[str, int, int, tuple[int, ...]], ...] = (
    ("prlimit64", 302, 261, (0,)),
    ("sched_setaffinity", 203, 122, (0,)),
    ("sched_setparam", 142, 118, (0,)),
    ("sched_setscheduler", 144, 119, (0,)),
    ("sched_setattr", 314, 274, (0,)),
    ("setpriority", 141, 140, (0, 1)),  # PRIO_PROCESS (0) of the caller (0) only: os.nice() still works
    ("ioprio_set", 251, 30, (0,)),  # `which` is never 0 (IOPRIO_WHO_PROCESS is 1): always refused
)
SYS_CLONE = {"x86_64": 56, "aarch64": 220}
SYS_CLONE3 = 435

_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_JSET_K = 0x45
_BPF_RET_K = 0x06


class _Asm:
    """A tiny classic-BPF assembler: conditional jumps name labels, resolved (forward only) at the end."""

    def __init__(self) -> None:
        self.code: list[tuple[int, object, object, int]] = []
        self.labels: dict[str, int] = {}

    def op(self, code: int, k: int, jt: object = 0, jf: object = 0) -> None:
        self.code.append((code, jt, jf, k))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def assemble(self) -> bytes:
        out = []
        for pc, (code, jt, jf, k) in enumerate(self.code):
            offsets = []
            for target in (jt, jf):
                if isinstance(target, str):
                    delta = self.labels[target] - pc - 1
                    if not 0 <= delta <= 255:
                        raise ValueError(f"seccomp: jump to {target} out of range ({delta})")
                    offsets.append(delta)
                else:
                    offsets.append(int(target))  # type: ignore[call-overload]
            out.append(struct.pack("=HBBI", code, offsets[0], offsets[1], k))
        return b"".join(out)


def build_seccomp_filter(machine: str | None = None, *, self_only: bool = False) -> bytes | None:
    """The BPF program (``struct sock_filter[]`` bytes) for ``machine`` (default: this one), or None where it has no
    table. Any other ABI (x32, i386 ``int 0x80`` on x86_64; arm32 on aarch64) kills the process; the denied calls
    return EPERM; ``clone`` with any namespace flag EPERM; ``clone3`` ENOSYS (libc falls back to the filtered
    ``clone``). ``self_only`` adds :data:`SELF_ONLY_SYSCALLS` (programs that share the zygote's uid)."""
    machine = machine or platform.machine()
    if machine not in AUDIT_ARCH:
        return None
    column = 0 if machine == "x86_64" else 1
    denied = sorted({nrs[column] for nrs in DENIED_SYSCALLS.values() if nrs[column] is not None})
    a = _Asm()
    a.op(_BPF_LD_W_ABS, 4)  # seccomp_data.arch
    a.op(_BPF_JEQ_K, AUDIT_ARCH[machine], 0, "kill")
    a.op(_BPF_LD_W_ABS, 0)  # seccomp_data.nr
    if machine == "x86_64":
        a.op(_BPF_JGE_K, X32_SYSCALL_BIT, "kill", 0)
    for nr in denied:
        a.op(_BPF_JEQ_K, nr, "eperm", 0)
    a.op(_BPF_JEQ_K, SYS_CLONE3, "enosys", 0)
    if self_only:
        for i, (_name, x86, arm, zero_args) in enumerate(SELF_ONLY_SYSCALLS):
            a.op(_BPF_JEQ_K, x86 if column == 0 else arm, 0, f"next{i}")
            for arg in zero_args:  # the low 32 bits of each argument (a pid_t / int): non-zero is another process
                a.op(_BPF_LD_W_ABS, 16 + 8 * arg)
                a.op(_BPF_JEQ_K, 0, 0, "eperm")
            a.op(_BPF_RET_K, SECCOMP_RET_ALLOW)
            a.label(f"next{i}")
    a.op(_BPF_JEQ_K, SYS_CLONE[machine], 0, "allow")
    a.op(_BPF_LD_W_ABS, 16)  # clone's flags: args[0], low 32 bits (little-endian)
    a.op(_BPF_JSET_K, NAMESPACE_FLAGS, "eperm", "allow")
    a.label("allow")
    a.op(_BPF_RET_K, SECCOMP_RET_ALLOW)
    a.label("eperm")
    a.op(_BPF_RET_K, SECCOMP_RET_ERRNO | errno.EPERM)
    a.label("enosys")
    a.op(_BPF_RET_K, SECCOMP_RET_ERRNO | errno.ENOSYS)
    a.label("kill")
    a.op(_BPF_RET_K, SECCOMP_RET_KILL_PROCESS)
    return a.assemble()


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class SeccompFilter:
    """A prepared filter: building it allocates; installing it in a forked child only calls prctl."""

    def __init__(self, program: bytes) -> None:
        self.program = program
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


# --- capabilities ------------------------------------------------------------------------------------------------------
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAP_VERSION_3 = 0x20080522
CAP_SETGID = 6
CAP_SETUID = 7
CAP_SETPCAP = 8
CAP_SYS_ADMIN = 21
CAP_SYS_RESOURCE = 24


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def effective_capabilities() -> int:
    """This process's effective capability set as a bit mask (capget: no /proc needed)."""
    header, data = _CapHeader(_CAP_VERSION_3, 0), (_CapData * 2)()
    _check(_libc.capget(ctypes.byref(header), data), "capget")
    return data[0].effective | (data[1].effective << 32)


def drop_bounding_set() -> int:
    """Empty the capability bounding set (needs CAP_SETPCAP): no exec can ever give this process or its children a
    capability back, whatever uid they run as. Returns how many capabilities were dropped."""
    dropped = 0
    for cap in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            if err == errno.EINVAL:  # past the last capability this kernel knows
                break
            raise OSError(err, f"PR_CAPBSET_DROP {cap}: {os.strerror(err)}")
        dropped += 1
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    return dropped


def keep_inheritable(caps: Iterable[int]) -> int:
    """Put ``caps`` (those of them this process has) in its inheritable set, the only way a program it executes as
    uid 0 gets them once the bounding set is empty; returns the mask set."""
    header, data = _CapHeader(_CAP_VERSION_3, 0), (_CapData * 2)()
    _check(_libc.capget(ctypes.byref(header), data), "capget")
    wanted = 0
    for cap in caps:
        wanted |= 1 << cap
    permitted = data[0].permitted | (data[1].permitted << 32)
    wanted &= permitted
    data[0].inheritable, data[1].inheritable = wanted & 0xFFFFFFFF, wanted >> 32
    _check(_libc.capset(ctypes.byref(header), data), "capset")
    return wanted


def clear_capabilities() -> None:
    """capset(0, 0, 0): no effective, permitted or inheritable capability left (in any user namespace)."""
    header, data = _CapHeader(_CAP_VERSION_3, 0), (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")


# --- Landlock (kernel >= 5.13; ABI 4 adds TCP, ABI 6 scopes signals and abstract sockets) ----------------------------
_SYS_LANDLOCK_CREATE_RULESET, _SYS_LANDLOCK_ADD_RULE, _SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446  # every architecture
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
_FS = {name: 1 << i for i, name in enumerate(
    "EXECUTE WRITE_FILE READ_FILE READ_DIR REMOVE_DIR REMOVE_FILE MAKE_CHAR MAKE_DIR MAKE_REG MAKE_SOCK MAKE_FIFO "
    "MAKE_BLOCK MAKE_SYM REFER TRUNCATE IOCTL_DEV".split())}
#: the filesystem rights each ABI version knows (all of them are "handled": refused unless a rule grants them)
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
_FILE_RIGHTS = _FS["EXECUTE"] | _FS["WRITE_FILE"] | _FS["READ_FILE"] | _FS["TRUNCATE"] | _FS["IOCTL_DEV"]
LANDLOCK_NET_BIND_TCP, LANDLOCK_NET_CONNECT_TCP = 1, 2
LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET, LANDLOCK_SCOPE_SIGNAL = 1, 2


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi() -> int:
    """The Landlock ABI version of this kernel, 0 where it has none (or it is disabled, or a filter refuses it)."""
    version = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    return max(0, int(version))


class LandlockRuleset:
    """A Landlock ruleset built once (in the zygote); each test process only calls :meth:`restrict`.

    ``read_exec``: folders (or files) readable and executable beneath; ``read_write``: folders where everything but
    device nodes is allowed; ``devices``: files readable and writable (``/dev/null``...). Everything else of the
    filesystem is refused, whatever the uid's permissions; TCP bind/connect are refused (ABI >= 4), and signals and
    abstract unix sockets stay within the test's own processes (ABI >= 6).
    """

    def __init__(self, read_exec: list[str], read_write: list[str], devices: list[str]) -> None:
        self.abi = landlock_abi()
        if self.abi < 1:
            raise OSError(errno.ENOSYS, "Landlock is not available in this kernel")
        handled = _FS_BY_ABI.get(self.abi, _FS_BY_ABI[5])
        attr = _RulesetAttr(handled, (LANDLOCK_NET_BIND_TCP | LANDLOCK_NET_CONNECT_TCP) if self.abi >= 4 else 0,
                            (LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL) if self.abi >= 6 else 0)
        size = 24 if self.abi >= 6 else 16 if self.abi >= 4 else 8
        fd = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"landlock_create_ruleset: {os.strerror(err)}")
        self.fd = int(fd)
        os.set_inheritable(self.fd, False)
        ro = _FS["EXECUTE"] | _FS["READ_FILE"] | _FS["READ_DIR"]
        rw = handled & ~(_FS["MAKE_CHAR"] | _FS["MAKE_BLOCK"] | _FS["IOCTL_DEV"])
        dev = _FS["READ_FILE"] | _FS["WRITE_FILE"] | (_FS["TRUNCATE"] if self.abi >= 3 else 0)
        try:
            for paths, access in ((read_exec, ro), (read_write, rw), (devices, dev)):
                for path in paths:
                    self._allow(path, access & handled)
        except OSError:
            os.close(self.fd)
            raise

    def _allow(self, path: str, access: int) -> None:
        try:
            pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            if not os.path.isdir(path):
                access &= _FILE_RIGHTS
            rule = _PathBeneath(access, pfd)
            if _libc.syscall(_SYS_LANDLOCK_ADD_RULE, self.fd, LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"landlock_add_rule {path}: {os.strerror(err)}")
        finally:
            os.close(pfd)

    def restrict(self) -> None:
        """Confine the calling process (and everything it starts) to the ruleset; needs no_new_privs first."""
        if _libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, self.fd, 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"landlock_restrict_self: {os.strerror(err)}")
