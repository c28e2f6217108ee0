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
    """One group per zygote, joined by the zygote itself; every test is forked inside it.

    Moving a process between v1 cgroups costs ~5 ms here (an RCU grace period), so instead of a leaf per test the
    zygote lives in its group and the tests are forked into it (free). Per test, the counters are reset or
    snapshotted and the memory limit is the test's limit plus what the zygote itself has charged there that cannot
    be reclaimed (a few hundred KB), so the program gets its full limit. The zygote sets its own ``oom_score_adj`` to
    -1000: the OOM killer only ever takes the program.
    """

    def __init__(self, version: str, parents: dict[str, str]) -> None:
        self.version = version
        #: controller ("memory", "pids", "cpuacct"; "unified" for v2) -> group directory path
        self.parents = parents
        self.dir_fds = {key: os.open(path, os.O_RDONLY | os.O_DIRECTORY) for key, path in parents.items()}
        #: the groups we came from (to move back out and remove ours when we exit, even after pivot_root)
        self.origin_fds = {key: os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY) for key, path in parents.items()}
        self.has_memsw = version == "v1" and os.path.exists(os.path.join(parents["memory"], "memory.memsw.limit_in_bytes"))
        self.has_peak = version == "v2" and os.path.exists(os.path.join(parents["unified"], "memory.peak"))
        self._memsw_limit = 1 << 62  # a fresh group is unlimited

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
                    except OSError:
                        for path in parents.values():
                            _rmdir_quiet(path)
                        raise
                    return cls("v1", parents)
                if version == "v2" and "cgroup2" in mounts and "" in own:
                    return cls("v2", {"unified": _make_v2_parent(mounts["cgroup2"], own[""], tag)})
            except OSError as exc:
                errors.append(f"{version}: {exc}")
        raise OSError(errno.ENOTSUP, "; ".join(errors) or "no cgroup v1 memory/pids/cpuacct nor a cgroup2 mount")

    def join(self) -> None:
        """Move the calling process into the group (once, at zygote start)."""
        for fd in self.dir_fds.values():
            _write(fd, "cgroup.procs", "0")
        try:
            with open("/proc/self/oom_score_adj", "w", encoding="ascii") as fh:
                fh.write("-1000")
        except OSError:
            pass

    def leave(self) -> None:
        """Move the calling process back to the groups it came from."""
        for fd in self.origin_fds.values():
            try:
                _write(fd, "cgroup.procs", "0")
            except OSError:
                pass

    # -- per test ----------------------------------------------------------------------------------------------
    def prepare(self, memory_bytes: int, max_pids: int) -> Snapshot:
        """Set the test's limits and snapshot the counters; ``max_pids`` excludes the zygote and the init."""
        if self.version == "v1":
            mem = self.dir_fds["memory"]
            _write(mem, "memory.max_usage_in_bytes", "0")
            if self.has_memsw:
                _write(mem, "memory.memsw.max_usage_in_bytes", "0")
            stat = _read(mem, "memory.stat")
            usage = int(_read(mem, "memory.usage_in_bytes").strip() or 0)
            reclaimable = _keyed(stat, "active_file") + _keyed(stat, "inactive_file")
            limit = memory_bytes + max(0, usage - reclaimable)
            self._set_v1_limit(limit)
            _write(self.dir_fds["pids"], "pids.max", str(max_pids + 2))
            _write(self.dir_fds["cpuacct"], "cpuacct.usage", "0")
            return Snapshot(usage, _keyed(_read(mem, "memory.oom_control"), "oom_kill"), self._pids_events(), 0.0)
        uni = self.dir_fds["unified"]
        stat = _read(uni, "memory.stat")
        usage = int(_read(uni, "memory.current").strip() or 0)
        reclaimable = _keyed(stat, "active_file") + _keyed(stat, "inactive_file")
        _write(uni, "memory.max", str(memory_bytes + max(0, usage - reclaimable)))
        try:
            _write(uni, "memory.swap.max", "0")
        except OSError:
            pass
        if self.has_peak:
            try:
                _write(uni, "memory.peak", "0")  # resettable on recent kernels
            except OSError:
                pass
        _write(uni, "pids.max", str(max_pids + 2))
        return Snapshot(usage, _keyed(_read(uni, "memory.events"), "oom_kill"), self._pids_events(), self.cpu_s())

    def _set_v1_limit(self, limit: int) -> None:
        mem = self.dir_fds["memory"]
        if not self.has_memsw:
            _write(mem, "memory.limit_in_bytes", str(limit))
            return
        # memsw >= limit at every moment: raise memsw first, or lower the limit first
        if limit > self._memsw_limit:
            _write(mem, "memory.memsw.limit_in_bytes", str(limit))
            _write(mem, "memory.limit_in_bytes", str(limit))
        else:
            _write(mem, "memory.limit_in_bytes", str(limit))
            _write(mem, "memory.memsw.limit_in_bytes", str(limit))
        self._memsw_limit = limit

    def relax(self) -> None:
        """Lift the memory limit between tests (only the zygote is left in the group, and it must never hit one)."""
        if self.version == "v1":
            mem = self.dir_fds["memory"]
            if self.has_memsw:
                _write(mem, "memory.memsw.limit_in_bytes", "-1")
            _write(mem, "memory.limit_in_bytes", "-1")
            self._memsw_limit = 1 << 62
        else:
            _write(self.dir_fds["unified"], "memory.max", "max")

    def _pids_events(self) -> int:
        key = "pids" if self.version == "v1" else "unified"
        try:
            return _keyed(_read(self.dir_fds[key], "pids.events"), "max")
        except OSError:
            return 0

    def cpu_s(self) -> float:
        if self.version == "v1":
            return int(_read(self.dir_fds["cpuacct"], "cpuacct.usage").strip() or 0) / 1e9
        return _keyed(_read(self.dir_fds["unified"], "cpu.stat"), "usage_usec") / 1e6

    def measure(self, snap: Snapshot) -> Usage:
        if self.version == "v1":
            mem = self.dir_fds["memory"]
            peak = int(_read(mem, "memory.max_usage_in_bytes").strip() or 0)
            oom = _keyed(_read(mem, "memory.oom_control"), "oom_kill")
        else:
            uni = self.dir_fds["unified"]
            peak = int(_read(uni, "memory.peak").strip() or 0) if self.has_peak else 0
            oom = _keyed(_read(uni, "memory.events"), "oom_kill")
        return Usage(
            cpu_s=max(0.0, self.cpu_s() - snap.cpu_s),
            peak_bytes=max(0, peak - snap.usage_bytes),
            oom_kills=oom - snap.oom_kills,
            pids_limited=self._pids_events() > snap.pids_max_events,
        )

    def pids(self) -> list[int]:
        found: set[int] = set()
        for fd in self.dir_fds.values():
            try:
                found.update(int(x) for x in _read(fd, "cgroup.procs").split())
            except OSError:
                pass
        return sorted(found)

    def kill_others(self) -> int:
        """SIGKILL every process of the group but the caller (a backstop: the PID namespace normally did it)."""
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
            try:
                with open(os.path.join(entry.path, "cgroup.procs"), encoding="ascii") as fh:
                    if fh.read().strip():
                        continue
                os.rmdir(entry.path)
                removed += 1
            except OSError:
                pass
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


def _exists(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd)
        return True
    except OSError:
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
