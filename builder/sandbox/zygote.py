"""The zygote: a warm, pre-imported, locked-down interpreter that forks one isolated child per test.

Started by :class:`builder.sandbox.forkserver.ForkServerSandbox` with ``sys.executable -I -c BOOT CONFIG`` in an empty
environment; it never imports the package's ``__init__`` modules (no click, no datasets), only this module,
``isolation``, ``cgroups`` and ``runner``. It only ever receives a program, its stdin, argv/files and the limits: the
expected outputs stay in the supervisor.

Once, at start, the strongest isolation tier the machine allows (README, "Isolation tiers"): pre-import the modules
test programs use; create a cgroup (memory, pids, cpu; v1 or v2) and move in where one is writable; unshare the mount,
network, IPC and UTS namespaces — directly as root with CAP_SYS_ADMIN (tier 1), else inside a user namespace (tier 2:
a helper outside it maps the zygote to uid 0 and, through newuidmap or root's own map, a throwaway uid); unshare a PID
namespace and fork into it (the zygote is PID 1 there; the original process stays outside as a shim the supervisor
holds); build a minimal read-only root (``/usr`` and the Python prefix bound read-only, a tiny ``/etc``,
``/dev/{null,zero,full,random,urandom}``, ``/proc`` with hidepid or none, two small tmpfs: ``/tmp``, the scratch, and
``/dev/shm``), every mount that can fail before ``pivot_root`` so that a failure leaves the host's root untouched.
Without a mount namespace (tier 3: a default container), the test's folder is a private one on the host and a
Landlock ruleset (built once) confines each test to it. Then the zygote makes itself non-dumpable and empties its
capability bounding set.

Per test (request: JSON header + fds [payload, stdin, stdout, stderr, side channel] over a SOCK_SEQPACKET socket),
one fork:

* the group's limits are set and its counters reset or snapshotted (forking inside a group is free; a mount
  namespace per test cost ~5 ms, so there is none);
* the program's process reads the payload (the zygote never does), writes the files into its folder (its cwd), joins
  the test's memory leaf, gets its own session, the memfds as fds 0/1/2 and the side channel (a socket it can only
  write to) as fd 3 (every other fd closed), rlimits, a throwaway uid/gid (or, sharing the zygote's uid, no
  capability at all), ``no_new_privs``, the seccomp filter and the Landlock ruleset, then runs ``runner.execute``;
  a test of a compiled binary without files (a seventh fd: the exec launcher) is no fork at all: ``posix_spawn`` of
  ``launcher.c``, which makes the same lock-down with system calls and executes the binary (:meth:`Zygote._launch`);
* the zygote waits on its pidfd, polling the group's CPU usage (so the CPU limit covers the whole process tree and is
  exact to a few ms) — or, without a group, the program's own CPU clock — and the wall clock, and SIGKILLs it on a
  limit;
* then ``kill(-1, SIGKILL)`` ends every process of the test — from PID 1 of the namespace, or, without one, from a
  reaper holding the throwaway uid — all are reaped, the group's counters give CPU time, peak memory and whether the
  OOM killer fired, and the scratch is emptied (or replaced; a zygote that cannot clean up is replaced).

Every feature can be switched off (``disable`` in the config, from ``BUILDER_SANDBOX_DISABLE``) and each one that fails
to set up is reported in the hello message with the reason; the supervisor derives the tier and level from it.
"""

from __future__ import annotations

import atexit
import fcntl
import gc
import json
import linecache
import math
import os
import resource
import select
import signal
import socket
import sys
import tempfile
import time
import traceback

from builder.sandbox import cgroups, isolation, native, runner
from builder.sandbox.fdio import read_fd, sealed_memfd

#: modules imported once in the zygote so a test program gets them for free (stdlib only: no threads started)
PRELOAD = (
    "abc array bisect cmath collections collections.abc contextlib copy dataclasses datetime decimal enum fractions "
    "functools heapq io itertools json math numbers operator queue random re statistics string struct threading "
    "time types typing unicodedata ctypes traceback"
).split()

FEATURES = ("userns", "pidns", "mountns", "netns", "ipcns", "utsns", "cgroup", "seccomp", "uid", "nnp", "landlock")
MB = 1024 * 1024
SETUP_FAILED = 111
#: capabilities the exec launcher needs until it drops them all: its own IPC namespace, the throwaway uid and gid,
#: an unlimited stack (raising a hard limit)
LAUNCHER_CAPS = (isolation.CAP_SETUID, isolation.CAP_SETGID, isolation.CAP_SYS_ADMIN, isolation.CAP_SYS_RESOURCE)
#: the launcher's flags (launcher.c)
L_IPC, L_CGROUP, L_UID, L_SECCOMP, L_NNP, L_LANDLOCK, L_AS, L_NPROC = 1, 2, 4, 8, 16, 32, 64, 128


def _log(msg: str) -> None:
    if os.environ.get("BUILDER_SANDBOX_DEBUG"):
        sys.stderr.write(f"[zygote {os.getpid()}] {msg}\n")
        sys.stderr.flush()


class Zygote:
    def __init__(self, config: dict[str, object], sock: socket.socket) -> None:
        self.config = config
        self.sock = sock
        self.disabled = set(config.get("disable", ()))  # type: ignore[arg-type]
        self.uid = int(config.get("uid", 60000))  # type: ignore[arg-type]
        self.features: dict[str, bool] = {name: False for name in FEATURES}
        self.errors: dict[str, str] = {}
        self.cg: cgroups.CgroupManager | None = None
        self.seccomp: isolation.SeccompFilter | None = None
        self.landlock: isolation.LandlockRuleset | None = None
        self._setup_fd = -1
        self.root_kind = "host"
        self.ncpu = max(1, len(os.sched_getaffinity(0)))
        self.base_vm = 0
        #: the zygote's own resident peak (a forked child starts with its pages: what is above is the program's)
        self.base_rss = 0
        self.proc_fd: int | None = None
        self.root_parent_fd: int | None = None
        self.scratch_mb = 64
        #: without a private root: the test's folder (persistent, emptied after every test; Landlock rules name it)
        self.scratch_dir: str | None = None
        #: a fresh IPC namespace per test (SysV and POSIX IPC die with the test)
        self.per_test_ipc = False
        #: why the exec launcher could not start a program (the forked interpreter does it then); its seccomp program
        self.launch_error: str | None = None
        self.seccomp_fd: int | None = None
        #: scratch dir -> top-level names to keep (the way to a Python environment that lives under it)
        self.protected: dict[str, tuple[str, ...]] = {}
        #: scratch dir -> (stashed source, target) binds to redo when the scratch is replaced
        self.stash: dict[str, tuple[tuple[str, str], ...]] = {}
        self.notes: dict[str, str] = {}
        self.root_name = ""
        #: a one-uid user namespace: programs run as the zygote's own uid (every capability dropped, self-only rules)
        self.shared_uid = False
        #: how the user namespace's ids were mapped ("privileged", "newuidmap", "one uid"), and the host uid programs get
        self.id_map = ""
        self.host_uid: int | None = None
        #: tier 3: the child that kills every process of the throwaway uid after each test, and its pipes
        self.reaper: int | None = None
        self.reaper_io: tuple[int, int] = (-1, -1)
        self.map_error = ""
        self.gid = self.uid

    # ------------------------------------------------------------------------------------------------ setup --
    def setup(self) -> dict[str, object]:
        isolation.default_libc_signals()  # ignored when a parent was started by posix_spawn: no test may inherit that
        for name in PRELOAD:
            try:
                __import__(name)
            except ImportError:
                pass
        sys.dont_write_bytecode = True
        package = str(self.config.get("package_root") or os.path.join(os.path.dirname(os.path.abspath(runner.__file__)), "..", ".."))
        child_sources = {}
        for name in ("pytest_standin", "unittest_plan"):
            with open(os.path.join(package, "builder", "sandbox", name + ".py"), encoding="utf-8") as fh:
                child_sources[name] = fh.read()
        # PID 1 of a namespace only gets the signals it has a handler for: Python's SIGINT handler is the only one
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        euid = os.geteuid()
        root_dir = str(self.config.get("root_dir") or "")
        if root_dir:
            self.root_parent_fd = os.open(os.path.dirname(root_dir), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._try("cgroup", lambda: self._setup_cgroup())
        if self.cg is not None:
            self.notes["oom_score_adj"] = self.cg.oom_score_adj
        self._setup_namespaces(euid)
        if self.features["utsns"]:
            try:
                isolation.sethostname("sandbox")
            except OSError as exc:
                self.errors["utsns"] = str(exc)
        self.base_vm, self.base_rss = _vm_size(), _vm_size("VmHWM:")  # while /proc is the host's (a private root may have none)
        self._setup_uid(euid)
        if self.features["mountns"]:
            try:
                if not root_dir:
                    raise OSError("no root directory given")
                self.root_kind, self.stash = build_root(root_dir, self.uid, self.scratch_mb)
                self.protected = {path: tuple(t[len(path) + 1 :].split("/")[0] for _s, t in binds) for path, binds in self.stash.items()}
            except OSError as exc:  # nothing changed yet: carry on with the host's root (Landlock, below, guards it)
                self.features["mountns"] = False
                self.errors["mountns"] = f"minimal root: {exc}"
                self._setup_uid(euid)
        if not self.features["mountns"]:
            self._setup_scratch_dir(root_dir)
            self._setup_landlock()
        else:
            self.errors["landlock"] = "not needed (a private root)"
        self._setup_seccomp()
        if "nnp" in self.disabled:
            self.errors["nnp"] = "disabled"
        else:
            self.features["nnp"] = True
        self.per_test_ipc = self.features["ipcns"] and _can_unshare_ipc()
        self.notes["ipc"] = "a fresh IPC namespace per test" if self.per_test_ipc else (
            "one IPC namespace per zygote, emptied after every test" if self.features["ipcns"] else "the host's IPC namespace: the test's own objects are removed after it")
        self._harden()
        runner.prepare(child_sources)
        # what the zygote keeps of its configuration: nothing that names a folder of the host
        self.root_name = os.path.basename(root_dir)
        self.config = {"tag": self.config.get("tag")}
        self.base_vm, self.base_rss = max(self.base_vm, _vm_size()), max(self.base_rss, _vm_size("VmHWM:"))
        gc.collect()
        gc.freeze()  # the preloaded objects are never scanned again: fewer copy-on-write faults in every child
        return {
            "op": "hello",
            "pid": os.getpid(),
            "features": self.features,
            "errors": self.errors,
            "root": self.root_kind,
            "cgroup_version": self.cg.version if self.cg else None,
            "cgroup_parents": self.cg.parents if self.cg else {},
            "python": sys.version.split()[0],
            "notes": self.notes,
            "shared_uid": self.shared_uid,
            "id_map": self.id_map,
            "host_uid": self.host_uid,
            "landlock_abi": self.landlock.abi if self.landlock else 0,
        }

    def _try(self, feature: str, fn) -> None:  # type: ignore[no-untyped-def]
        if feature in self.disabled:
            self.errors[feature] = "disabled"
            return
        try:
            fn()
            self.features[feature] = True
        except OSError as exc:
            self.errors[feature] = str(exc)

    def _setup_cgroup(self) -> None:
        cg = cgroups.CgroupManager.create(str(self.config.get("tag", f"builder-sbx-{os.getpid()}")))
        try:
            cg.join()
        except OSError:
            cg.close()
            raise
        self.cg = cg

    def _setup_namespaces(self, euid: int) -> None:
        wanted = {
            "mountns": isolation.CLONE_NEWNS,
            "netns": isolation.CLONE_NEWNET,
            "ipcns": isolation.CLONE_NEWIPC,
            "utsns": isolation.CLONE_NEWUTS,
        }
        for name in list(wanted):
            if name in self.disabled:
                self.errors[name] = "disabled"
                del wanted[name]
        flags = 0
        for value in wanted.values():
            flags |= value
        direct: OSError | None = None
        if euid == 0 and flags:  # tier 1: root with CAP_SYS_ADMIN needs no user namespace
            try:
                isolation.unshare(flags)
                for name in wanted:
                    self.features[name] = True
                self.errors["userns"] = "not needed (root with CAP_SYS_ADMIN)"
                flags = 0
            except OSError as exc:
                direct = exc
        if flags or (euid != 0 and "pidns" not in self.disabled):
            if "userns" in self.disabled:
                self.errors["userns"] = "disabled"
            else:
                try:  # tier 2: a user namespace (a normal user; root in a container that allows them)
                    self._enter_userns()
                    self.features["userns"] = True
                except OSError as exc:
                    self.errors["userns"] = str(exc) + (f" (and without one, as root: {direct})" if direct else "")
        if flags:
            try:
                isolation.unshare(flags)
                for name in wanted:
                    self.features[name] = True
            except OSError:
                for name, flag in wanted.items():  # find out which ones work on their own
                    try:
                        isolation.unshare(flag)
                        self.features[name] = True
                    except OSError as exc:
                        self.errors[name] = str(exc)
        if self.features["mountns"]:
            try:
                isolation.mount(None, "/", None, isolation.MS_REC | isolation.MS_PRIVATE)
            except OSError as exc:
                self.features["mountns"] = False
                self.errors["mountns"] = str(exc)
        if "pidns" in self.disabled:
            self.errors["pidns"] = "disabled"
        else:
            try:
                isolation.unshare(isolation.CLONE_NEWPID)
                self.features["pidns"] = True
            except OSError as exc:
                self.errors["pidns"] = str(exc)
        if self.features["pidns"]:
            self._become_pid1()
        if not self.features["pidns"]:
            # no PID namespace: orphans of a test are reparented to us, and we kill them after each test
            isolation.prctl(isolation.PR_SET_CHILD_SUBREAPER, 1)
            self.proc_fd = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def _enter_userns(self) -> None:
        """unshare(CLONE_NEWUSER) and map the ids: the zygote is uid 0 inside, its own uid outside; the throwaway uid
        ``self.uid`` inside is mapped too where a process outside may write such a map — root with CAP_SETUID (as in a
        container that allows user namespaces: the same uid outside), or newuidmap/newgidmap with an /etc/subuid
        range (a normal user). Otherwise only the own uid is mapped and programs share it (``shared_uid``)."""
        uid, gid = os.getuid(), os.getgid()
        maps = _second_id_maps(uid, gid, self.uid)
        if maps is None or "uid" in self.disabled:
            isolation.unshare(isolation.CLONE_NEWUSER)
            self._map_own_ids(uid, gid)
            return
        method, writer, host_uid = maps
        go_r, go_w = os.pipe()
        done_r, done_w = os.pipe()
        helper = os.fork()
        if helper == 0:  # stays outside the new namespace: the kernel lets only a process of the parent write the maps
            answer = b"no"
            try:
                os.close(go_w)
                os.close(done_r)
                if os.read(go_r, 1) == b"1":
                    answer = (writer(os.getppid()) or "ok").encode()[:1000]
            except BaseException as exc:  # noqa: BLE001
                answer = f"{type(exc).__name__}: {exc}".encode()[:1000]
            finally:
                try:
                    os.write(done_w, answer)
                finally:
                    os._exit(0)
        os.close(go_r)
        os.close(done_w)
        try:
            isolation.unshare(isolation.CLONE_NEWUSER)
        except OSError:
            os.close(go_w)
            os.close(done_r)
            os.waitpid(helper, 0)
            raise
        os.write(go_w, b"1")
        os.close(go_w)
        answer = _read_all_fd(done_r).decode(errors="replace")
        os.close(done_r)
        os.waitpid(helper, 0)
        if answer == "ok":
            self.id_map = method
            self.host_uid = host_uid
            return
        self.map_error = f"{method}: {answer}"
        self._map_own_ids(uid, gid)  # the helper wrote nothing: map the own ids ourselves

    def _map_own_ids(self, uid: int, gid: int) -> None:
        _write_file("/proc/self/setgroups", "deny")
        _write_file("/proc/self/uid_map", f"0 {uid} 1")
        _write_file("/proc/self/gid_map", f"0 {gid} 1")
        self.id_map = "one uid"
        self.host_uid = uid
        self.shared_uid = True

    def _setup_uid(self, euid: int) -> None:
        """Can programs run as a throwaway uid (nothing else of the machine runs as it)?"""
        self.features["uid"] = False
        if "uid" in self.disabled:
            self.errors["uid"] = "disabled"
            if self.features["userns"]:
                self.shared_uid = True
            return
        if self.features["userns"]:
            if self.shared_uid:
                why = self.map_error or "a one-uid user namespace (no newuidmap/newgidmap, or no /etc/subuid range for this user)"
                self.errors["uid"] = why + ": programs run as the zygote's own uid with every capability dropped"
            else:
                self.features["uid"] = True
            return
        if euid != 0:
            self.errors["uid"] = "not root and no user namespace: no throwaway uid"
            return
        caps = isolation.effective_capabilities()
        if not caps & (1 << isolation.CAP_SETUID):
            self.errors["uid"] = "root without CAP_SETUID: no throwaway uid"
            return
        if not self.features["mountns"]:
            private = _private_folder(python_dirs())
            if private:
                self.errors["uid"] = (f"the Python installation is not readable by other users ({private} is private), so a "
                                      "throwaway uid could not run it: use a Python installed outside a private home "
                                      "folder (e.g. /usr/local, /opt)")
                return
            if not _uid_usable(self.uid):
                self.errors["uid"] = f"uid {self.uid} cannot be taken here (a user-namespace remapped container?)"
                return
        self.features["uid"] = True
        self.host_uid = self.uid

    def _setup_scratch_dir(self, root_dir: str) -> None:
        """Without a private root: the test's folder, inside the supervisor's root-only folder, owned by the throwaway
        uid and private to it (0700); the same folder (Landlock names it) is emptied after every test."""
        if not root_dir:
            return
        scratch = os.path.join(root_dir, "scratch")
        os.mkdir(scratch, 0o700)
        if self.features["uid"]:
            os.chmod(root_dir, 0o711)  # others may pass through to the scratch, not list
            os.chown(scratch, self.uid, self.gid)
        self.scratch_dir = scratch

    def _setup_landlock(self) -> None:
        if "landlock" in self.disabled:
            self.errors["landlock"] = "disabled"
            return
        if self.scratch_dir is None:
            self.errors["landlock"] = "no scratch folder"
            return
        read_exec = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc/ld.so.cache", "/etc/localtime"]
        read_exec += sorted({os.path.realpath(p) for p in python_dirs() if p and os.path.exists(p)})
        devices = [f"/dev/{name}" for name in ("null", "zero", "full", "random", "urandom")]
        try:
            self.landlock = isolation.LandlockRuleset(read_exec, [self.scratch_dir], devices)
            self.features["landlock"] = True
            self.notes["landlock"] = f"ABI {self.landlock.abi}" + (": TCP refused" if self.landlock.abi >= 4 else "") + (
                ", signals and abstract sockets scoped" if self.landlock.abi >= 6 else "")
        except OSError as exc:
            self.errors["landlock"] = str(exc)

    def _setup_seccomp(self) -> None:
        if "seccomp" in self.disabled:
            self.errors["seccomp"] = "disabled"
            return
        try:
            program = isolation.build_seccomp_filter(self_only=self.shared_uid) if isolation.seccomp_supported() else None
            if program is None:
                self.errors["seccomp"] = f"no seccomp filter for this architecture ({os.uname().machine}) or kernel"
            else:
                self.seccomp = isolation.SeccompFilter(program)
                self.features["seccomp"] = True
        except OSError as exc:
            self.errors["seccomp"] = str(exc)

    def _harden(self) -> None:
        """The zygote itself: not dumpable (its /proc files and memory need CAP_SYS_PTRACE over it, which no program
        has), and an empty capability bounding set (no exec by any process of a test can give a capability back)."""
        try:
            isolation.prctl(isolation.PR_SET_DUMPABLE, 0)
        except OSError as exc:
            self.notes["dumpable"] = str(exc)
        try:
            if isolation.effective_capabilities() & (1 << isolation.CAP_SETPCAP):
                # what the exec launcher (launcher.c), executed as uid 0, needs for its lock-down and drops before
                # the program runs; every test process clears its inheritable set too
                if isolation.keep_inheritable(LAUNCHER_CAPS):
                    self.notes["inheritable"] = "the launcher's (setuid, setgid, sys_admin, sys_resource)"
                isolation.drop_bounding_set()
                self.notes["bounding_set"] = "empty"
            else:
                self.notes["bounding_set"] = "kept (no CAP_SETPCAP)"
        except OSError as exc:
            self.notes["bounding_set"] = f"kept ({exc})"

    def _become_pid1(self) -> None:
        """Fork into the new PID namespace: the child (PID 1 there) is the zygote from now on; this process stays
        outside as a shim that the supervisor holds, and exits with it. As PID 1 the zygote gets every orphan of a
        test, and one ``kill(-1, SIGKILL)`` ends every process of the namespace but itself: one fork per test."""
        pid = os.fork()
        if pid == 0:
            isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)  # the shim is killed: so are we
            return
        # the shim: out of the test group (its pids would count), then wait for the zygote and exit like it
        if self.cg is not None:
            self.cg.leave()
        self.sock.close()
        try:
            _, status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            code = 1
        os._exit(code if code >= 0 else 128 - code)

    # ------------------------------------------------------------------------------------------------ serve --
    def serve(self) -> None:
        while True:
            try:
                msg, fds, _flags, _addr = socket.recv_fds(self.sock, 1 << 16, 8)
            except (ConnectionError, OSError):
                return
            if not msg:
                return
            request = json.loads(msg)
            if request.get("op") == "exit":
                return
            if request.get("op") == "cancel":  # it came after its test had ended: nothing to do, no reply
                for fd in fds:
                    os.close(fd)
                continue
            try:
                reply = self.run(request, fds)
            except Exception as exc:  # noqa: BLE001 - reported to the supervisor as a sandbox error
                reply = {"ok": False, "error": f"zygote: {type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-2000:]}
            finally:
                for fd in fds:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            try:
                self.sock.send(json.dumps(reply).encode())
            except OSError:
                return
            if reply.get("replace"):  # never reused dirty: the supervisor starts a fresh zygote for the next test
                return

    def run(self, request: dict[str, object], fds: list[int]) -> dict[str, object]:
        # a sixth: the binary of a native program (mode exec, builder/sandbox/native.py); a seventh: the exec launcher
        # that starts it (launcher.c), with the program's arguments in ``launch``
        launch = request.get("launch")
        if len(fds) not in (5, 6, 7) or (len(fds) == 7) != isinstance(launch, list):
            return {"ok": False, "error": f"zygote: expected 5 or 6 fds, or 7 with a launch, got {len(fds)}"}
        limits = request["limits"]
        assert isinstance(limits, dict)
        cpu_limit = float(limits["cpu_s"])
        wall_limit = float(limits["wall_s"])
        memory = int(limits["memory_mb"]) * MB
        snap = self.cg.prepare(memory, int(limits["max_processes"])) if self.cg else None
        if self.features["mountns"]:
            self._size_scratch(int(limits.get("scratch_mb", 64)))
            scratch = "/tmp"  # our private tmpfs, emptied after every test
        elif self.scratch_dir is not None:
            scratch = self.scratch_dir  # the test's private folder on the host, emptied after every test
        else:
            scratch = tempfile.mkdtemp(prefix="builder-run-")
        setup_r, setup_w = os.pipe()
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        ended: str | None = None
        try:
            # the launcher, unless it failed once here (then every binary starts from a forked interpreter)
            use_launcher = isinstance(launch, list) and self.launch_error is None
            pid = self._launch(limits, fds, setup_w, scratch, launch) if use_launcher else 0  # type: ignore[arg-type]
            launched = pid != 0
            if not launched:
                pid = os.fork()
            if pid == 0:  # the program's process
                try:
                    os.close(setup_r)
                    self._program(limits, fds, setup_w, scratch)
                except BaseException:  # noqa: BLE001
                    try:
                        os.write(self._setup_fd, ("program setup: " + traceback.format_exc()[-1500:]).encode())
                    except BaseException:  # noqa: BLE001
                        pass
                os._exit(SETUP_FAILED)
            os.close(setup_w)
            setup_w = -1
            killed, status, usage = self._wait(pid, snap, cpu_limit, wall_limit, started)
            reaped = time.monotonic()
            wall = reaped - started
            ended = self._end_tree()
            setup_error = _read_all_fd(setup_r).decode("utf-8", errors="replace")
        finally:
            os.close(setup_r)
            if setup_w >= 0:
                os.close(setup_w)
        # ``ended``: when the program was reaped (CLOCK_MONOTONIC, one clock for every zygote: which of two programs
        # connected by pipes ended first)
        reply: dict[str, object] = {"ok": not setup_error, "killed": killed, "wall_s": wall, "ended": reaped,
                                    "status": None if killed else status}
        if setup_error:
            reply["error"] = setup_error
        if launched:
            reply["launched"] = True
        elif self.launch_error:
            reply["launch_error"] = self.launch_error
        if self.cg is not None and snap is not None:
            usage_cg = self.cg.measure(snap)
            reply.update(cpu_s=usage_cg.cpu_s, peak_bytes=usage_cg.peak_bytes, oom_kills=usage_cg.oom_kills, pids_limited=usage_cg.pids_limited)
        else:  # no cgroup: what the test's tree cost, as reaped children; memory as the program's resident peak
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime + after.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
            # a forked child starts with the zygote's resident pages: what is above them is the program's own
            peak = max(0, usage.ru_maxrss * 1024 - self.base_rss)
            if launched:  # the launcher's few pages, then the binary's: the binary's own peak
                peak = usage.ru_maxrss * 1024
            elif len(fds) >= 6:  # a binary replaced the forked interpreter: its own peak, once above the fork's pages
                peak = usage.ru_maxrss * 1024 if usage.ru_maxrss * 1024 > self.base_rss else 0
            reply.update(cpu_s=cpu, peak_bytes=peak, oom_kills=0, pids_limited=False, memory_exceeded=peak >= memory)
        dirty = ended or self._clean_up(scratch)
        if dirty:
            reply["replace"] = dirty
        if self.reaper is not None:
            reply["reaper"] = self.reaper
        return reply

    def _clean_up(self, scratch: str) -> str | None:
        """Leave nothing of the test behind; return why the zygote must be replaced, or None.

        Whatever a program left (files of any kind, any depth, any mode, names at the path length limit), the scratch
        is either emptied or replaced by a fresh tmpfs; if even that fails, or the IPC namespace still holds objects,
        the zygote reports itself dirty and exits after this reply.
        """
        try:
            if self.features["mountns"]:
                for path in SCRATCH_DIRS:
                    if not _wipe_flat(path, self.protected.get(path, ())):
                        remount_scratch(path, self.scratch_mb, self.stash.get(path, ()))
            elif scratch == self.scratch_dir:
                left = empty_folder(scratch)
                if left:
                    return left
                os.chown(scratch, self.uid if self.features["uid"] else os.getuid(), self.gid if self.features["uid"] else os.getgid())
                os.chmod(scratch, 0o700)
            else:
                left = remove_tree(scratch)
                if left:
                    return left
            if not self.per_test_ipc:  # the test shared our IPC namespace: remove what it created there
                owner = None if self.features["ipcns"] else self.uid
                leftovers = sysv_ipc_objects(owner)
                if leftovers:
                    remove_sysv_ipc(leftovers)
                    if sysv_ipc_objects(owner):
                        return f"IPC objects outlived the test: {sysv_ipc_objects(owner)[:3]}"
        except Exception as exc:  # noqa: BLE001 - any failure to clean means: never reuse this zygote
            return f"cleanup failed: {type(exc).__name__}: {exc}"
        return None

    def _end_tree(self) -> str | None:
        """Kill and reap every process the test left (orphans are ours: we are PID 1 or a child subreaper); returns
        why the zygote must be replaced when some could not be ended, else None."""
        if self.features["pidns"]:
            try:
                os.kill(-1, signal.SIGKILL)  # as PID 1: every process of the namespace but us
            except ProcessLookupError:
                pass
            while True:
                try:
                    os.waitpid(-1, 0)
                except ChildProcessError:
                    return None
        if self.cg is not None:
            self.cg.kill_others()
        if self.features["uid"]:
            return self._kill_uid()
        if self.proc_fd is not None:
            _kill_descendants(self.proc_fd)
        return None

    def _kill_uid(self) -> str | None:
        """No PID namespace: every process of the test's uid (used by nothing else) is killed with one ``kill(-1,
        SIGKILL)`` made as that uid — the kernel walks every process under one lock, and a fork racing with it fails —
        then we reap them all: as a child subreaper we are the parent of every process of the test that is left, so
        when our only child is the reaper, none is. The kill is made by that reaper, which keeps the uid between tests
        (a pipe round trip; forking a killer per test costs ~10 ms); a program can neither signal it (Landlock ABI 6
        scopes signals to the test) nor make it stall the next test: if it is gone or does not answer, a killer is
        forked instead. (Looping on kill until ESRCH would never end: kill(-1) reports success while any process
        exists, the test's zombies included.)"""
        if self.reaper is None and self.features["uid"]:
            self._start_reaper()
        if self._reaper_ask(b"k") != b"k":
            killer = os.fork()
            if killer == 0:
                try:
                    os.setresgid(self.gid, self.gid, self.gid)
                    os.setresuid(self.uid, self.uid, self.uid)
                    isolation.clear_capabilities()  # the inheritable set too
                    try:
                        os.kill(-1, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                finally:
                    os._exit(0)
        deadline = time.monotonic() + 10.0
        while True:
            try:
                while True:  # every zombie there is now
                    pid, _ = os.waitpid(-1, os.WNOHANG)
                    if not pid:
                        break
                    if pid == self.reaper:
                        self._reaper_gone()
            except ChildProcessError:
                return None
            if self._children() <= {self.reaper}:
                return None
            if time.monotonic() > deadline:
                return "processes of the test could not be ended within 10 s"
            time.sleep(0.0002)

    def _children(self) -> set[int | None]:
        """Our children, zombies included (/proc/<pid>/task/<pid>/children; a scan of /proc where it is missing)."""
        me = os.getpid()
        try:
            fd = os.open(f"{me}/task/{me}/children", os.O_RDONLY, dir_fd=self.proc_fd)
            try:
                return {int(p) for p in _read_all_fd(fd).split()}
            finally:
                os.close(fd)
        except (OSError, TypeError):
            found: set[int | None] = set()
            for entry in os.listdir(self.proc_fd if self.proc_fd is not None else "/proc"):
                if entry.isdigit():
                    try:
                        fd = os.open(f"{entry}/stat", os.O_RDONLY, dir_fd=self.proc_fd)
                        try:
                            stat = os.read(fd, 4096)
                        finally:
                            os.close(fd)
                        if int(stat[stat.rindex(b")") + 2 :].split()[1]) == me:
                            found.add(int(entry))
                    except (OSError, ValueError):
                        continue
            return found

    def _start_reaper(self) -> None:
        """The reaper: our child, holding the throwaway uid, that kills every other process of it on request (``k``);
        it dies with us."""
        cmd_r, cmd_w = os.pipe()
        ans_r, ans_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.dup2(cmd_r, 0)
                os.dup2(ans_w, 1)
                isolation.close_from(2)
                os.setsid()
                os.setresgid(self.gid, self.gid, self.gid)
                os.setresuid(self.uid, self.uid, self.uid)
                isolation.clear_capabilities()  # the inheritable set too
                isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)  # after setresuid, which clears it
                while os.read(0, 1) == b"k":  # EOF when the zygote is gone
                    try:
                        os.kill(-1, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    os.write(1, b"k")
            finally:
                os._exit(0)
        os.close(cmd_r)
        os.close(ans_w)
        self.reaper, self.reaper_io = pid, (cmd_w, ans_r)

    def _reaper_ask(self, request: bytes) -> bytes | None:
        if self.reaper is None:
            return None
        cmd_w, ans_r = self.reaper_io
        try:
            os.write(cmd_w, request)
            ready, _, _ = select.select([ans_r], [], [], 1.0)
            answer = os.read(ans_r, 1) if ready else b""
        except OSError:
            answer = b""
        if not answer:  # killed by a test (before Landlock ABI 6), or stopped: a new one after this test
            self._reaper_gone(kill=True)
            return None
        return answer

    def _reaper_gone(self, kill: bool = False) -> None:
        """Forget the reaper (killed first when it stopped answering; reaped with the test's processes)."""
        if self.reaper is not None and kill:
            try:
                os.kill(self.reaper, signal.SIGKILL)
            except OSError:
                pass
        for fd in self.reaper_io:
            try:
                os.close(fd)
            except OSError:
                pass
        self.reaper, self.reaper_io = None, (-1, -1)

    def _wait(self, pid: int, snap: cgroups.Snapshot | None, cpu_limit: float, wall_limit: float, started: float):  # type: ignore[no-untyped-def]
        pidfd = os.pidfd_open(pid)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        poller.register(self.sock.fileno(), select.POLLIN | select.POLLHUP)
        killed: str | None = None
        # without a CPU accounting group: the program's own CPU clock (its threads; children have their RLIMIT_CPU)
        cpu_clock = None if self.cg is not None else ((~pid) << 3) | 2
        try:
            while True:
                now = time.monotonic()
                remaining_wall = started + wall_limit - now
                if remaining_wall <= 0:
                    killed = "wall"
                    break
                timeout = remaining_wall
                used: float | None = None
                if self.cg is not None and snap is not None:
                    used = self.cg.cpu_s() - snap.cpu_s
                elif cpu_clock is not None:
                    try:
                        used = time.clock_gettime(cpu_clock)
                    except OSError:  # it has just exited
                        used = None
                if used is not None:
                    remaining_cpu = cpu_limit - used
                    if remaining_cpu <= 0:
                        killed = "cpu"
                        break
                    timeout = min(timeout, max(0.002, remaining_cpu / self.ncpu))
                events = poller.poll(max(1, math.ceil(timeout * 1000)))
                if any(fd == pidfd for fd, _ in events):
                    break
                if any(fd == self.sock.fileno() for fd, _ in events):
                    if self._cancelled():  # the supervisor needs no more of this test (its interactor has decided)
                        killed = "cancelled"
                        break
                    os.kill(pid, signal.SIGKILL)  # the supervisor is gone: end the test and ourselves
                    self._end_tree()
                    os._exit(0)
            if killed is not None:
                os.kill(pid, signal.SIGKILL)
            _, status, usage = os.wait4(pid, 0)
        finally:
            os.close(pidfd)
        return killed, status, usage

    def _cancelled(self) -> bool:
        """Whether what woke us on the socket is a ``cancel`` request (else the supervisor is gone)."""
        try:
            msg = self.sock.recv(1 << 16, socket.MSG_DONTWAIT)
            return bool(msg) and json.loads(msg).get("op") == "cancel"
        except (OSError, ValueError):
            return False

    def _size_scratch(self, size_mb: int) -> None:
        if size_mb != self.scratch_mb:
            for path in SCRATCH_DIRS:
                flags = isolation.MS_REMOUNT | isolation.MS_NOSUID | isolation.MS_NODEV | (isolation.MS_NOEXEC if path == "/dev/shm" else 0)
                isolation.mount(None, path, None, flags, f"size={size_mb}m")
            self.scratch_mb = size_mb

    # ---------------------------------------------------------------------------------------------- program --
    def _launch(self, limits: dict, fds: list[int], setup_w: int, scratch: str, argv: list) -> int:
        """Start a binary through the exec launcher (``launcher.c``, the seventh descriptor): ``posix_spawn`` (no copy
        of this interpreter) of a program that does what :meth:`_program` does before it runs a binary, then executes
        it. Returns its pid, or 0 when it could not be started (``launch_error`` says why; the caller forks instead)."""
        uid = self.uid if self.features["uid"] else os.getuid()
        gid = self.gid if self.features["uid"] else os.getgid()
        flags = 0
        slots = {0: fds[1], 1: fds[2], 2: fds[3], 4: setup_w, 6: fds[5]}
        if self.per_test_ipc:
            flags |= L_IPC
        if self.cg is not None:
            flags |= L_CGROUP
            slots[7] = self.cg.leaf_procs_fd
        if self.seccomp is not None:
            flags |= L_SECCOMP
            slots[8] = self._seccomp_program()
        elif self.features["nnp"] or self.landlock is not None:
            flags |= L_NNP
        if self.landlock is not None:
            flags |= L_LANDLOCK
            slots[5] = self.landlock.fd
        cpu_soft, output, address_space, nproc = self._rlimits(limits)
        flags |= (L_AS if address_space is not None else 0) | (L_NPROC if nproc is not None else 0)
        flags |= L_UID if self.features["uid"] else 0
        if scratch != "/tmp" and scratch != self.scratch_dir:
            os.chown(scratch, uid, gid)
        parked: dict[int, int] = {}
        try:
            launcher = fcntl.fcntl(fds[6], fcntl.F_DUPFD_CLOEXEC, 64)
            parked[-1] = launcher
            for slot, fd in slots.items():  # above every slot first: a received descriptor may hold a slot's number
                parked[slot] = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 64)
            actions = [(os.POSIX_SPAWN_DUP2, fd, slot) for slot, fd in sorted(parked.items()) if slot >= 0]
            args = ["launcher", str(flags), str(cpu_soft), str(output), str(address_space or 0), str(nproc or 0), str(uid),
                    str(gid), scratch, "--", *(str(a) for a in argv)]
            return os.posix_spawn(f"/proc/self/fd/{launcher}", args, {}, file_actions=actions)
        except OSError as exc:
            self.launch_error = f"{type(exc).__name__}: {exc}"[:300]
            return 0
        finally:
            for fd in parked.values():
                os.close(fd)

    def _rlimits(self, limits: dict) -> tuple[int, int, int | None, int | None]:
        """A test's rlimits (both ways of starting a program set them): RLIMIT_CPU's soft limit (the hard one is a second
        above it), RLIMIT_FSIZE, RLIMIT_AS (None: not set) and RLIMIT_NPROC (None: not set)."""
        cpu_soft = max(1, math.ceil(float(limits["cpu_s"]))) + (1 if self.cg else 0)
        address_space = nproc = None
        if self.cg is None:  # no memory controller: the address space as a backstop (on top of what we inherit), with
            # room above the limit so that the verdict can come from the resident peak (``memory_exceeded``), as with a
            # memory cgroup, not from reservations (arenas, mmap) that never become resident
            address_space = int(limits["memory_mb"]) * MB * 5 // 4 + self.base_vm
        if self.features["uid"]:  # tier 3: the reaper holds the uid too
            nproc = int(limits["max_processes"]) + (1 if not self.features["pidns"] else 0)
        elif self.shared_uid:  # counted per (user namespace, uid): the shim and the zygote count too
            nproc = int(limits["max_processes"]) + 2
        return cpu_soft, int(limits["output_mb"]) * MB, address_space, nproc

    def _seccomp_program(self) -> int:
        """The seccomp filter as a sealed memfd of its raw BPF program, for the launcher (made once)."""
        if self.seccomp_fd is None:
            assert self.seccomp is not None
            self.seccomp_fd = sealed_memfd("seccomp", self.seccomp.program)
        return self.seccomp_fd

    def _program(self, limits: dict, fds: list[int], setup_w: int, scratch: str) -> None:
        """The program process: read the payload, write the files, lock down, run the program as ``__main__``.

        The zygote never reads the payload (the code and the files): only this process does, so nothing of one test's
        program stays in the memory that the next test's process inherits. Never returns.
        """
        self._setup_fd = setup_w
        os.setsid()
        self.sock.close()
        payload_fd = fds[0]
        payload = json.loads(read_fd(payload_fd, os.fstat(payload_fd).st_size))
        uid = self.uid if self.features["uid"] else os.getuid()
        gid = self.gid if self.features["uid"] else os.getgid()
        if scratch != "/tmp" and scratch != self.scratch_dir:
            os.chown(scratch, uid, gid)
        for name, data in payload.get("files", {}).items():
            path = os.path.join(scratch, name)
            with open(path, "wb") as fh:
                fh.write(bytes.fromhex(data))
            os.chown(path, uid, gid)
        code: str = payload["code"]
        argv: list[str] = payload.get("argv", [])
        nonce, mode, spec = str(payload["nonce"]), str(payload.get("mode") or "stdin"), payload.get("spec")
        del payload
        if self.per_test_ipc:  # System V and POSIX IPC of this test die with it
            isolation.unshare(isolation.CLONE_NEWIPC)
        if self.cg is not None:  # the test's own memory group: a memory kill can only hit this test
            self.cg.join_test()
        # move every fd out of the 0..4 range first, then into place: stdin, stdout, stderr, side channel, setup pipe
        moved = [os.dup(fd) for fd in (*fds[1:5], setup_w)]
        binary = native.park(fds[5]) if len(fds) > 5 else None
        for target, fd in enumerate(moved):
            os.dup2(fd, target, inheritable=True)
        self._setup_fd = 4
        keep = self.landlock.fd if self.landlock is not None else None
        if keep is not None:  # the prepared Landlock ruleset stays open until the program is confined to it
            keep = os.dup2(keep, 5, inheritable=False)
        if binary is not None:  # a native program's binary, at BINARY_FD: executed by fd, closed by that execve
            native.place(binary, keep is not None)
        else:
            isolation.close_from(6 if keep is not None else 5)
        os.chdir(scratch)
        cpu_soft, output, address_space, nproc = self._rlimits(limits)
        _setrlimit(resource.RLIMIT_CPU, cpu_soft, cpu_soft + 1)
        _setrlimit(resource.RLIMIT_FSIZE, output, output)
        _setrlimit(resource.RLIMIT_NOFILE, 256, 256)
        _setrlimit(resource.RLIMIT_CORE, 0, 0)
        _setrlimit(resource.RLIMIT_STACK, resource.RLIM_INFINITY, resource.RLIM_INFINITY)
        if address_space is not None:
            _setrlimit(resource.RLIMIT_AS, address_space, address_space)
        _raise_oom_score()
        if nproc is not None:
            _setrlimit(resource.RLIMIT_NPROC, nproc, nproc)
        if self.features["uid"]:
            try:
                os.setgroups([])
            except OSError:  # a user namespace whose setgroups is denied: the groups are not ours to change
                pass
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            isolation.clear_capabilities()  # setresuid left the inheritable set (see _harden): nothing is left now
        elif self.shared_uid:
            isolation.clear_capabilities()
        else:  # the zygote's own uid and capabilities, but not the inheritable set kept for the launcher (_harden)
            isolation.keep_inheritable(())
        if self.seccomp is not None:
            self.seccomp.install()
        elif self.features["nnp"] or self.landlock is not None:
            isolation.prctl(isolation.PR_SET_NO_NEW_PRIVS, 1)
        if self.landlock is not None and keep is not None:
            self.landlock.fd = keep
            self.landlock.restrict()
            os.close(keep)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a fresh interpreter
        atexit._clear()  # the zygote's own exit handlers are not the program's
        if mode in native.MODES:  # a compiler, or a compiled program: never returns
            native.run(mode, argv, spec, binary is not None)
        linecache.cache["solution.py"] = (len(code), None, code.splitlines(True), "solution.py")  # tracebacks show lines
        os.close(4)  # setup done: from here on, anything is the program's own doing
        status = runner.execute(code, 3, argv, nonce=nonce, mode=mode, spec=spec)
        os._exit(_finalize_like_cpython(status))


# ------------------------------------------------------------------------------------------------------ root --
def build_root(root: str, uid: int, scratch_mb: int) -> tuple[str, dict[str, tuple[tuple[str, str], ...]]]:
    """Mount a minimal read-only root at ``root`` and pivot into it.

    Returns how ("pivot_root" or "chroot") and the binds to redo whenever a scratch tmpfs is replaced: a Python
    environment that lives under ``/tmp`` or ``/dev/shm`` (a venv in /tmp is common in CI) is bound at its own path on
    top of the scratch tmpfs, from a root-only stash, so programs import from it as everywhere else.

    On top of the read-only root: ``/proc`` (a procfs with ``hidepid=2``: a program sees only processes of its own
    throwaway uid, i.e. its own test's, and the test's PID namespace holds nothing else), and two small tmpfs,
    ``/tmp`` (the scratch and working directory, root-owned and sticky like a real /tmp) and ``/dev/shm``, that the
    zygote empties (or replaces) after every test. No mount happens per test in the common case: a mount namespace
    per test cost ~5 ms here (its teardown waits for RCU grace periods), more than everything else together.
    """
    M = isolation
    M.mount("tmpfs", root, "tmpfs", M.MS_NOSUID | M.MS_NODEV, "size=1m,nr_inodes=4096,mode=0755")
    try:
        kind, proc, stashed = _populate_root(root, uid, scratch_mb)
    except BaseException:
        os.chdir("/")
        try:  # nothing of it stays: the host's root is still ours
            M.umount2(root, M.MNT_DETACH)
        except OSError:
            pass
        raise
    # past this point there is no way back to the host's root: a failure ends the zygote (never a half-built root)
    try:
        if kind == "pivot_root":
            M.umount2(".", M.MNT_DETACH)
        os.chdir("/")
        M.mount(None, "/", None, M.MS_REMOUNT | M.MS_RDONLY | M.MS_NOSUID | M.MS_NODEV)
    except OSError as exc:
        raise RuntimeError(f"minimal root after {kind}: {exc}") from exc
    return f"{kind}+{proc}", stashed


def _populate_root(root: str, uid: int, scratch_mb: int) -> tuple[str, str, dict[str, tuple[tuple[str, str], ...]]]:
    M = isolation
    bound: list[str] = []

    def covered(path: str) -> bool:
        return any(path == b or path.startswith(b.rstrip("/") + "/") for b in bound)

    def under_scratch(path: str) -> str | None:
        return next((d for d in SCRATCH_DIRS if path.startswith(d + "/")), None)

    stashed: dict[str, list[tuple[str, str]]] = {}

    def bind_dir(path: str) -> None:
        if covered(path) or not os.path.isdir(path):
            return
        scratch = under_scratch(path)
        if scratch is not None:
            stash = f"/.stash/{sum(len(v) for v in stashed.values())}"
            os.makedirs(root + stash, exist_ok=True)
            os.chmod(root + "/.stash", 0o700)
            M.bind_mount(path, root + stash, readonly=True, extra=M.MS_NODEV)
            stashed.setdefault(scratch, []).append((stash, path))
        else:
            os.makedirs(root + path, exist_ok=True)
            M.bind_mount(path, root + path, readonly=True, extra=M.MS_NODEV)
        bound.append(path)

    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            os.symlink(os.readlink(top), root + top)
        elif os.path.isdir(top):
            bind_dir(top)
    for path in sorted({os.path.realpath(p) for p in python_dirs() if p}, key=len):
        if path != "/" and os.path.isdir(path):
            bind_dir(path)
    for path in sorted({p for p in python_dirs() if p and os.path.realpath(p) != p and not os.path.exists(root + p)}):
        if os.path.islink(path) and not covered(path) and under_scratch(path) is None:  # a symlinked prefix: same link inside
            os.makedirs(os.path.dirname(root + path), exist_ok=True)
            os.symlink(os.readlink(path), root + path)
    os.makedirs(root + "/etc", exist_ok=True)
    _write_file(root + "/etc/passwd", f"root:x:0:0:root:/:/bin/false\nsandbox:x:{uid}:{uid}:sandbox:/tmp:/bin/false\n")
    _write_file(root + "/etc/group", f"root:x:0:\nsandbox:x:{uid}:\n")
    _write_file(root + "/etc/hostname", "sandbox\n")
    _write_file(root + "/etc/hosts", "127.0.0.1 localhost sandbox\n")
    for name in ("ld.so.cache", "localtime"):
        host = "/etc/" + name
        if os.path.islink(host):
            os.symlink(os.readlink(host), root + host)
        elif os.path.isfile(host):
            _write_file(root + host, "")
            M.bind_mount(host, root + host, readonly=True, extra=M.MS_NODEV)
    os.makedirs(root + "/dev/shm", exist_ok=True)
    for name in ("null", "zero", "full", "random", "urandom"):
        if os.path.exists("/dev/" + name):
            _write_file(root + "/dev/" + name, "")
            M.bind_mount("/dev/" + name, root + "/dev/" + name, readonly=False, extra=M.MS_NOEXEC)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, root + "/dev/" + name)
    os.makedirs(root + "/proc", exist_ok=True)
    os.makedirs(root + "/tmp", exist_ok=True)
    os.chmod(root + "/tmp", 0o1777)
    # every mount that can fail happens here, before pivot_root, while the host's root is still there to fall back to;
    # in a user namespace a new procfs is only allowed while a fully visible procfs is mounted ("mount_too_revealing"),
    # so /proc must come before the old root goes
    for path in SCRATCH_DIRS:
        flags = M.MS_NOSUID | M.MS_NODEV | (M.MS_NOEXEC if path == "/dev/shm" else 0)
        M.mount("tmpfs", root + path, "tmpfs", flags, scratch_options(path, scratch_mb))
        for source, target in stashed.get(path, ()):
            _bind_stashed(source, target, prefix=root)
    proc = mount_proc(root + "/proc")
    os.chdir(root)
    kind = "pivot_root"
    try:
        M.pivot_root(".", ".")
    except OSError:
        os.chroot(".")
        kind = "chroot"
    return kind, proc, {k: tuple(v) for k, v in stashed.items()}


def mount_proc(target: str) -> str:
    """A procfs of the zygote's PID namespace at ``target`` with ``hidepid=2`` (a program sees only its own test's
    processes); where the host's /proc is masked (a default container), no procfs at all rather than the host's."""
    M = isolation
    try:
        M.mount("proc", target, "proc", M.MS_NOSUID | M.MS_NODEV | M.MS_NOEXEC, "hidepid=2")
        return "proc"
    except OSError:
        return "no-proc"


def python_dirs() -> set[str]:
    """The folders this interpreter and its packages live in (what the sandbox root must show)."""
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    dirs.add(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    for entry in sys.path:
        if entry and ("site-packages" in entry or "dist-packages" in entry or entry.startswith(sys.base_prefix)):
            dirs.add(entry)
    return dirs


SCRATCH_DIRS = ("/tmp", "/dev/shm")
SCRATCH_MODE = 0o1777


def scratch_options(path: str, size_mb: int) -> str:
    inodes = 16384 if path == "/tmp" else 4096
    return f"size={size_mb}m,nr_inodes={inodes},mode={SCRATCH_MODE:o}"


def _wipe_flat(path: str, keep: tuple[str, ...] = ()) -> bool:
    """Empty ``path`` of plain entries (files, links, fifos) and restore its mode; False when it holds anything more
    (a directory, an entry that will not go), which the caller answers by replacing the whole tmpfs."""
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.name in keep:
                continue
            if entry.is_dir(follow_symlinks=False):
                return False
            try:
                os.unlink(entry.path)
            except OSError:
                return False
    st = os.lstat(path)
    if st.st_mode & 0o7777 != SCRATCH_MODE or st.st_uid != 0 or st.st_gid != 0:
        return False
    return True


def remove_tree(top: str) -> str | None:
    """Delete ``top`` and everything in it, whatever a program left there: any depth (no recursion), any name length
    (no full paths: it walks with chdir), any mode. Returns None, or why something is left."""
    stack: list[str] = []
    try:
        os.chdir(top)
        while True:
            descended = False
            with os.scandir(".") as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        os.chmod(entry.name, 0o700)
                        os.chdir(entry.name)
                        stack.append(entry.name)
                        descended = True
                        break
                    os.unlink(entry.name)
            if descended:
                continue
            if not stack:
                break
            os.chdir("..")
            os.rmdir(stack.pop())
        os.chdir("/")
        os.rmdir(top)
        return None
    except OSError as exc:
        try:
            os.chdir("/")
        except OSError:
            pass
        return f"could not remove {top}: {exc}"


def remount_scratch(path: str, size_mb: int, stash: tuple[tuple[str, str], ...] = ()) -> None:
    """Replace the scratch tmpfs at ``path`` by a fresh, empty one (and re-bind what lives under it)."""
    M = isolation
    M.umount2(path, M.MNT_DETACH)
    flags = M.MS_NOSUID | M.MS_NODEV | (M.MS_NOEXEC if path == "/dev/shm" else 0)
    M.mount("tmpfs", path, "tmpfs", flags, scratch_options(path, size_mb))
    for source, target in stash:
        _bind_stashed(source, target)


def _bind_stashed(source: str, target: str, prefix: str = "") -> None:
    """Bind a folder kept under ``/.stash`` (e.g. a Python environment that lives under /tmp) at ``target`` (both
    inside the sandbox's root, which is at ``prefix`` before ``pivot_root``)."""
    parts = target.strip("/").split("/")
    for i in range(2, len(parts) + 1):
        folder = prefix + "/" + "/".join(parts[:i])
        if not os.path.isdir(folder):
            os.mkdir(folder, 0o755)
    isolation.bind_mount(prefix + source, prefix + target, readonly=True, extra=isolation.MS_NODEV)


# --- IPC ----------------------------------------------------------------------------------------------------------
SYSVIPC = {"shm": "/proc/sysvipc/shm", "msg": "/proc/sysvipc/msg", "sem": "/proc/sysvipc/sem"}


def sysv_ipc_objects(owner: int | None = None) -> list[tuple[str, int]]:
    """(kind, id) of the SysV IPC objects of this IPC namespace (those of uid ``owner`` only, when given)."""
    found = []
    for kind, path in SYSVIPC.items():
        try:
            with open(path, encoding="ascii") as fh:
                header, *lines = fh.read().splitlines()
        except (OSError, ValueError):
            continue
        columns = header.split()
        uid_at = columns.index("uid") if "uid" in columns else None
        for line in lines:
            fields = line.split()
            if len(fields) < 2:
                continue
            if owner is not None and (uid_at is None or len(fields) <= uid_at or int(fields[uid_at]) != owner):
                continue
            found.append((kind, int(fields[1])))
    return found


def remove_sysv_ipc(objects: list[tuple[str, int]]) -> None:
    for kind, ident in objects:
        isolation.ipc_remove(kind, ident)


# --- ids ----------------------------------------------------------------------------------------------------------
def _sub_range(path: str, user: str, uid: int) -> tuple[int, int] | None:
    """The first subordinate id range of ``user`` (by name or number) in /etc/subuid or /etc/subgid."""
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                parts = line.strip().split(":")
                if len(parts) == 3 and parts[0] in (user, str(uid)) and parts[1].isdigit() and parts[2].isdigit() and int(parts[2]) > 0:
                    return int(parts[1]), int(parts[2])
    except OSError:
        pass
    return None


def _second_id_maps(uid: int, gid: int, throwaway: int):  # type: ignore[no-untyped-def]
    """How a process outside a new user namespace can map a second (throwaway) id into it, or None: ``(method,
    writer(pid) -> error or None, the throwaway uid as the host sees it)``."""
    caps = isolation.effective_capabilities()
    if os.geteuid() == 0 and caps & (1 << isolation.CAP_SETUID) and caps & (1 << 6):  # CAP_SETGID

        def privileged(pid: int) -> str | None:
            for kind in ("uid", "gid"):
                _write_file(f"/proc/{pid}/{kind}_map", f"0 {uid if kind == 'uid' else gid} 1\n{throwaway} {throwaway} 1\n")
            return None

        return "privileged", privileged, throwaway
    tools = {name: next((d + "/" + name for d in ("/usr/bin", "/bin", "/usr/local/bin") if os.access(d + "/" + name, os.X_OK)), None)
             for name in ("newuidmap", "newgidmap")}
    if None in tools.values():
        return None
    import pwd

    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    sub_uid, sub_gid = _sub_range("/etc/subuid", user, uid), _sub_range("/etc/subgid", user, uid)
    if sub_uid is None or sub_gid is None:
        return None
    host_uid = sub_uid[0] + throwaway % sub_uid[1]
    host_gid = sub_gid[0] + throwaway % sub_gid[1]

    def helpers(pid: int) -> str | None:
        import subprocess

        for tool, own, host in ((tools["newuidmap"], uid, host_uid), (tools["newgidmap"], gid, host_gid)):
            done = subprocess.run([tool, str(pid), "0", str(own), "1", str(throwaway), str(host), "1"], capture_output=True, text=True)
            if done.returncode != 0:
                return f"{os.path.basename(str(tool))}: {(done.stderr or done.stdout).strip()[:300] or done.returncode}"
        return None

    return "newuidmap", helpers, host_uid


def _uid_usable(uid: int) -> bool:
    """Can a child take ``uid`` here (a container with remapped users may not have it)?"""
    pid = os.fork()
    if pid == 0:
        try:
            os.setresuid(uid, uid, uid)
            os._exit(0)
        except BaseException:  # noqa: BLE001
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _private_folder(paths: set[str]) -> str | None:
    """The first folder on the way to one of ``paths`` that other users cannot pass (or read, for the last), else None."""
    for path in sorted({os.path.realpath(p) for p in paths if p}):
        if not os.path.exists(path):
            continue
        parts = path.split("/")
        for i in range(2, len(parts) + 1):
            folder = "/".join(parts[:i]) or "/"
            try:
                mode = os.stat(folder).st_mode
            except OSError:
                return folder
            if not mode & 0o001 or (i == len(parts) and not mode & 0o004):
                return folder
    return None


def empty_folder(path: str) -> str | None:
    """Remove everything inside ``path`` (any depth, any mode, any name length), keep the folder; None or why not."""
    try:
        os.chmod(path, 0o700)
        names = os.listdir(path)
    except OSError as exc:
        return f"could not empty {path}: {exc}"
    for name in names:
        entry = os.path.join(path, name)
        try:
            if os.path.isdir(entry) and not os.path.islink(entry):
                left = remove_tree(entry)
                if left:
                    return left
            else:
                os.unlink(entry)
        except OSError as exc:
            return f"could not empty {path}: {exc}"
    return None


# ----------------------------------------------------------------------------------------------------- utils --
def _raise_oom_score() -> None:
    """The test process: the first the OOM killer takes, whatever happens to the machine's memory (raising is always
    allowed), as the exec launcher makes a binary it starts.

    Opening the file is another matter: a process that is not dumpable (this one, forked from the zygote) has its
    /proc files owned by root of the namespace its memory was created in, and in a user namespace the zygote made
    itself that root is not mapped, so the open fails (EACCES). A dumpable process owns its files: the test process
    is made dumpable for that one open only. Only while it holds a capability, which no program has: a process can
    reach another's /proc files and memory only with every capability that one has (or CAP_SYS_PTRACE over it), so
    no program can make use of that moment. The write goes through the open descriptor after dumpable is off again."""
    try:
        _write_file("/proc/self/oom_score_adj", "1000")
        return
    except PermissionError:
        pass
    except OSError:
        return
    if not isolation.effective_capabilities():
        return  # no capability a program lacks: a program of the same uid could use the moment; the score stays
    try:
        isolation.prctl(isolation.PR_SET_DUMPABLE, 1)
    except OSError:
        return
    try:
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        fd = -1
    isolation.prctl(isolation.PR_SET_DUMPABLE, 0)  # not caught: a test process left dumpable runs no program
    if fd >= 0:
        try:
            os.write(fd, b"1000")
        except OSError:
            pass
        finally:
            os.close(fd)


def _write_file(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _read_all_fd(fd: int) -> bytes:
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _setrlimit(which: int, soft: int, hard: int) -> None:
    _cur_soft, cur_hard = resource.getrlimit(which)
    if cur_hard != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or hard > cur_hard) and os.geteuid() != 0:
        hard = cur_hard
        soft = min(soft, hard) if soft != resource.RLIM_INFINITY else hard
    resource.setrlimit(which, (soft, hard))


def _can_unshare_ipc() -> bool:
    """Can a forked test process get its own IPC namespace here? (tried once, in a throwaway child)"""
    pid = os.fork()
    if pid == 0:
        try:
            isolation.unshare(isolation.CLONE_NEWIPC)
            os._exit(0)
        except BaseException:  # noqa: BLE001
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _world_readable(path: str) -> bool:
    """Every directory on the way to ``path`` searchable, and ``path`` itself readable, by any user."""
    path = os.path.realpath(path)
    parts = path.split("/")
    for i in range(2, len(parts) + 1):
        try:
            mode = os.stat("/".join(parts[:i]) or "/").st_mode
        except OSError:
            return False
        if not mode & 0o001 or (i == len(parts) and not mode & 0o004):
            return False
    return True


def _vm_size(field: str = "VmSize:") -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _kill_descendants(proc: int | str = "/proc") -> None:
    """Without a PID namespace: SIGKILL every process reparented to us (we are a child subreaper), until none is left.

    ``proc`` is the procfs to scan: a path, or a directory fd kept from before ``pivot_root``.
    """
    me = os.getpid()
    for _round in range(1000):
        children = []
        try:
            for entry in os.listdir(proc):
                if entry.isdigit():
                    try:
                        if isinstance(proc, int):
                            fd = os.open(f"{entry}/stat", os.O_RDONLY, dir_fd=proc)
                        else:
                            fd = os.open(f"{proc}/{entry}/stat", os.O_RDONLY)
                        try:
                            stat = os.read(fd, 4096)
                        finally:
                            os.close(fd)
                        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
                    except (OSError, ValueError):
                        continue
                    if ppid == me:
                        children.append(int(entry))
        except OSError:
            pass
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        reaped = False
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                break
            reaped = True
        if not children and not reaped:
            time.sleep(0.001)


def _finalize_like_cpython(status: int) -> int:
    """What interpreter shutdown does after the program: atexit handlers, then flushing the standard streams.

    As in ``Py_FinalizeEx``: an exception in an atexit handler is printed and ignored, and a standard stream that is
    not closed but cannot be flushed makes the exit status 120 (so a forked run agrees with a fresh interpreter).
    """
    try:
        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is None or getattr(stream, "closed", False):
                continue
            stream.flush()
        except BaseException:  # noqa: BLE001
            status = 120
    return status


def main(config: dict[str, object], sock: socket.socket) -> None:
    """Set up, say hello, serve runs until the supervisor leaves (started by :mod:`builder.sandbox.boot`)."""
    zygote = Zygote(config, sock)
    try:
        hello = zygote.setup()
    except BaseException as exc:  # noqa: BLE001
        hello = {"op": "hello", "fatal": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-2000:]}
        sock.send(json.dumps(hello).encode())
        return
    _log(f"ready: {hello}")
    sock.send(json.dumps(hello).encode())
    try:
        zygote.serve()
    finally:
        if zygote.reaper is not None:  # gone before we are: nothing of the throwaway uid outlives the sandbox
            reaper = zygote.reaper
            zygote._reaper_gone(kill=True)
            try:
                os.waitpid(reaper, 0)
            except ChildProcessError:
                pass
        if zygote.cg is not None:  # also when the supervisor died without closing us
            try:
                zygote.cg.close()
            except OSError:
                pass
        if zygote.root_parent_fd is not None:  # the (empty) mount point on the host
            try:
                os.rmdir(zygote.root_name, dir_fd=zygote.root_parent_fd)
            except OSError:
                pass
