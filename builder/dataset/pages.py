"""Give back the pages of memory-mapped Arrow files that a pass over a table has read.

``datasets`` reads every table from its Arrow file through a read-only memory map. A page read once stays mapped,
and so counts in the process's resident set, until the table is dropped: every pass of the dataset stage over the
candidates (the sft rows, the dpo pairs, the kto rows, the candidates config, each parquet shard written) would leave
the whole candidates file resident by the end, and the peak memory of writing ``dist/`` would grow with the build.

:func:`release` tells the kernel the process no longer needs the pages of every read-only mapping of an ``.arrow``
file (``madvise(MADV_DONTNEED)``). Nothing is lost: the pages are clean copies of the file, still in the page cache,
and a later read maps them again. The stage calls it after each batch it builds (:func:`releasing`) and while a
parquet shard is written (:class:`ReleasingFile`), so that about one batch of rows is resident at a time. Only
mappings without write permission are touched (a written private page would be lost; Arrow maps its files
read-only); where there is no ``/proc/self/maps`` or no ``madvise`` it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import io
from collections.abc import Callable
from typing import Any, TypeVar

MADV_DONTNEED = 4
MAPS = "/proc/self/maps"
#: bytes written to a parquet shard between two releases
WRITE_STRIDE = 8 << 20

_libc: Any = None


def _madvise() -> Any:
    global _libc
    if _libc is None:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            lib.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            lib.madvise.restype = ctypes.c_int
            _libc = lib
        except (OSError, AttributeError):
            _libc = False
    return _libc.madvise if _libc else None


def arrow_mappings(maps: str = MAPS) -> list[tuple[int, int]]:
    """(start, end) of every mapping of an ``.arrow`` file that is not writable."""
    found = []
    try:
        with open(maps, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.split(None, 5)
                if len(parts) < 6 or "w" in parts[1] or not parts[5].rstrip("\n").endswith(".arrow"):
                    continue
                start, _, end = parts[0].partition("-")
                found.append((int(start, 16), int(end, 16)))
    except OSError:
        return []
    return found


def release() -> int:
    """Drop this process's resident pages of read-only Arrow file mappings; the bytes of the mappings advised."""
    madvise = _madvise()
    if madvise is None:
        return 0
    advised = 0
    for start, end in arrow_mappings():
        if madvise(start, end - start, MADV_DONTNEED) == 0:
            advised += end - start
    return advised


F = TypeVar("F", bound=Callable[..., Any])


def releasing(fn: F) -> F:
    """``fn`` (a batched map's function) that releases the Arrow pages after each batch it builds."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        out = fn(*args, **kwargs)
        release()
        return out

    return wrapped  # type: ignore[return-value]


class ReleasingFile(io.FileIO):
    """A file opened for writing that releases the Arrow pages every :data:`WRITE_STRIDE` bytes written (the sink of a
    parquet writer: the rows of a written row group are no longer needed)."""

    def __init__(self, path: str, stride: int = WRITE_STRIDE) -> None:
        super().__init__(path, "wb")
        self._stride = stride
        self._since = 0

    def write(self, data: Any) -> int:  # type: ignore[override]
        written = super().write(data)
        self._since += written or 0
        if self._since >= self._stride:
            self._since = 0
            release()
        return written or 0
