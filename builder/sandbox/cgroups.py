"""Per-test control groups for the fork-server: memory, pids and CPU accounting, on cgroup v1 or v2.

The zygote creates one group per controller below its own cgroup (so the sandbox stays inside whatever budget the
caller's service manager gave it), keeps directory file descriptors to them (they keep working after ``pivot_root``
hides ``/sys``) and moves itself in; every test is forked inside it. Per test the limits are set and the counters
reset or snapshotted; measurements are differences.

v1 (hybrid hierarchy, as on this project's build machine): ``memory`` (limit_in_bytes, memsw, max_usage_in_bytes,
oom_control's ``oom_kill``), ``pids`` (pids.max), ``cpuacct`` (cpuacct.usage, nanoseconds).
v2: one directory with memory.max, memory.swap.max, memory.peak, memory.events' ``oom_kill``, pids.max, cpu.stat's
``usage_usec``, and ``cgroup.kill``.
Imports only the standard library (the zygote imports it).
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass

CGROUP_ROOT = "/sys/fs/cgroup"
V1_CONTROLLERS = ("memory", "pids", "cpuacct")


def _own_paths() -> dict[str, str]:
    """controller (or "" for the v2 unified hierarchy) -> this process's cgroup path."""
    paths: dict[str, str] = {}
    with open("/proc/self/cgroup", encoding="ascii") as fh:
        for line in fh:
            parts = line.rstrip("\n").split(":", 2)
            if len(parts) != 3:
                continue
            _, controllers, path = parts
            if controllers == "":
                paths[""] = path
            for controller in controllers.split(","):
                if controller:
                    paths[controller] = path
    return paths


def _mounts() -> dict[str, str]:
    """v1 controller name or "cgroup2" -> its mount point."""
    found: dict[str, str] = {}
    with open("/proc/self/mounts", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            fields = line.split()
            if len(fields) < 4:
                continue
            target, fstype, options = fields[1], fields[2], fields[3].split(",")
            if fstype == "cgroup2":
                found.setdefault("cgroup2", target)
            elif fstype == "cgroup":
                for controller in V1_CONTROLLERS:
                    if controller in options:
                        found.setdefault(controller, target)
    return found


def _write(dir_fd: int, name: str, value: str) -> None:
    fd = os.open(name, os.O_WRONLY, dir_fd=dir_fd)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read(dir_fd: int, name: str) -> str:
    fd = os.open(name, os.O_RDONLY, dir_fd=dir_fd)
    try:
        return os.read(fd, 65536).decode("ascii", errors="replace")
    finally:
        os.close(fd)


def _keyed(text: str, key: str) -> int:
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == key:
            return int(fields[1])
    return 0


@dataclass
class Usage:
    cpu_s: float
    peak_bytes: int
    oom_kills: int
    pids_limited: bool


@dataclass
class Snapshot:
    """Counters at the start of a test (the group is reused: measurements are differences)."""

    usage_bytes: int
    oom_kills: int
    pids_max_events: int
    cpu_s: float


class CgroupManager:
    """One group per zygote with a ``test`` leaf for the memory controller; every test joins the leaf.

    The zygote lives in its group and forks each test there; the test's first act (still privileged, before the
    program exists) is to move itself into the ``test`` leaf of the memory controller (v1: the memory hierarchy
    only; v2: the unified leaf, with the zygote in a ``zygote`` leaf beside it, as v2 allows no process in an inner
    group). The memory limit is the leaf's, so a memory kill can only ever hit the test's own processes, never the
    zygote, whatever ``oom_score_adj`` allows (lowering it needs CAP_SYS_RESOURCE, which containers usually lack), and
    the limit is exactly the test's. Moving one process costs ~0.1 ms here (v1). Per test the limits are set and
    the counters reset or snapshotted; measurements are differences.
    """

    def __init__(self, version: str, parents: dict[str, str], leaf: str, zygote_leaf: str | None = None) -> None:
        self.version = version
        #: controller ("memory", "pids", "cpuacct"; "unified" for v2) -> group directory path
        self.parents = parents
        self.leaf = leaf
        self.dir_fds = {key: os.open(path, os.O_RDONLY | os.O_DIRECTORY) for key, path in parents.items()}
        self.leaf_fd = os.open(leaf, os.O_RDONLY | os.O_DIRECTORY)
        #: the test process writes "0" here to move itself into the leaf (kept open: it works after pivot_root)
        self.leaf_procs_fd = os.open("cgroup.procs", os.O_WRONLY | os.O_CLOEXEC, dir_fd=self.leaf_fd)
        self.zygote_leaf = zygote_leaf
        #: the groups we came from (to move back out and remove ours when we exit, even after pivot_root)
        self.origin_fds = {key: os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY) for key, path in parents.items()}
        self.has_memsw = version == "v1" and os.path.exists(os.path.join(leaf, "memory.memsw.limit_in_bytes"))
        self.peak_fd: int | None = None
        if version == "v2" and os.path.exists(os.path.join(leaf, "memory.peak")):
            self.peak_fd = os.open("memory.peak", os.O_RDWR | os.O_CLOEXEC, dir_fd=self.leaf_fd)
            try:
                _write(self.leaf_fd, "memory.oom.group", "1")  # an OOM kill takes the whole test
            except OSError:
                pass
        self._memsw_limit = 1 << 62  # a fresh group is unlimited
        #: "lowered" when the zygote's oom_score_adj could be set to -1000, else why not (then only the leaf protects it)
        self.oom_score_adj = "not tried"

    @property
    def controllers(self) -> list[str]:
        return ["memory", "pids", "cpuacct" if self.version == "v1" else "cpu"]

    # -- creation ----------------------------------------------------------------------------------------------
    @classmethod
    def create(cls, tag: str, *, prefer: str | None = None) -> "CgroupManager":
        """Make this process's group (below its own cgroup); raises OSError where no hierarchy is writable."""
        mounts, own = _mounts(), _own_paths()
        errors: list[str] = []
        order = ["v1", "v2"] if prefer != "v2" else ["v2", "v1"]
        for version in order:
            try:
                if version == "v1" and all(c in mounts and c in own for c in V1_CONTROLLERS):
                    parents: dict[str, str] = {}
                    try:
                        for controller in V1_CONTROLLERS:
                            path = os.path.join(mounts[controller], own[controller].lstrip("/"), tag)
                            os.mkdir(path, 0o755)
                            parents[controller] = path
                        leaf = os.path.join(parents["memory"], "test")
                        os.mkdir(leaf, 0o755)
                    except OSError:
                        for path in parents.values():
                            _rmdir_tree(path)
                        raise
                    return cls("v1", parents, leaf)
                if version == "v2" and "cgroup2" in mounts and "" in own:
                    parent = _make_v2_parent(mounts["cgroup2"], own[""], tag)
                    try:
                        for name in ("zygote", "test"):
                            os.mkdir(os.path.join(parent, name), 0o755)
                        return cls("v2", {"unified": parent}, os.path.join(parent, "test"), os.path.join(parent, "zygote"))
                    except OSError:
                        _rmdir_tree(parent)
                        raise
            except OSError as exc:
                errors.append(f"{version}: {exc}")
        raise OSError(errno.ENOTSUP, "; ".join(errors) or "no cgroup v1 memory/pids/cpuacct nor a cgroup2 mount")

    def join(self) -> None:
        """Move the calling process (the zygote) into its group, once at start; the test leaf stays empty."""
        if self.version == "v1":
            for fd in self.dir_fds.values():
                _write(fd, "cgroup.procs", "0")
        else:
            with open(os.path.join(self.zygote_leaf or "", "cgroup.procs"), "w", encoding="ascii") as fh:
                fh.write("0")
        try:
            with open("/proc/self/oom_score_adj", "w", encoding="ascii") as fh:
                fh.write("-1000")
            self.oom_score_adj = "lowered"
        except OSError as exc:
            self.oom_score_adj = f"cannot be lowered ({exc.strerror}): the test's own memory group protects the zygote"

    def join_test(self) -> None:
        """In the forked test process, before the program exists: move into the test leaf."""
        os.write(self.leaf_procs_fd, b"0")

    def leave(self) -> None:
        """Move the calling process back to the groups it came from."""
        for fd in self.origin_fds.values():
            try:
                _write(fd, "cgroup.procs", "0")
            except OSError:
                pass

    # -- per test ----------------------------------------------------------------------------------------------
    def prepare(self, memory_bytes: int, max_pids: int) -> Snapshot:
        """Set the test's limits and snapshot the counters; ``max_pids`` counts the test's processes."""
        leaf = self.leaf_fd
        if self.version == "v1":
            _write(leaf, "memory.max_usage_in_bytes", "0")
            if self.has_memsw:
                _write(leaf, "memory.memsw.max_usage_in_bytes", "0")
            usage = self._unreclaimable(leaf, "memory.usage_in_bytes")
            self._set_v1_limit(memory_bytes + usage)
            _write(self.dir_fds["pids"], "pids.max", str(max_pids + 1))  # the zygote is in the pids group too
            _write(self.dir_fds["cpuacct"], "cpuacct.usage", "0")
            return Snapshot(usage, _keyed(_read(leaf, "memory.oom_control"), "oom_kill"), self._pids_events(), 0.0)
        usage = self._unreclaimable(leaf, "memory.current")
        _write(leaf, "memory.max", str(memory_bytes + usage))
        try:
            _write(leaf, "memory.swap.max", "0")
        except OSError:
            pass
        if self.peak_fd is not None:
            try:
                os.pwrite(self.peak_fd, b"reset", 0)  # resets the peak for reads through this fd (Linux 6.12+)
            except OSError:
                pass
        _write(leaf, "pids.max", str(max_pids))
        return Snapshot(usage, _keyed(_read(leaf, "memory.events"), "oom_kill"), self._pids_events(), self.cpu_s())

    def _unreclaimable(self, fd: int, usage_file: str) -> int:
        """What the (empty) leaf still has charged that cannot be reclaimed (a few KB of kernel memory)."""
        stat = _read(fd, "memory.stat")
        usage = int(_read(fd, usage_file).strip() or 0)
        reclaimable = _keyed(stat, "active_file") + _keyed(stat, "inactive_file")
        return max(0, usage - reclaimable)

    def _set_v1_limit(self, limit: int) -> None:
        leaf = self.leaf_fd
        if not self.has_memsw:
            _write(leaf, "memory.limit_in_bytes", str(limit))
            return
        # memsw >= limit at every moment: raise memsw first, or lower the limit first
        if limit > self._memsw_limit:
            _write(leaf, "memory.memsw.limit_in_bytes", str(limit))
            _write(leaf, "memory.limit_in_bytes", str(limit))
        else:
            _write(leaf, "memory.limit_in_bytes", str(limit))
            _write(leaf, "memory.memsw.limit_in_bytes", str(limit))
        self._memsw_limit = limit

    def _pids_events(self) -> int:
        fd = self.dir_fds["pids"] if self.version == "v1" else self.leaf_fd
        try:
            return _keyed(_read(fd, "pids.events"), "max")
        except OSError:
            return 0

    def cpu_s(self) -> float:
        if self.version == "v1":
            return int(_read(self.dir_fds["cpuacct"], "cpuacct.usage").strip() or 0) / 1e9
        return _keyed(_read(self.leaf_fd, "cpu.stat"), "usage_usec") / 1e6

    def measure(self, snap: Snapshot) -> Usage:
        leaf = self.leaf_fd
        if self.version == "v1":
            peak = int(_read(leaf, "memory.max_usage_in_bytes").strip() or 0)
            oom = _keyed(_read(leaf, "memory.oom_control"), "oom_kill")
        else:
            peak = int(os.pread(self.peak_fd, 64, 0).strip() or 0) if self.peak_fd is not None else 0
            oom = _keyed(_read(leaf, "memory.events"), "oom_kill")
        return Usage(
            cpu_s=max(0.0, self.cpu_s() - snap.cpu_s),
            peak_bytes=max(0, peak - snap.usage_bytes),
            oom_kills=oom - snap.oom_kills,
            pids_limited=self._pids_events() > snap.pids_max_events,
        )

    def pids(self) -> list[int]:
        found: set[int] = set()
        for fd in (*self.dir_fds.values(), self.leaf_fd):
            try:
                found.update(int(x) for x in _read(fd, "cgroup.procs").split())
            except OSError:
                pass
        return sorted(found)

    def kill_others(self) -> int:
        """SIGKILL every process of the group but the caller (a backstop: the PID namespace normally did it)."""
        if self.version == "v2":
            try:
                _write(self.leaf_fd, "cgroup.kill", "1")
            except OSError:
                pass
        me, killed = os.getpid(), 0
        for _round in range(50):
            pids = [p for p in self.pids() if p != me]
            if not pids:
                return killed
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
            time.sleep(0.001)
        return killed

    def close(self) -> None:
        """Move the caller back to the groups it came from and remove ours (works after pivot_root: fds only)."""
        for fd in (self.leaf_procs_fd, self.leaf_fd, self.peak_fd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        for key, origin in self.origin_fds.items():
            try:
                _write(origin, "cgroup.procs", "0")
            except OSError:
                pass
            try:
                os.close(self.dir_fds[key])
            except (OSError, KeyError):
                pass
            name = os.path.basename(self.parents[key])
            for _attempt in range(20):
                try:
                    for child in ("test", "zygote"):
                        try:
                            os.rmdir(f"{name}/{child}", dir_fd=origin)
                        except FileNotFoundError:
                            pass
                    os.rmdir(name, dir_fd=origin)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.005)
            os.close(origin)
        self.dir_fds, self.origin_fds = {}, {}


def sweep_stale(prefix: str = "builder-sbx-") -> int:
    """Remove empty groups left by sandboxes whose supervisor died (named ``{prefix}{pid}-...``); returns how many."""
    removed = 0
    mounts, own = _mounts(), _own_paths()
    bases = set()
    for controller in V1_CONTROLLERS:
        if controller in mounts and controller in own:
            bases.add(os.path.join(mounts[controller], own[controller].lstrip("/")))
    if "cgroup2" in mounts and "" in own:
        bases.update({os.path.join(mounts["cgroup2"], own[""].lstrip("/")), mounts["cgroup2"]})
    for base in bases:
        try:
            entries = [e for e in os.scandir(base) if e.name.startswith(prefix) and e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        for entry in entries:
            if not _owner_dead(entry.name, prefix):
                continue
            if _tree_has_processes(entry.path):
                continue
            _rmdir_tree(entry.path)
            removed += not os.path.exists(entry.path)
    return removed


def _owner_dead(name: str, prefix: str) -> bool:
    pid_text = name[len(prefix) :].split("-", 1)[0]
    if not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _tree_has_processes(path: str) -> bool:
    for root, _dirs, _files in os.walk(path):
        try:
            with open(os.path.join(root, "cgroup.procs"), encoding="ascii") as fh:
                if fh.read().strip():
                    return True
        except OSError:
            return True
    return False


def _rmdir_quiet(path: str) -> None:
    try:
        os.rmdir(path)
    except OSError:
        pass


def _rmdir_tree(path: str) -> None:
    """Remove a cgroup directory and its (empty) child groups."""
    try:
        children = [e.path for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return
    for child in children:
        _rmdir_tree(child)
    _rmdir_quiet(path)


def remove_parents(parents: dict[str, str]) -> None:
    """Remove a zygote's parent groups from the supervisor side (after the zygote is gone)."""
    for path in parents.values():
        _rmdir_tree(path)


def _make_v2_parent(mount: str, own: str, tag: str) -> str:
    """A v2 parent with memory and pids enabled for its children; below our own group when delegation allows."""
    candidates = [os.path.join(mount, own.lstrip("/"))]
    if own not in ("", "/"):
        candidates.append(mount)  # the root group is exempt from the no-internal-processes rule
    last: OSError | None = None
    for base in candidates:
        available = open(os.path.join(base, "cgroup.controllers"), encoding="ascii").read().split()
        if not {"memory", "pids"} <= set(available):
            last = OSError(errno.ENOTSUP, f"{base}: memory/pids controllers not available")
            continue
        path = os.path.join(base, tag)
        try:
            enable = " ".join(f"+{c}" for c in ("memory", "pids", "cpu") if c in available)
            with open(os.path.join(base, "cgroup.subtree_control"), "w", encoding="ascii") as fh:
                fh.write(enable)
            os.mkdir(path, 0o755)
            with open(os.path.join(path, "cgroup.subtree_control"), "w", encoding="ascii") as fh:
                fh.write(enable)
            return path
        except OSError as exc:
            _rmdir_quiet(path)
            last = exc
    raise last or OSError(errno.ENOTSUP, "no usable cgroup2 location")
