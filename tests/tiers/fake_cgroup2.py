"""A fake cgroup v2 filesystem behind ``builder.sandbox.cgroups.HostFS``'s interface, faithful to the kernel rules the
sandbox depends on. This machine's memory and pids controllers are bound to cgroup v1 (the VM's own agent lives
there), so a real v2 hierarchy with them cannot be had here: the v2 code path is tested against this fake (and the
v2 core semantics — layout, no internal processes, delegation, cgroup.kill, cpu.stat — against the real unified
hierarchy in test_tier_cgroup_v2.py).

The test plays the kernel: ``spawn``/``fork``/``exit`` processes, ``charge``/``uncharge`` memory, ``burn`` CPU, and
says which process writes (``writer``; "0" in cgroup.procs means it) and as which uid (``uid``). Rules modelled, each
one measured on a real kernel (6.18) or taken from Documentation/admin-guide/cgroup-v2.rst:

* no internal processes: writing cgroup.procs of a non-root group whose cgroup.subtree_control is not empty -> EBUSY;
  enabling a controller in a non-root group that has processes -> EBUSY; disabling one a child uses -> EBUSY
* a controller's files exist only when the PARENT enables it (cgroup.controllers = parent's subtree_control);
  otherwise ENOENT; "+ctrl" not in cgroup.controllers -> ENOENT
* delegation: a group (and its interface files) is owned by whoever made it; a non-root writer needs to own the
  directory to mkdir/rmdir in it, the file to write it, and — to move a process — the destination's cgroup.procs and
  the common ancestor's cgroup.procs (EACCES otherwise); root may do anything the other rules allow
* access modes: root may open a read-only file O_RDWR (the write then fails EINVAL; reading a write-only file: EINVAL);
  a non-root writer cannot even open it (EACCES)
* memory.peak: from 6.12 a write resets the watermark for that open file only (other fds and new opens see the
  all-time peak); before 6.12 the file is read-only; before 5.19 there is none (``kernel=``)
* memory.max below memory.current, or a charge past it -> the group's processes are OOM-killed (memory.events:
  max, oom, oom_kill, hierarchical; .local not); memory.oom.group=1: every process of the group goes (oom_group_kill)
* memory.swap.max only with swap accounting (``swap=False``: ENOENT, as on many cloud kernels)
* pids.max: a fork over it fails (EAGAIN) and counts in pids.events "max"; pids.current counts tasks
* cpu.stat usage_usec/user_usec/system_usec always (core), the rest only with the cpu controller
* cgroup.kill: "1" kills the whole subtree (anything else EINVAL); cgroup.events: populated/frozen
* rmdir: EBUSY with live processes or child groups; values end with "\\n"; limits are rounded down to pages
"""

from __future__ import annotations

import errno
import itertools
import os

PAGE = 4096
RO, WO, RW = "r", "w", "rw"


class Group:
    def __init__(self, name: str, parent: "Group | None", owner: int) -> None:
        self.name, self.parent, self.owner = name, parent, owner
        self.children: dict[str, Group] = {}
        self.procs: set[int] = set()
        self.subtree: list[str] = []
        self.mem_max: int | None = None
        self.mem_current = 0
        self.mem_peak = 0
        self.swap_max: int | None = None
        self.oom_group = 0
        self.events = {"low": 0, "high": 0, "max": 0, "oom": 0, "oom_kill": 0, "oom_group_kill": 0}
        self.events_local = dict(self.events)
        self.pids_max: int | None = None
        self.pids_events = 0
        self.usage_usec = 0
        self.peak_fds: dict[int, int] = {}  # fd -> its own watermark (-1: never reset)

    def subtree_groups(self):  # type: ignore[no-untyped-def]
        yield self
        for child in self.children.values():
            yield from child.subtree_groups()

    def ancestors(self):  # type: ignore[no-untyped-def]
        group: Group | None = self
        while group is not None:
            yield group
            group = group.parent


class FakeCgroup2:
    """``mount``: the path the sandbox sees the hierarchy at; ``kernel``: "6.12" (peak reset per fd), "6.6"
    (read-only memory.peak), "5.15" (no memory.peak); ``swap``: swap accounting; ``uid``: the writer's (0 = root)."""

    def __init__(self, mount: str = "/sys/fs/cgroup", available: tuple[str, ...] = ("cpu", "memory", "pids"),
                 kernel: str = "6.12", swap: bool = True, uid: int = 0) -> None:
        self.mount = mount.rstrip("/")
        self.available = list(available)
        self.kernel = tuple(int(x) for x in kernel.split("."))
        self.swap = swap
        self.uid = uid
        self.root = Group("", None, 0)
        self.fds: dict[int, tuple] = {}
        self._next = itertools.count(1000)
        self.where: dict[int, Group] = {}
        self.tasks: dict[int, int] = {}
        self.killed: list[int] = []
        self.writer = 1  # the pid "0" stands for

    # ---- paths ---------------------------------------------------------------------------------------------
    def path_of(self, group: Group) -> str:
        parts = []
        while group.parent is not None:
            parts.append(group.name)
            group = group.parent
        return "/" + "/".join(reversed(parts))

    def group(self, path: str) -> Group:
        """The group at a hierarchy path ("/a/b") or a mount-prefixed one."""
        if path.startswith(self.mount):
            path = path[len(self.mount) :]
        group = self.root
        for part in [p for p in path.split("/") if p]:
            if part not in group.children:
                raise FileNotFoundError(errno.ENOENT, path)
            group = group.children[part]
        return group

    def _split(self, path: str, dir_fd: int | None) -> tuple[Group, str]:
        """(the group holding the last component, the last component)."""
        if dir_fd is None:
            head, _, tail = path.rstrip("/").rpartition("/")
            return self.group(head or "/"), tail
        kind, group = self.fds[dir_fd][:2]
        assert kind == "dir"
        head, _, tail = path.rpartition("/")
        for part in [p for p in head.split("/") if p]:
            if part not in group.children:
                raise FileNotFoundError(errno.ENOENT, path)
            group = group.children[part]
        return group, tail

    def _files(self, g: Group) -> dict[str, str]:
        files = {"cgroup.procs": RW, "cgroup.controllers": RO, "cgroup.subtree_control": RW, "cgroup.events": RO, "cpu.stat": RO}
        if g.parent is not None:
            files.update({"cgroup.kill": WO, "cgroup.type": RW})
            controllers = g.parent.subtree
            if "memory" in controllers:
                files.update({"memory.max": RW, "memory.current": RO, "memory.events": RO, "memory.events.local": RO,
                              "memory.stat": RO, "memory.oom.group": RW})
                if self.kernel >= (5, 19):
                    files["memory.peak"] = RW if self.kernel >= (6, 12) else RO
                if self.swap:
                    files["memory.swap.max"] = RW
            if "pids" in controllers:
                files.update({"pids.max": RW, "pids.current": RO, "pids.events": RO})
        return files

    def _owns(self, g: Group) -> bool:
        return self.uid == 0 or g.owner == self.uid

    # ---- HostFS ---------------------------------------------------------------------------------------------
    def open(self, path: str, flags: int, dir_fd: int | None = None) -> int:
        if flags & os.O_DIRECTORY:
            g = self.group(path) if dir_fd is None else self._split(path + "/x", dir_fd)[0]
            fd = next(self._next)
            self.fds[fd] = ("dir", g)
            return fd
        g, name = self._split(path, dir_fd)
        files = self._files(g)
        if name not in files:
            raise FileNotFoundError(errno.ENOENT, path)
        mode, access = files[name], flags & 3
        if self.uid != 0:
            wants_write, wants_read = access in (os.O_WRONLY, os.O_RDWR), access in (os.O_RDONLY, os.O_RDWR)
            if (wants_write and ("w" not in mode or not self._owns(g))) or (wants_read and "r" not in mode):
                raise PermissionError(errno.EACCES, path)
        fd = next(self._next)
        self.fds[fd] = ("file", g, name)
        if name == "memory.peak":
            g.peak_fds[fd] = -1
        return fd

    def close(self, fd: int) -> None:
        entry = self.fds.pop(fd)
        if entry[0] == "file" and entry[2] == "memory.peak":
            entry[1].peak_fds.pop(fd, None)

    def pread(self, fd: int, size: int, offset: int) -> bytes:
        _, g, name = self.fds[fd]
        if "r" not in self._files(g)[name]:
            raise OSError(errno.EINVAL, name)
        return self._render(g, name, fd).encode()[offset : offset + size]

    def write(self, fd: int, data: bytes) -> int:
        return self.pwrite(fd, data, 0)

    def pwrite(self, fd: int, data: bytes, offset: int) -> int:
        _, g, name = self.fds[fd]
        if "w" not in self._files(g)[name]:
            raise OSError(errno.EINVAL, name)
        getattr(self, "_w_" + name.replace(".", "_"))(g, data.decode().strip(), fd)
        return len(data)

    def mkdir(self, path: str, mode: int = 0o755, dir_fd: int | None = None) -> None:
        g, name = self._split(path, dir_fd)
        if not self._owns(g):
            raise PermissionError(errno.EACCES, path)
        if name in g.children:
            raise FileExistsError(errno.EEXIST, path)
        g.children[name] = Group(name, g, self.uid)

    def rmdir(self, path: str, dir_fd: int | None = None) -> None:
        g, name = self._split(path, dir_fd)
        child = g.children.get(name)
        if child is None:
            raise FileNotFoundError(errno.ENOENT, path)
        if not self._owns(g):
            raise PermissionError(errno.EACCES, path)
        if child.children or child.procs:
            raise OSError(errno.EBUSY, path)
        del g.children[name]

    def kill(self, pid: int, sig: int) -> None:
        if pid not in self.where:
            raise ProcessLookupError(errno.ESRCH, str(pid))
        self.exit(pid, killed=True)

    def getpid(self) -> int:
        return self.writer

    def exists(self, path: str) -> bool:
        try:
            g, name = self._split(path, None)
        except FileNotFoundError:
            return False
        return name in g.children or name in self._files(g)

    # ---- rendering ------------------------------------------------------------------------------------------
    def _render(self, g: Group, name: str, fd: int) -> str:
        if name == "cgroup.procs":
            return "".join(f"{p}\n" for p in sorted(g.procs))
        if name == "cgroup.controllers":
            return " ".join(self.available if g.parent is None else g.parent.subtree) + "\n"
        if name == "cgroup.subtree_control":
            return " ".join(g.subtree) + "\n"
        if name == "cgroup.events":
            return f"populated {int(any(x.procs for x in g.subtree_groups()))}\nfrozen 0\n"
        if name == "cgroup.type":
            return "domain\n"
        if name == "cpu.stat":
            usage = sum(x.usage_usec for x in g.subtree_groups())
            extra = "nr_periods 0\nnr_throttled 0\nthrottled_usec 0\n" if g.parent is not None and "cpu" in g.parent.subtree else ""
            return f"usage_usec {usage}\nuser_usec {usage * 9 // 10}\nsystem_usec {usage - usage * 9 // 10}\n" + extra
        if name in ("memory.max", "memory.swap.max", "pids.max"):
            value = {"memory.max": g.mem_max, "memory.swap.max": g.swap_max, "pids.max": g.pids_max}[name]
            return "max\n" if value is None else f"{value}\n"
        if name == "memory.current":
            return f"{g.mem_current}\n"
        if name == "memory.peak":
            own = g.peak_fds.get(fd, -1)
            return f"{g.mem_peak if own < 0 else own}\n"
        if name in ("memory.events", "memory.events.local"):
            events = g.events if name == "memory.events" else g.events_local
            return "".join(f"{k} {v}\n" for k, v in events.items())
        if name == "memory.stat":
            return f"anon {g.mem_current}\nfile 0\nactive_file 0\ninactive_file 0\nshmem 0\n"
        if name == "memory.oom.group":
            return f"{g.oom_group}\n"
        if name == "pids.current":
            return f"{sum(self.tasks[p] for x in g.subtree_groups() for p in x.procs)}\n"
        if name == "pids.events":
            return f"max {g.pids_events}\n"
        raise OSError(errno.EINVAL, name)

    # ---- writes ---------------------------------------------------------------------------------------------
    def _w_cgroup_procs(self, g: Group, text: str, fd: int) -> None:
        pid = self.writer if text == "0" else int(text) if text.isdigit() else None
        if pid is None:
            raise OSError(errno.EINVAL, text)
        if pid not in self.where:
            raise ProcessLookupError(errno.ESRCH, text)
        source = self.where[pid]
        if self.uid != 0:  # the common ancestor's cgroup.procs must be writable too
            ancestors = list(source.ancestors())
            common = next(a for a in g.ancestors() if a in ancestors)
            if not self._owns(common) or not self._owns(g):
                raise PermissionError(errno.EACCES, "cgroup.procs")
        if g.parent is not None and g.subtree:
            raise OSError(errno.EBUSY, "no internal processes: the group has controllers in cgroup.subtree_control")
        source.procs.discard(pid)
        g.procs.add(pid)
        self.where[pid] = g

    def _w_cgroup_subtree_control(self, g: Group, text: str, fd: int) -> None:
        controllers = self.available if g.parent is None else g.parent.subtree
        for token in text.split():
            sign, name = token[0], token[1:]
            if sign not in "+-" or name not in controllers:
                raise FileNotFoundError(errno.ENOENT, token)
            if sign == "+" and g.parent is not None and g.procs:
                raise OSError(errno.EBUSY, "the group has processes")
            if sign == "+" and name not in g.subtree:
                g.subtree.append(name)
            elif sign == "-" and name in g.subtree:
                if any(name in c.subtree for c in g.children.values()):
                    raise OSError(errno.EBUSY, token)
                g.subtree.remove(name)

    def _w_cgroup_kill(self, g: Group, text: str, fd: int) -> None:
        if text != "1":
            raise OSError(errno.EINVAL, text)
        for x in list(g.subtree_groups()):
            for p in list(x.procs):
                self.exit(p, killed=True)

    def _w_cgroup_type(self, g: Group, text: str, fd: int) -> None:
        if text != "threaded":
            raise OSError(errno.EINVAL, text)

    def _w_memory_max(self, g: Group, text: str, fd: int) -> None:
        g.mem_max = None if text == "max" else int(text) // PAGE * PAGE
        if g.mem_max is not None and g.mem_current > g.mem_max:
            self._oom(g)

    def _w_memory_swap_max(self, g: Group, text: str, fd: int) -> None:
        g.swap_max = None if text == "max" else int(text) // PAGE * PAGE

    def _w_memory_oom_group(self, g: Group, text: str, fd: int) -> None:
        if text not in ("0", "1"):
            raise OSError(errno.EINVAL, text)
        g.oom_group = int(text)

    def _w_memory_peak(self, g: Group, text: str, fd: int) -> None:
        if not text:
            raise OSError(errno.EINVAL, "empty")
        g.peak_fds[fd] = g.mem_current  # this open file only

    def _w_pids_max(self, g: Group, text: str, fd: int) -> None:
        g.pids_max = None if text == "max" else int(text)

    # ---- the kernel's side, driven by the test ----------------------------------------------------------------
    def spawn(self, pid: int, path: str = "/", threads: int = 1) -> None:
        g = self.group(path)
        g.procs.add(pid)
        self.where[pid], self.tasks[pid] = g, threads

    def fork(self, parent: int, child: int) -> None:
        g = self.where[parent]
        for a in g.ancestors():
            if a.pids_max is not None and sum(self.tasks[p] for x in a.subtree_groups() for p in x.procs) + 1 > a.pids_max:
                a.pids_events += 1
                raise BlockingIOError(errno.EAGAIN, "fork")
        self.spawn(child, self.path_of(g))

    def exit(self, pid: int, killed: bool = False) -> None:
        g = self.where.pop(pid)
        g.procs.discard(pid)
        self.tasks.pop(pid)
        if killed:
            self.killed.append(pid)

    def charge(self, pid: int, nbytes: int) -> bool:
        g = self.where[pid]
        for a in g.ancestors():
            if a.mem_max is not None and a.mem_current + nbytes > a.mem_max:
                a.events["max"] += 1
                self._oom(a)
                return False
        for a in g.ancestors():
            a.mem_current += nbytes
            a.mem_peak = max(a.mem_peak, a.mem_current)
            for fd, own in a.peak_fds.items():
                if own >= 0:
                    a.peak_fds[fd] = max(own, a.mem_current)
        return True

    def uncharge(self, path: str, nbytes: int) -> None:
        for a in self.group(path).ancestors():
            a.mem_current -= nbytes

    def burn(self, pid: int, usec: int) -> None:
        self.where[pid].usage_usec += usec

    def _oom(self, g: Group) -> None:
        victims = [p for x in g.subtree_groups() for p in x.procs]
        if not victims:
            return
        chosen = victims if g.oom_group else [victims[-1]]
        for a in g.ancestors():
            a.events["oom"] += 1
            a.events["oom_kill"] += len(chosen)
            if g.oom_group:
                a.events["oom_group_kill"] += 1
        g.events_local["oom_kill"] += len(chosen)
        for p in chosen:
            self.exit(p, killed=True)
