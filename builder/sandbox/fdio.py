"""In-memory files for a program's stdin, stdout, stderr and side channel, and reading them back."""

from __future__ import annotations

import fcntl
import os

_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


def memfd(name: str, data: bytes = b"") -> int:
    """An anonymous in-memory file holding ``data``, offset at 0 (close-on-exec: children get it through dup2)."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


_MFD_EXEC = 0x0010  # linux >= 6.3: an executable memfd (refused with EINVAL before: then plain flags)


def executable_memfd(name: str, data: bytes) -> int:
    """A sealed, read-only in-memory file holding ``data`` (a program), executable by descriptor (close-on-exec)."""
    return sealed_memfd(name, data, executable=True)


def sealed_memfd(name: str, data: bytes, *, executable: bool = False) -> int:
    """A sealed in-memory file holding ``data``, as a read-only descriptor (close-on-exec). Only a read-only one is
    kept: a descriptor open for writing keeps ``execve`` from running the file (ETXTBSY)."""
    flags = os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING
    try:
        fd = os.memfd_create(name, flags | (_MFD_EXEC if executable else 0))
    except OSError:
        fd = os.memfd_create(name, flags)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
        return os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(fd)


def side_channel() -> tuple[int, int]:
    """The runner's side channel: (the supervisor's read end, the program's end).

    The program's end is a second open file of the same memfd, write-only and append-only, and the file's mode is
    write-only for its owner: a program (or a process it forked) can append to it but never read what the runner
    wrote there, nor overwrite it, nor reopen it through ``/proc/self/fd`` for reading.
    """
    fd = os.memfd_create("side", os.MFD_CLOEXEC)
    writer = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    os.fchmod(fd, 0o200)
    return fd, writer


def side_socket() -> tuple[int, int]:
    """The fork-server's side channel: (the supervisor's end, non-blocking; the program's end).

    A connected socket pair: what the runner writes to its end can only ever be received at the other end, so no
    process of a test — whatever its uid or capabilities, even one that owns the file (a one-uid user namespace) —
    can read back what was written, nor reopen it through ``/proc/self/fd``. The supervisor drains its end while the
    test runs (:func:`drain`), so a flood never blocks the runner.
    """
    import socket

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ours.setblocking(False)
    theirs.shutdown(socket.SHUT_RD)  # the program's end is for writing only
    return ours.detach(), theirs.detach()


def drain(fd: int, into: bytearray, limit: int) -> bool:
    """Read what is waiting on the non-blocking ``fd`` into ``into`` (at most ``limit`` bytes kept, the rest read and
    dropped); False once the other end is closed."""
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        room = limit - len(into)
        if room > 0:
            into += chunk[:room]


def input_memfd(data: bytes) -> int:
    """A program's standard input: sealed (nobody can change it any more) and with its access time at 0, so that any
    read of it — ``read``, ``pread``, ``mmap``, ``sendfile``, or through ``/dev/stdin`` (a second open file) — is
    seen afterwards by :func:`was_read`."""
    fd = os.memfd_create("stdin", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    os.utime(fd, ns=(0, os.fstat(fd).st_mtime_ns))
    return fd


_ATIME: list[bool] = []


def atime_tells_reads() -> bool:
    """Does reading a memfd update its access time on this kernel? (checked once; else only the offset tells)"""
    if not _ATIME:
        fd = input_memfd(b"x")
        try:
            os.pread(fd, 1, 0)
            _ATIME.append(os.fstat(fd).st_atime_ns != 0)
        finally:
            os.close(fd)
    return _ATIME[0]


def was_read(fd: int) -> bool:
    """Did anyone read the input file made by :func:`input_memfd`? Its access time tells (any read: ``read``,
    ``pread``, ``mmap``, ``sendfile``, a second open file through ``/dev/stdin``; a mere ``lseek`` or ``fstat`` is no
    read); where the kernel does not keep it, whether the offset moved."""
    if atime_tells_reads():
        return os.fstat(fd).st_atime_ns != 0
    return os.lseek(fd, 0, os.SEEK_CUR) > 0


def read_fd(fd: int, limit: int) -> bytes:
    """Up to ``limit`` bytes of a file from its start (pread: the file offset is left alone)."""
    size = min(os.fstat(fd).st_size, limit)
    chunks, offset = [], 0
    while offset < size:
        chunk = os.pread(fd, min(1 << 20, size - offset), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def tail_fd(fd: int, size: int) -> bytes:
    """The last ``size`` bytes of a file."""
    end = os.fstat(fd).st_size
    return os.pread(fd, size, max(0, end - size))
