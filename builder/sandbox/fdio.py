"""In-memory files for a program's stdin, stdout, stderr and side channel, and reading them back."""

from __future__ import annotations

import os


def memfd(name: str, data: bytes = b"") -> int:
    """An anonymous in-memory file holding ``data``, offset at 0 (close-on-exec: children get it through dup2)."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


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
