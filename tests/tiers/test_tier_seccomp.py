"""The seccomp program, instruction by instruction, for both architectures it supports (x86_64, aarch64).

A small classic-BPF interpreter runs the bytes ``build_seccomp_filter`` makes against ``seccomp_data`` records, so the
aarch64 program is checked here too, on x86_64; the syscall numbers of both tables are checked against libseccomp's
own tables where the library is installed (it is on this machine's image: libseccomp2). Whether the kernel applies
the filter is tests/test_sandbox_adversarial.py's business (raw_syscalls_refused, ...).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import struct

import pytest

from builder.sandbox import isolation as iso

ALLOW, EPERM, ENOSYS, KILL = iso.SECCOMP_RET_ALLOW, iso.SECCOMP_RET_ERRNO | errno.EPERM, iso.SECCOMP_RET_ERRNO | errno.ENOSYS, iso.SECCOMP_RET_KILL_PROCESS
#: harmless calls every program makes: read, write, openat, mmap, exit_group, getpid
HARMLESS = {"x86_64": (0, 1, 257, 9, 231, 39), "aarch64": (63, 64, 56, 222, 94, 172)}
#: thread creation as glibc does it (CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|...)
THREAD_FLAGS = 0x3D0F00


def run_bpf(program: bytes, arch: int, nr: int, args: tuple[int, ...] = ()) -> int:
    """Classic BPF as the kernel runs a seccomp filter (the instructions build_seccomp_filter uses)."""
    data = struct.pack("=iI Q6Q", nr, arch, 0, *(list(args) + [0] * (6 - len(args))))
    insns = [struct.unpack("=HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == 0x20:  # ld [k]
            acc = struct.unpack_from("=I", data, k)[0]
            pc += 1
        elif code in (0x15, 0x35, 0x45):  # jeq, jge, jset (k)
            taken = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += 1 + (jt if taken else jf)
        elif code == 0x06:  # ret k
            return k
        else:
            raise AssertionError(f"unexpected BPF instruction {code:#x}")


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_the_filter_refuses_the_deny_list_and_allows_the_rest(machine: str) -> None:
    program = iso.build_seccomp_filter(machine)
    assert program is not None
    arch, column = iso.AUDIT_ARCH[machine], 0 if machine == "x86_64" else 1
    for name, numbers in iso.DENIED_SYSCALLS.items():
        if numbers[column] is not None:
            assert run_bpf(program, arch, numbers[column]) == EPERM, name
    for nr in HARMLESS[machine]:
        assert run_bpf(program, arch, nr) == ALLOW, nr
    clone = iso.SYS_CLONE[machine]
    assert run_bpf(program, arch, clone, (THREAD_FLAGS,)) == ALLOW  # threads and fork still work
    for flag in (iso.CLONE_NEWUSER, iso.CLONE_NEWNS, iso.CLONE_NEWPID, iso.CLONE_NEWNET, iso.CLONE_NEWIPC, iso.CLONE_NEWUTS, iso.CLONE_NEWCGROUP):
        assert run_bpf(program, arch, clone, (THREAD_FLAGS | flag,)) == EPERM, hex(flag)
    assert run_bpf(program, arch, iso.SYS_CLONE3) == ENOSYS  # libc falls back to the filtered clone
    other = iso.AUDIT_ARCH["aarch64" if machine == "x86_64" else "x86_64"]
    assert run_bpf(program, other, 0) == KILL  # a foreign ABI: the process dies
    if machine == "x86_64":
        assert run_bpf(program, arch, iso.X32_SYSCALL_BIT | 1) == KILL  # x32 calls
        assert run_bpf(program, 0x40000003, 1) == KILL  # i386 (int 0x80)
    # the self-only rules are only in the one-uid variant
    assert run_bpf(program, arch, iso.SELF_ONLY_SYSCALLS[0][1 + column], (1,)) == ALLOW


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_where_programs_share_the_zygote_uid_they_act_on_themselves_only(machine: str) -> None:
    program = iso.build_seccomp_filter(machine, self_only=True)
    assert program is not None
    arch, column = iso.AUDIT_ARCH[machine], 1 if machine == "x86_64" else 2
    rules = {rule[0]: rule[column] for rule in iso.SELF_ONLY_SYSCALLS}
    assert run_bpf(program, arch, rules["prlimit64"], (0, 7)) == ALLOW  # resource.setrlimit: pid 0
    assert run_bpf(program, arch, rules["prlimit64"], (1, 7)) == EPERM  # the zygote (PID 1)
    assert run_bpf(program, arch, rules["prlimit64"], (1 << 32, 7)) == ALLOW  # the kernel reads a pid_t: that is 0
    assert run_bpf(program, arch, rules["sched_setaffinity"], (0,)) == ALLOW
    assert run_bpf(program, arch, rules["sched_setaffinity"], (1,)) == EPERM
    assert run_bpf(program, arch, rules["setpriority"], (0, 0, 5)) == ALLOW  # os.nice()
    assert run_bpf(program, arch, rules["setpriority"], (0, 1, 5)) == EPERM
    assert run_bpf(program, arch, rules["setpriority"], (2, 0, 5)) == EPERM  # PRIO_USER: every process of the uid
    assert run_bpf(program, arch, rules["ioprio_set"], (1, 0, 0)) == EPERM
    assert run_bpf(program, arch, iso.DENIED_SYSCALLS["ptrace"][column - 1]) == EPERM  # the deny list still there
    assert run_bpf(program, arch, HARMLESS[machine][0]) == ALLOW


def _libseccomp():  # type: ignore[no-untyped-def]
    path = ctypes.util.find_library("seccomp")
    if not path:
        pytest.skip("libseccomp is not installed here (the cross-check of the syscall tables needs it)")
    lib = ctypes.CDLL(path)
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name_arch.restype = ctypes.c_int
    return lib


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_the_syscall_numbers_agree_with_libseccomp(machine: str) -> None:
    lib = _libseccomp()
    arch, column = iso.AUDIT_ARCH[machine], 0 if machine == "x86_64" else 1
    tables = {name: nrs[column] for name, nrs in iso.DENIED_SYSCALLS.items()}
    tables.update({rule[0]: rule[1 + column] for rule in iso.SELF_ONLY_SYSCALLS})
    tables.update(clone=iso.SYS_CLONE[machine], clone3=iso.SYS_CLONE3)
    for name, ours in tables.items():
        theirs = lib.seccomp_syscall_resolve_name_arch(arch, name.encode())
        assert ours == (theirs if theirs >= 0 else None), (machine, name, ours, theirs)
