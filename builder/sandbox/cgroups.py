"""Per-test control groups for the fork-server: memory, pids and CPU accounting, on cgroup v1 or v2.

The zygote creates its groups below its own cgroup (so the sandbox stays inside whatever budget the caller's service
manager gave it), keeps directory file descriptors to them (they keep working after ``pivot_root`` hides ``/sys``)
and moves itself in; every test is forked there and its process moves itself into a ``test`` leaf before the program
exists. The memory limit is the leaf's, so a memory kill can only ever hit the test's own processes, never the zygote,
whatever ``oom_score_adj`` allows (lowering it needs CAP_SYS_RESOURCE, which containers usually lack), and the limit is
exactly the test's. Per test the limits are set and the counters reset or snapshotted; measurements are differences.

v1 (hybrid hierarchy, as on this project's build machine): ``memory`` (limit_in_bytes, memsw, max_usage_in_bytes,
oom_control's ``oom_kill``) with the test leaf, ``pids`` (pids.max), ``cpuacct`` (cpuacct.usage, nanoseconds).

v2 (a unified hierarchy: current Ubuntu, Debian, Fedora, most cloud images), laid out as the kernel's "no internal
processes" rule requires: ``<base>/<tag>/{zygote,test}`` with ``memory pids cpu`` enabled in ``<base>`` and
``<tag>``, the zygote in ``zygote/``, each test in ``test/`` (memory.max, memory.swap.max, memory.oom.group, pids.max,
memory.events' ``oom_kill``, cpu.stat's ``usage_usec``, cgroup.kill). ``<base>`` is this process's own group when it
is delegated to us (a systemd scope with ``Delegate=yes``, a container's cgroup namespace) — its processes are first
moved into ``<base>/builder-leaf`` when the kernel refuses controllers in a group with processes, as crun does — or,
for root, the hierarchy's root. The peak is
``memory.peak`` through one file descriptor reset per test (Linux 6.12+: a reset is per open file); where it cannot be
reset (older kernels, or a delegated user before 6.12), every test gets a fresh leaf, so the peak is still the test's.

Every file operation goes through :class:`HostFS` (``fs=``): tests drive the v2 code path against a fake cgroupfs
(tests/tiers/fake_cgroup2.py) where no real v2 memory controller can be had, and against the real unified hierarchy
for the core semantics. Imports only the standard library (the zygote imports it).
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass

CGROUP_ROOT = "/sys/fs/cgroup"
V1_CONTROLLERS = ("memory", "pids", "cpuacct")
#: v2 controllers the sandbox needs, and the one it also uses where available
V2_REQUIRED = ("memory", "pids")
V2_OPTIONAL = ("cpu",)
#: where a delegated v2 group's own processes go before controllers can be enabled in it
EVACUATION_LEAF = "builder-leaf"


class HostFS:
    """The real cgroupfs: thin wrappers of ``os`` (the seam the fake replaces)."""

    def open(self, path: str, flags: int, dir_fd: int | None = None) -> int:
        return os.open(path, flags, dir_fd=dir_fd)

    def close(self, fd: int) -> None:
        os.close(fd)

    def pread(self, fd: int, size: int, offset: int) -> bytes:
        return os.pread(fd, size, offset)

    def pwrite(self, fd: int, data: bytes, offset: int) -> int:
        return os.pwrite(fd, data, offset)

    def write(self, fd: int, data: bytes) -> int:
        return os.write(fd, data)

    def mkdir(self, path: str, mode: int = 0o755, dir_fd: int | None = None) -> None:
        os.mkdir(path, mode, dir_fd=dir_fd)

    def rmdir(self, path: str, dir_fd: int | None = None) -> None:
        os.rmdir(path, dir_fd=dir_fd)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def kill(self, pid: int, sig: int) -> None:
        os.kill(pid, sig)

    def getpid(self) -> int:
        return os.getpid()


HOST = HostFS()


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


def _write(fs: HostFS, dir_fd: int | None, name: str, value: str) -> None:
    fd = fs.open(name, os.O_WRONLY, dir_fd=dir_fd)
    try:
        fs.write(fd, value.encode())
    finally:
        fs.close(fd)


def _read(fs: HostFS, dir_fd: int | None, name: str) -> str:
    fd = fs.open(name, os.O_RDONLY, dir_fd=dir_fd)
    try:
        return fs.pread(fd, 65536, 0).decode("ascii", errors="replace")
    finally:
        fs.close(fd)


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
    """One group per zygote with a ``test`` leaf; every test joins the leaf (see the module's docstring)."""

    def __init__(self, version: str, parents: dict[str, str], leaf: str, zygote_leaf: str | None = None,
                 fs: HostFS = HOST, controllers: tuple[str, ...] = ()) -> None:
        self.fs = fs
        self.version = version
        #: controller ("memory", "pids", "cpuacct"; "unified" for v2) -> group directory path
        self.parents = parents
        self.leaf = leaf
        #: v2: the controllers enabled for the leaves (memory and pids; cpu where available)
        self.v2_controllers = controllers
        self.dir_fds = {key: fs.open(path, os.O_RDONLY | os.O_DIRECTORY) for key, path in parents.items()}
        self.leaf_fd = fs.open(leaf, os.O_RDONLY | os.O_DIRECTORY)
        #: the test process writes "0" here to move itself into the leaf (kept open: it works after pivot_root, and in a
        #: user namespace the kernel checks the credentials of whoever opened it)
        self.leaf_procs_fd = fs.open("cgroup.procs", os.O_WRONLY | os.O_CLOEXEC, dir_fd=self.leaf_fd)
        self.zygote_leaf = zygote_leaf
        #: the groups we came from (to move back out and remove ours when we exit, even after pivot_root)
        self.origin_fds = {key: fs.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY) for key, path in parents.items()}
        self.has_memsw = version == "v1" and fs.exists(os.path.join(leaf, "memory.memsw.limit_in_bytes"))
        self.peak_fd: int | None = None
        #: v2: how the peak is measured: "reset" (one fd, reset per test), "fresh leaf" (a new leaf per test), "none"
        self.peak_mode = "none"
        self._leaf_serial = 0
        if version == "v2":
            self._v2_leaf_setup()
        self._memsw_limit = 1 << 62  # a fresh group is unlimited
        #: "lowered" when the zygote's oom_score_adj could be set to -1000, else why not (then only the leaf protects it)
        self.oom_score_adj = "not tried"

    def _v2_leaf_setup(self) -> None:
        """memory.oom.group (an OOM kill takes the whole test) and a peak that can be the test's own."""
        try:
            _write(self.fs, self.leaf_fd, "memory.oom.group", "1")
        except OSError:
            pass
        if self.peak_mode == "fresh leaf":
            return
        try:
            fd = self.fs.open("memory.peak", os.O_RDWR | os.O_CLOEXEC, dir_fd=self.leaf_fd)
        except FileNotFoundError:  # before Linux 5.19: no peak at all
            self.peak_mode = "none"
            return
        except OSError:  # read-only (before 6.12): a delegated user cannot even open it for writing
            self.peak_mode = "fresh leaf"
            return
        try:
            self.fs.pwrite(fd, b"reset", 0)
        except OSError:  # root may open it, but before 6.12 the write fails (EINVAL)
            self.fs.close(fd)
            self.peak_mode = "fresh leaf"
            return
        self.peak_fd, self.peak_mode = fd, "reset"

    @property
    def controllers(self) -> list[str]:
        return ["memory", "pids", "cpuacct" if self.version == "v1" else "cpu"]

    # -- creation ----------------------------------------------------------------------------------------------
    @classmethod
    def create(cls, tag: str, *, prefer: str | None = None, fs: HostFS = HOST, mounts: dict[str, str] | None = None,
               own: dict[str, str] | None = None, required: tuple[str, ...] = V2_REQUIRED, euid: int | None = None) -> "CgroupManager":
        """Make this process's group (below its own cgroup); raises OSError where no hierarchy is writable.

        ``mounts``/``own``/``fs``/``required``/``euid`` are for tests (a fake cgroupfs, the real unified hierarchy with
        the controllers it has)."""
        mounts = _mounts() if mounts is None else mounts
        own = _own_paths() if own is None else own
        euid = os.geteuid() if euid is None else euid
        errors: list[str] = []
        order = ["v1", "v2"] if prefer != "v2" else ["v2", "v1"]
        for version in order:
            try:
                if version == "v1" and all(c in mounts and c in own for c in V1_CONTROLLERS):
                    parents: dict[str, str] = {}
                    try:
                        for controller in V1_CONTROLLERS:
                            path = os.path.join(mounts[controller], own[controller].lstrip("/"), tag)
                            fs.mkdir(path, 0o755)
                            parents[controller] = path
                        leaf = os.path.join(parents["memory"], "test")
                        fs.mkdir(leaf, 0o755)
                    except OSError:
                        for path in parents.values():
                            _rmdir_tree(path)
                        raise
                    return cls("v1", parents, leaf, fs=fs)
                if version == "v2" and "cgroup2" in mounts and "" in own:
                    parent, enabled = make_v2_parent(fs, mounts["cgroup2"], own[""], tag, required, euid)
                    return cls("v2", {"unified": parent}, os.path.join(parent, "test"), os.path.join(parent, "zygote"), fs=fs, controllers=enabled)
            except OSError as exc:
                errors.append(f"{version}: {exc}")
        raise OSError(errno.ENOTSUP, "; ".join(errors) or "no cgroup v1 memory/pids/cpuacct nor a cgroup2 mount")

    def join(self) -> None:
        """Move the calling process (the zygote) into its group, once at start; the test leaf stays empty."""
        if self.version == "v1":
            for fd in self.dir_fds.values():
                _write(self.fs, fd, "cgroup.procs", "0")
        else:
            _write(self.fs, None, os.path.join(self.zygote_leaf or "", "cgroup.procs"), "0")
        if self.fs is not HOST:
            return
        try:
            with open("/proc/self/oom_score_adj", "w", encoding="ascii") as fh:
                fh.write("-1000")
            self.oom_score_adj = "lowered"
        except OSError as exc:
            self.oom_score_adj = f"cannot be lowered ({exc.strerror}): the test's own memory group protects the zygote"

    def join_test(self) -> None:
        """In the forked test process, before the program exists: move into the test leaf."""
        self.fs.write(self.leaf_procs_fd, b"0")

    def leave(self) -> None:
        """Move the calling process back to the groups it came from (v1; a v2 parent has controllers on: it stays in
        the zygote's leaf, which is not the test's)."""
        for fd in self.origin_fds.values():
            try:
                _write(self.fs, fd, "cgroup.procs", "0")
            except OSError:
                pass

    # -- per test ----------------------------------------------------------------------------------------------
    def prepare(self, memory_bytes: int, max_pids: int) -> Snapshot:
        """Set the test's limits and snapshot the counters; ``max_pids`` counts the test's processes."""
        fs = self.fs
        if self.version == "v1":
            leaf = self.leaf_fd
            _write(fs, leaf, "memory.max_usage_in_bytes", "0")
            if self.has_memsw:
                _write(fs, leaf, "memory.memsw.max_usage_in_bytes", "0")
            usage = self._unreclaimable(leaf, "memory.usage_in_bytes")
            self._set_v1_limit(memory_bytes + usage)
            _write(fs, self.dir_fds["pids"], "pids.max", str(max_pids + 1))  # the zygote is in the pids group too
            _write(fs, self.dir_fds["cpuacct"], "cpuacct.usage", "0")
            return Snapshot(usage, _keyed(_read(fs, leaf, "memory.oom_control"), "oom_kill"), self._pids_events(), 0.0)
        if self.peak_mode == "fresh leaf":
            self._fresh_leaf()
        leaf = self.leaf_fd
        usage = self._unreclaimable(leaf, "memory.current")
        _write(fs, leaf, "memory.max", str(memory_bytes + usage))
        try:
            _write(fs, leaf, "memory.swap.max", "0")
        except OSError:  # no swap accounting on this kernel
            pass
        if self.peak_fd is not None:
            fs.pwrite(self.peak_fd, b"reset", 0)  # resets the peak for reads through this fd (Linux 6.12+)
        _write(fs, leaf, "pids.max", str(max_pids))
        return Snapshot(usage, _keyed(_read(fs, leaf, "memory.events"), "oom_kill"), self._pids_events(), self.cpu_s())

    def _fresh_leaf(self) -> None:
        """v2 where memory.peak cannot be reset: the (empty) leaf of the last test goes, a new one comes."""
        fs, parent = self.fs, self.dir_fds["unified"]
        old_name, old_fds = os.path.basename(self.leaf), (self.leaf_procs_fd, self.leaf_fd)
        self._leaf_serial += 1
        name = f"test{self._leaf_serial}"
        fs.mkdir(name, 0o755, dir_fd=parent)
        self.leaf = os.path.join(os.path.dirname(self.leaf), name)
        self.leaf_fd = fs.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=parent)
        self.leaf_procs_fd = fs.open("cgroup.procs", os.O_WRONLY | os.O_CLOEXEC, dir_fd=self.leaf_fd)
        self._v2_leaf_setup()
        for fd in old_fds:
            fs.close(fd)
        try:
            fs.rmdir(old_name, dir_fd=parent)
        except OSError:
            pass

    def _unreclaimable(self, fd: int, usage_file: str) -> int:
        """What the (empty) leaf still has charged that cannot be reclaimed (a few KB of kernel memory)."""
        stat = _read(self.fs, fd, "memory.stat")
        usage = int(_read(self.fs, fd, usage_file).strip() or 0)
        reclaimable = _keyed(stat, "active_file") + _keyed(stat, "inactive_file")
        return max(0, usage - reclaimable)

    def _set_v1_limit(self, limit: int) -> None:
        leaf, fs = self.leaf_fd, self.fs
        if not self.has_memsw:
            _write(fs, leaf, "memory.limit_in_bytes", str(limit))
            return
        # memsw >= limit at every moment: raise memsw first, or lower the limit first
        if limit > self._memsw_limit:
            _write(fs, leaf, "memory.memsw.limit_in_bytes", str(limit))
            _write(fs, leaf, "memory.limit_in_bytes", str(limit))
        else:
            _write(fs, leaf, "memory.limit_in_bytes", str(limit))
            _write(fs, leaf, "memory.memsw.limit_in_bytes", str(limit))
        self._memsw_limit = limit

    def _pids_events(self) -> int:
        fd = self.dir_fds["pids"] if self.version == "v1" else self.leaf_fd
        try:
            return _keyed(_read(self.fs, fd, "pids.events"), "max")
        except OSError:
            return 0

    def cpu_s(self) -> float:
        if self.version == "v1":
            return int(_read(self.fs, self.dir_fds["cpuacct"], "cpuacct.usage").strip() or 0) / 1e9
        return _keyed(_read(self.fs, self.leaf_fd, "cpu.stat"), "usage_usec") / 1e6

    def measure(self, snap: Snapshot) -> Usage:
        leaf, fs = self.leaf_fd, self.fs
        if self.version == "v1":
            peak = int(_read(fs, leaf, "memory.max_usage_in_bytes").strip() or 0)
            oom = _keyed(_read(fs, leaf, "memory.oom_control"), "oom_kill")
        else:
            if self.peak_fd is not None:
                peak = int(fs.pread(self.peak_fd, 64, 0).strip() or 0)
            elif self.peak_mode == "fresh leaf":
                peak = int(_read(fs, leaf, "memory.peak").strip() or 0)
            else:
                peak = 0
            oom = _keyed(_read(fs, leaf, "memory.events"), "oom_kill")
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
                found.update(int(x) for x in _read(self.fs, fd, "cgroup.procs").split())
            except OSError:
                pass
        return sorted(found)

    def kill_others(self) -> int:
        """SIGKILL every process of the group but the caller (a backstop: the PID namespace normally did it)."""
        if self.version == "v2":
            try:
                _write(self.fs, self.leaf_fd, "cgroup.kill", "1")
            except OSError:
                pass
        me, killed = self.fs.getpid(), 0
        for _round in range(50):
            pids = [p for p in self.pids() if p != me]
            if not pids:
                return killed
            for pid in pids:
                try:
                    self.fs.kill(pid, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
            time.sleep(0.001)
        return killed

    def close(self) -> None:
        """Move the caller back to the groups it came from and remove ours (works after pivot_root: fds only). A v2
        zygote cannot leave its leaf (the parent has controllers on): the supervisor removes the rest once it is gone."""
        fs = self.fs
        for fd in (self.leaf_procs_fd, self.leaf_fd, self.peak_fd):
            if fd is not None:
                try:
                    fs.close(fd)
                except OSError:
                    pass
        for key, origin in self.origin_fds.items():
            try:
                _write(fs, origin, "cgroup.procs", "0")
            except OSError:
                pass
            try:
                fs.close(self.dir_fds[key])
            except (OSError, KeyError):
                pass
            name = os.path.basename(self.parents[key])
            for _attempt in range(20 if self.version == "v1" else 1):
                try:
                    for child in ("test", "zygote", os.path.basename(self.leaf)):
                        try:
                            fs.rmdir(f"{name}/{child}", dir_fd=origin)
                        except FileNotFoundError:
                            pass
                    fs.rmdir(name, dir_fd=origin)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if self.version == "v1":
                        time.sleep(0.005)
            fs.close(origin)
        self.dir_fds, self.origin_fds = {}, {}


def make_v2_parent(fs: HostFS, mount: str, own: str, tag: str, required: tuple[str, ...] = V2_REQUIRED,
                   euid: int = 0) -> tuple[str, tuple[str, ...]]:
    """``<base>/<tag>/{zygote,test}`` with the controllers enabled down to the leaves; returns the group's path and
    the controllers enabled. ``<base>`` is our own group where it is ours (delegated, or root): its processes move
    into ``<base>/builder-leaf`` first when controllers must be enabled in it (no internal processes); for root, the
    hierarchy's root where our own group will not do. Raises OSError saying what is missing."""
    if os.path.basename(own.rstrip("/")) == EVACUATION_LEAF:  # an earlier sandbox moved us there: its parent is ours
        own = os.path.dirname(own.rstrip("/"))
    candidates = [os.path.join(mount, own.lstrip("/")).rstrip("/") or "/"]
    if own not in ("", "/") and euid == 0:
        candidates.append(mount)  # the root group is exempt from the no-internal-processes rule
    last: OSError | None = None
    for base in candidates:
        path = os.path.join(base, tag)
        try:
            available = _read(fs, None, os.path.join(base, "cgroup.controllers")).split()
            missing = [c for c in required if c not in available]
            if missing:
                raise OSError(errno.ENOTSUP, f"{base}: the {'/'.join(missing)} controller{'s are' if len(missing) > 1 else ' is'} "
                              "not available to this group (start builder in a delegated scope: systemd-run --user --scope -p Delegate=yes builder ...)")
            wanted = tuple(c for c in (*required, *V2_OPTIONAL) if c in available)
            enable = " ".join(f"+{c}" for c in wanted)
            if not set(wanted) <= set(_read(fs, None, os.path.join(base, "cgroup.subtree_control")).split()):
                try:
                    _write(fs, None, os.path.join(base, "cgroup.subtree_control"), enable)
                except OSError as exc:  # processes of its own (a scope; a container's cgroup namespace root): move them
                    if exc.errno != errno.EBUSY:
                        raise
                    _evacuate(fs, base)
                    _write(fs, None, os.path.join(base, "cgroup.subtree_control"), enable)
            fs.mkdir(path, 0o755)
            try:
                _write(fs, None, os.path.join(path, "cgroup.subtree_control"), enable)
                for name in ("zygote", "test"):
                    fs.mkdir(os.path.join(path, name), 0o755)
            except OSError:
                _rmdir_v2(fs, path)
                raise
            return path, wanted
        except OSError as exc:
            last = exc
    raise last or OSError(errno.ENOTSUP, "no usable cgroup2 location")


def _evacuate(fs: HostFS, base: str) -> None:
    """Move every process of ``base`` into ``base/builder-leaf`` (the kernel refuses controllers in a group that has
    processes of its own), as crun does in a delegated scope; a process that exits meanwhile is fine."""
    leaf = os.path.join(base, EVACUATION_LEAF)
    try:
        fs.mkdir(leaf, 0o755)
    except FileExistsError:
        pass
    for _round in range(5):
        pids = _read(fs, None, os.path.join(base, "cgroup.procs")).split()
        if not pids:
            return
        for pid in pids:
            try:
                _write(fs, None, os.path.join(leaf, "cgroup.procs"), pid)
            except ProcessLookupError:
                pass
    raise OSError(errno.EBUSY, f"{base}: its processes keep coming back")


def _rmdir_v2(fs: HostFS, path: str) -> None:
    for name in ("test", "zygote"):
        try:
            fs.rmdir(os.path.join(path, name))
        except OSError:
            pass
    try:
        fs.rmdir(path)
    except OSError:
        pass


def sweep_stale(prefix: str = "builder-sbx-") -> int:
    """Remove empty groups left by sandboxes whose supervisor died (named ``{prefix}{pid}-...``); returns how many."""
    removed = 0
    mounts, own = _mounts(), _own_paths()
    bases = set()
    for controller in V1_CONTROLLERS:
        if controller in mounts and controller in own:
            bases.add(os.path.join(mounts[controller], own[controller].lstrip("/")))
    if "cgroup2" in mounts and "" in own:
        base = os.path.join(mounts["cgroup2"], own[""].lstrip("/")).rstrip("/")
        if os.path.basename(base) == EVACUATION_LEAF:  # moved there by an earlier sandbox: the groups are beside it
            base = os.path.dirname(base)
        bases.update({base, mounts["cgroup2"]})
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
