"""The fork-server executor: one warm, locked-down zygote per worker, one isolated child per test.

The supervisor (the worker process that calls :meth:`ForkServerSandbox.run`) starts the zygote
(``builder/sandbox/zygote.py``) with ``sys.executable -I`` in an empty environment, talks to it over a
``SOCK_SEQPACKET`` socket and hands it, per test, only memfds: the payload (code, argv, files), stdin, stdout,
stderr and the side channel. The supervisor keeps the expected outputs; it reads stdout/stderr/side channel and the
stdin offset from its own ends of the memfds after the zygote reports the run.

Isolation is detected when the zygote starts (it reports every feature it set up and why the others failed) and
the level is ``level`` / :meth:`describe`. Features can be switched off with ``disable=`` or the environment variable
``BUILDER_SANDBOX_DISABLE`` (comma-separated: userns, pidns, mountns, netns, ipcns, utsns, cgroup, seccomp, uid, nnp,
landlock, or ``namespaces`` / ``all``; and ``launcher``, which is not isolation and not part of ``all``: binaries start
from a forked interpreter instead of the exec launcher, ``builder/sandbox/launcher.py``). Without network and filesystem isolation the sandbox refuses to start unless
``allow_unsandboxed=True``.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from builder.core.errors import UserError
from builder.sandbox import base
from builder.sandbox.base import Limits, RunResult, Sandbox
from builder.sandbox.fdio import (
    drain,
    input_memfd,
    memfd,
    read_fd,
    side_socket,
    tail_fd,
    was_read,
)
from builder.sandbox.spawn import CHILD_ENV, PYTHON_FLAGS, SIDE_LIMIT, STDERR_TAIL

MB = 1024 * 1024
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
ALL_FEATURES = ("userns", "pidns", "mountns", "netns", "ipcns", "utsns", "cgroup", "seccomp", "uid", "nnp", "landlock")
#: what else can be switched off: not isolation (``all`` leaves it on), how a test of a binary starts
OPTIONS = ("launcher",)
NAMESPACE_FEATURES = ("userns", "pidns", "mountns", "netns", "ipcns", "utsns")
DISABLE_ENV = "BUILDER_SANDBOX_DISABLE"
#: throwaway uids: [UID_BASE, UID_BASE + UID_SPAN), one per sandbox (see ForkServerSandbox._claim_uid)
UID_BASE = 1_300_000_000
UID_SPAN = 1_000_000
TIER_NAMES = {
    1: "root namespaces (root with CAP_SYS_ADMIN)",
    2: "user namespaces",
    3: "no namespaces: throwaway uid + Landlock + seccomp",
    4: "unsandboxed",
}
#: marker in the zygote's command line (used by tests to find stray sandbox processes)
ZYGOTE_MARKER = "builder-sandbox-zygote"

#: the zygote's whole command line besides the interpreter: no folder of the host appears in it
_BOOT = (
    "import json, os, socket; s = socket.socket(fileno=os.dup(0)); c = json.loads(s.recv(1 << 16)); "
    "exec(compile(open(c['package_root'] + '/builder/sandbox/boot.py', encoding='utf-8').read(), 'sandbox/boot.py', "
    "'exec'), {'__name__': 'boot', 'config': c, 'sock': s})"
)


def parse_disable(values: Iterable[str] | str | None) -> frozenset[str]:
    """Feature names from a list or a comma-separated string; ``namespaces`` and ``all`` expand."""
    if values is None:
        return frozenset()
    items = values.split(",") if isinstance(values, str) else list(values)
    out: set[str] = set()
    for raw in items:
        name = raw.strip().lower()
        if not name:
            continue
        if name == "all":
            out.update(ALL_FEATURES)
        elif name in ("namespaces", "ns"):
            out.update(NAMESPACE_FEATURES)
        elif name in ALL_FEATURES or name in OPTIONS:
            out.add(name)
        else:
            raise UserError(f"unknown sandbox feature {name!r} in {DISABLE_ENV}/disable; known: {', '.join(ALL_FEATURES + OPTIONS)}, namespaces, all")
    return frozenset(out)


class _Zygote:
    """A started zygote process and the supervisor's end of its socket."""

    def __init__(self, python: str, config: dict[str, object]) -> None:
        self.root_dir = tempfile.mkdtemp(prefix=f"builder-sbx-root-{os.getpid()}-")
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = {**config, "root_dir": self.root_dir, "package_root": PACKAGE_ROOT}
        old_stack = resource.getrlimit(resource.RLIMIT_STACK)
        try:  # an unlimited stack rlimit at exec gives the legacy mmap layout: deep recursion has room to grow
            try:
                resource.setrlimit(resource.RLIMIT_STACK, (old_stack[1], old_stack[1]))
            except (ValueError, OSError):
                pass
            debug = bool(os.environ.get("BUILDER_SANDBOX_DEBUG"))
            env = dict(CHILD_ENV, **({"BUILDER_SANDBOX_DEBUG": "1"} if debug else {}))
            self.proc = subprocess.Popen(
                [python, *PYTHON_FLAGS, "-c", _BOOT, ZYGOTE_MARKER],
                stdin=child_sock.fileno(),
                stdout=subprocess.DEVNULL,
                stderr=None if debug else subprocess.DEVNULL,
                env=env,
                cwd="/",
                start_new_session=True,
            )
            parent_sock.send(json.dumps(config).encode())
        finally:
            try:
                resource.setrlimit(resource.RLIMIT_STACK, old_stack)
            except (ValueError, OSError):
                pass
            child_sock.close()
        self.sock = parent_sock
        self.hello: dict[str, object] = {}
        self.cgroup_parents: dict[str, str] = {}

    def handshake(self, timeout: float) -> dict[str, object]:
        self.sock.settimeout(timeout)
        msg = self.sock.recv(1 << 16)
        if not msg:
            raise OSError("the sandbox zygote exited during start-up")
        hello = json.loads(msg)
        if "fatal" in hello:
            raise OSError(f"the sandbox zygote failed to start: {hello['fatal']}")
        self.hello = hello
        self.cgroup_parents = dict(hello.get("cgroup_parents") or {})
        return hello

    def close(self, mode: str = "graceful") -> None:
        """End the zygote: "graceful" (ask, wait, then kill), "kill" (a stuck or broken one), or "detach" (at
        interpreter exit: ask and let it clean up after itself; we may be killed any moment, e.g. a pool worker)."""
        if mode in ("graceful", "detach") and self.proc.poll() is None:
            try:
                self.sock.settimeout(0.5)
                self.sock.send(json.dumps({"op": "exit"}).encode())
                self.sock.close()
                self.proc.wait(timeout=2.0 if mode == "graceful" else 0.3)
            except (OSError, subprocess.TimeoutExpired):
                pass
            if mode == "detach" and self.proc.poll() is None:
                return  # it saw the exit request or EOF: it removes its cgroups and mount point itself
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                pass
        try:
            self.sock.close()
        except OSError:
            pass
        from builder.sandbox import cgroups

        for _attempt in range(50):  # the zygote (PID 1 of its namespace) may take a moment to die after the shim
            cgroups.remove_parents(self.cgroup_parents)
            if not any(os.path.exists(p) for p in self.cgroup_parents.values()):
                break
            time.sleep(0.02)
        try:
            os.rmdir(self.root_dir)
        except OSError:
            shutil.rmtree(self.root_dir, ignore_errors=True)


_SWEPT: set[int] = set()


def _sweep_stale() -> None:
    """Once per process: remove cgroups and mount points left by sandboxes whose supervisor was killed."""
    if os.getpid() in _SWEPT:
        return
    _SWEPT.add(os.getpid())
    from builder.sandbox import cgroups

    cgroups.sweep_stale()
    prefix = "builder-sbx-root-"
    tmp = Path(tempfile.gettempdir())
    try:
        entries = [p for p in tmp.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return
    for path in entries:
        if cgroups._owner_dead(path.name, prefix):
            scratch = path / "scratch"  # tier 3: the test's folder (a mount point elsewhere is only ever empty here)
            if scratch.is_dir() and not scratch.is_symlink() and not os.path.ismount(scratch):
                shutil.rmtree(scratch, ignore_errors=True)
            try:
                path.rmdir()
            except OSError:
                pass


def _finalize(holder: list[_Zygote | None], mode: str = "detach") -> None:
    zygote = holder[0]
    if zygote is not None:
        holder[0] = None
        zygote.close(mode)


class ForkServerSandbox(Sandbox):
    """One warm zygote per worker process; every test is one fork of it, killed as a tree and wiped after.

    Constructor: ``ForkServerSandbox(*, allow_unsandboxed=False, disable=(), uid=None, python=sys.executable,
    scratch_mb=64, start_timeout_s=60.0)``. It starts the zygote at once (about 0.1 s) to learn the isolation level,
    and raises :class:`~builder.errors.UserError` when the programs would see the network or the user's files and
    ``allow_unsandboxed`` is not set.
    """

    def __init__(
        self,
        *,
        allow_unsandboxed: bool = False,
        disable: Iterable[str] | str | None = None,
        uid: int | None = None,
        python: str = sys.executable,
        scratch_mb: int = 64,
        start_timeout_s: float = 60.0,
    ) -> None:
        self.allow_unsandboxed = allow_unsandboxed
        self.disabled = parse_disable(disable) | parse_disable(os.environ.get(DISABLE_ENV))
        self.python = python
        self.scratch_mb = scratch_mb
        self.start_timeout_s = start_timeout_s
        self._uid_claim: socket.socket | None = None
        self.uid = uid if uid is not None else self._claim_uid()
        self._lock = threading.Lock()
        self._holder: list[_Zygote | None] = [None]
        self._owner_pid = os.getpid()
        self._finalizer = weakref.finalize(self, _finalize, self._holder)
        self.features: dict[str, bool] = {}
        self.errors: dict[str, str] = {}
        self.root_kind = "host"
        self.cgroup_version: str | None = None
        self.restarts = 0
        #: why zygotes were replaced after a test they could not clean up after
        self.replaced: list[str] = []
        self.notes: dict[str, str] = {}
        #: how the zygote's user namespace maps ids ("privileged", "newuidmap", "one uid"; "" without one)
        self.id_map = ""
        #: the uid programs run as, as the host sees it (None: unknown); programs share the zygote's when ``shared_uid``
        self.program_uid: int | None = None
        self.shared_uid = False
        self.landlock_abi = 0
        #: tier 3: the zygote's reaper (a process of the throwaway uid that kills every other after each test)
        self.reaper_pid: int | None = None
        self._start()
        if not self.isolated and not allow_unsandboxed:
            self.close()
            raise UserError(self.refusal())

    def _claim_uid(self) -> int:
        """A throwaway uid no other sandbox on this machine holds: an abstract unix socket named after it is bound for
        as long as this sandbox lives (the kernel releases it when the process ends: nothing to clean up). The range is
        far from real users, /etc/subuid ranges, systemd's dynamic users and ``nobody``: without a PID namespace (tier
        3) the uid is visible machine-wide, and every process of it is killed after each test."""
        start = os.getpid() % UID_SPAN
        for i in range(UID_SPAN):
            uid = UID_BASE + (start + i) % UID_SPAN
            claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                claim.bind(f"\0builder-sandbox-uid-{uid}")
            except OSError:
                claim.close()
                continue
            self._uid_claim = claim
            return uid
        raise UserError("no free throwaway uid for the sandbox (every one of the range is held)")

    # -- lifecycle ------------------------------------------------------------------------------------------
    def _start(self) -> _Zygote:
        _sweep_stale()
        tag = f"builder-sbx-{os.getpid()}-{secrets.token_hex(4)}"  # unique: several sandboxes per process are fine
        config = {"disable": sorted(self.disabled), "uid": self.uid, "tag": tag}
        zygote = _Zygote(self.python, config)
        try:
            hello = zygote.handshake(self.start_timeout_s)
        except (OSError, ValueError) as exc:
            zygote.close("kill")
            raise UserError(f"the fork-server sandbox could not start: {exc}") from None
        self._holder[0] = zygote
        self.features = {k: bool(v) for k, v in dict(hello["features"]).items()}  # type: ignore[arg-type]
        self.errors = dict(hello.get("errors") or {})  # type: ignore[arg-type]
        self.root_kind = str(hello.get("root", "host"))
        self.cgroup_version = hello.get("cgroup_version")  # type: ignore[assignment]
        self.notes = dict(hello.get("notes") or {})  # type: ignore[arg-type]
        self.id_map = str(hello.get("id_map") or "")
        self.shared_uid = bool(hello.get("shared_uid"))
        self.program_uid = hello.get("host_uid") if isinstance(hello.get("host_uid"), int) else None  # type: ignore[assignment]
        self.landlock_abi = int(hello.get("landlock_abi") or 0)  # type: ignore[arg-type]
        return zygote

    def _zygote(self) -> _Zygote:
        if os.getpid() != self._owner_pid:  # forked supervisor: never share the parent's zygote (nor its uid)
            self._holder = [None]
            self._owner_pid = os.getpid()
            if self._uid_claim is not None:
                self._uid_claim.close()
                self.uid = self._claim_uid()
            self._finalizer.detach()
            self._finalizer = weakref.finalize(self, _finalize, self._holder)
        zygote = self._holder[0]
        if zygote is None or zygote.proc.poll() is not None:
            if zygote is not None:
                zygote.close("kill")
                self.restarts += 1
            zygote = self._start()
        return zygote

    def close(self) -> None:
        if os.getpid() != self._owner_pid:
            return
        _finalize(self._holder, "graceful")

    # -- isolation level ---------------------------------------------------------------------------------------
    @property
    def tier(self) -> int:
        """The isolation tier reached (README, "Isolation tiers"): 1 root namespaces, 2 user namespaces, 3 no namespaces
        (throwaway uid + Landlock + seccomp), 4 nothing that keeps host files, network and environment away."""
        f = self.features
        if f.get("mountns") and f.get("netns"):
            return 2 if f.get("userns") else 1
        if f.get("uid") and f.get("landlock") and f.get("seccomp"):
            return 3
        return 4

    @property
    def isolated(self) -> bool:
        """True when programs see neither the network, the environment, host files, other candidates' data nor leave
        processes behind (tiers 1 to 3)."""
        return self.tier <= 3

    @property
    def level(self) -> str:  # type: ignore[override]
        f = self.features
        parts = []
        tier = self.tier
        if tier == 2:
            parts.append("userns")
        if tier in (1, 2):
            parts.append("namespaces")
        elif any(f.get(n) for n in NAMESPACE_FEATURES):
            parts.append("partial-namespaces")
        if f.get("uid"):
            parts.append("uid")
        if f.get("landlock"):
            parts.append("landlock")
        if f.get("cgroup"):
            parts.append("cgroup")
        if f.get("seccomp"):
            parts.append("seccomp")
        parts.append("rlimits")
        return (f"tier{tier}:" if tier <= 3 else "unsandboxed:") + "+".join(parts)

    def guarantees(self) -> dict[str, str]:
        """What programs cannot reach at the tier reached, each with the mechanism that keeps it out of reach."""
        f, tier = self.features, self.tier
        if tier == 4:
            return {"guarantee": "none: programs may see the network, host files and other processes (run with --allow-unsandboxed)"}
        proc = "no /proc" if self.root_kind.endswith("no-proc") else "/proc with hidepid=2"
        if tier in (1, 2):
            files = f"hidden: a minimal read-only root ({self.root_kind.split('+')[0]}: /usr, the Python installation, a few /etc files), {proc}"
            net = "none: a network namespace with only lo" + (", sockets refused by seccomp" if f.get("seccomp") else "")
            env = "empty; no other process is visible (PID namespace" + (", hidepid)" if proc.startswith("/proc") else ", no /proc)")
            others = "out of reach: a private mount namespace per worker, the scratch tmpfs emptied (or replaced) after every test"
        else:
            files = ("unreadable: Landlock allows only /usr, /lib*, the Python installation, a few /dev nodes and the test's own folder "
                     "(no /etc, /home, /tmp, /proc)")
            net = "none: sockets refused by seccomp" + (", TCP refused by Landlock" if self.landlock_abi >= 4 else "") + (
                ", a network namespace" if f.get("netns") else "")
            env = "empty; /proc is unreadable (Landlock)"
            others = ("out of reach: a throwaway uid per worker and a private folder (0700) emptied after every test; Landlock "
                      "confines each test to its own folder")
        if f.get("pidns"):
            procs = "none: a PID namespace whose PID 1 (the zygote) kills every process after each test"
        elif f.get("uid"):
            procs = "none: every process of the worker's throwaway uid killed after each test (one kill(-1) as that uid; the zygote reaps them as subreaper)"
        else:
            procs = "killed after each test: the zygote is a child subreaper and ends every descendant" + (" and every process of its cgroup" if f.get("cgroup") else "")
        if f.get("cgroup"):
            memory = (f"exact: the kernel's OOM kill in the test's own cgroup {self.cgroup_version} memory group (the zygote is not in it); "
                      "peak and CPU of the whole process tree from the group")
        else:
            memory = ("address space: RLIMIT_AS (the limit plus the interpreter's own size) per process, no memory cgroup: a program "
                      "whose virtual memory (mappings, thread stacks, arenas) exceeds it gets MemoryError (verdict memory); peak is the "
                      "largest process's RSS; CPU from the program's CPU clock and RLIMIT_CPU")
        if f.get("uid"):
            uid = {"newuidmap": "yes (newuidmap: a subordinate uid)", "privileged": "yes (mapped by root)"}.get(self.id_map, "yes")
        elif self.shared_uid:
            uid = "no: the zygote's own uid (one-uid user namespace) with every capability dropped, a non-dumpable zygote and self-only rlimit/scheduling calls"
        else:
            uid = "no"
        return {"host_files": files, "network": net, "environment": env, "other_candidates": others,
                "leftover_processes": procs, "memory_verdict": memory, "program_uid": uid}

    def refusal(self) -> str:
        """One line: why no tier protects host files, network and environment here, and how to get one."""
        e = {k: " ".join(str(v).split()) for k, v in self.errors.items()}
        if os.geteuid() != 0:
            why1 = "needs root"
        else:
            why1 = e.get("mountns") or e.get("netns") or "unavailable"
        why2 = e.get("userns") or e.get("mountns") or e.get("netns") or "unavailable"
        missing3 = [f"{name}: {e.get(name, 'unavailable')}" for name in ("uid", "landlock", "seccomp") if not self.features.get(name)]
        why3 = "; ".join(missing3) or "unavailable"
        return (f"no sandbox tier reachable here (tier 1, root with CAP_SYS_ADMIN: {why1} | tier 2, user namespaces: {why2} | "
                f"tier 3, root with CAP_SETUID + Landlock + seccomp: {why3}): refusing to run untrusted code; see the README's "
                "'Isolation tiers' for how to get one (docker: --cap-add SYS_ADMIN, or run as root, or allow user namespaces), "
                "or pass --allow-unsandboxed (in a recipe: execution.allow_unsandboxed = true) to run it anyway")

    def describe(self) -> dict[str, object]:
        f = self.features
        info: dict[str, object] = {
            "executor": "forkserver",
            "tier": self.tier,
            "tier_name": TIER_NAMES[self.tier],
            "level": self.level,
            "isolated": self.isolated,
        }
        info.update(self.guarantees())
        info.update({
            "namespaces": [n[:-2] for n in ("userns", "pidns", "mountns", "netns", "ipcns", "utsns") if f.get(n)],
            "root": ("minimal read-only root via " + self.root_kind) if f.get("mountns") else "host filesystem",
            "cgroup": f"{self.cgroup_version} memory+pids+cpu" if f.get("cgroup") else None,
            "seccomp": "bpf deny-list" if f.get("seccomp") else None,
            "landlock": self.notes.get("landlock") if f.get("landlock") else None,
            "throwaway_uid": bool(f.get("uid")),
            "no_new_privs": bool(f.get("nnp")),
            "rlimits": ["cpu", "fsize", "nofile", "stack", "core"] + ([] if f.get("cgroup") else ["as"]) + (["nproc"] if f.get("uid") or self.shared_uid else []),
            "ipc": self.notes.get("ipc"),
            "oom_score_adj": self.notes.get("oom_score_adj"),
            "bounding_set": self.notes.get("bounding_set"),
            "disabled": sorted(self.disabled),
            "unavailable": {k: v for k, v in sorted(self.errors.items()) if k not in self.disabled and not f.get(k) and "not needed" not in v},
        })
        return info

    # -- running ----------------------------------------------------------------------------------------------
    def run(
        self,
        code: str,
        stdin: bytes,
        limits: Limits,
        *,
        argv: Sequence[str] = (),
        files: Mapping[str, bytes] | None = None,
        mode: str = "stdin",
        spec: Mapping[str, str] | None = None,
        binary: int | None = None,
        streams: tuple[int, int] | None = None,
    ) -> RunResult:
        base.check_request(mode, binary, files)
        launcher = self._launcher() if mode == "exec" and not files else None
        nonce = base.new_nonce()
        payload = json.dumps(
            {"code": code, "argv": list(argv), "files": {k: bytes(v).hex() for k, v in (files or {}).items()},
             "nonce": nonce, "mode": mode, "spec": dict(spec or {})}
        ).encode("utf-8", "surrogatepass")
        header = json.dumps(
            {
                "op": "run",
                "limits": {
                    "cpu_s": limits.cpu_s,
                    "wall_s": limits.wall,
                    "memory_mb": limits.memory_mb,
                    "output_mb": limits.output_mb,
                    "max_processes": limits.max_processes,
                    "scratch_mb": max(self.scratch_mb, limits.file_size_mb),
                },
                **({"launch": list(argv)} if launcher is not None else {}),
            }
        ).encode()
        with self._lock:
            fds: list[int] = []
            try:
                if streams is not None:  # taken over (closed here): pipes to a program running beside this one
                    fds = list(streams)
                side, side_writer = side_socket()
                stdio = fds if streams is not None else [input_memfd(stdin), memfd("stdout")]
                fds = [memfd("payload", payload), *stdio, memfd("stderr"), side_writer, side]
                zygote = self._zygote()
                records = bytearray()
                sent = fds[:5] + ([binary] if binary is not None else []) + ([launcher] if launcher is not None else [])
                reply = self._exchange(zygote, header, sent, limits, side, records, streams is not None)
                if reply is None:
                    return RunResult(status=base.SANDBOX_ERROR, mode=mode, error="the sandbox zygote died or stopped answering; restarted")
                if reply.get("replace"):  # it could not clean up after this test: it exits, the next run starts afresh
                    self.replaced.append(str(reply["replace"])[:300])
                    self._holder[0] = None
                    zygote.close("graceful")
                    self.restarts += 1
                self.reaper_pid = reply.get("reaper") if isinstance(reply.get("reaper"), int) else None  # type: ignore[assignment]
                drain(side, records, SIDE_LIMIT)  # what is left: every writer is gone by now
                result = self._result(reply, fds, limits, nonce, mode, bytes(records))
                if streams is not None:  # the caller judges what went through the pipes, and whether stdin was read
                    result.stdout, result.stdin_consumed = b"", False
                return result
            except OSError as exc:
                return RunResult(status=base.SANDBOX_ERROR, error=f"{type(exc).__name__}: {exc}")
            finally:
                for fd in fds:
                    os.close(fd)

    def _launcher(self) -> int | None:
        """The exec launcher's memfd for a test of a binary, or None: disabled, or it cannot be built here."""
        if "launcher" in self.disabled:
            return None
        from builder.sandbox.launcher import launcher_fd

        return launcher_fd()

    def cancel(self) -> None:
        """End the test running now (from another thread), as the wall limit would: its result says ``killed`` =
        ``cancelled``. A cancel that comes after the test ended is ignored."""
        zygote = self._holder[0]
        if zygote is not None:
            try:
                zygote.sock.send(json.dumps({"op": "cancel"}).encode())
            except OSError:
                pass

    def _exchange(self, zygote: _Zygote, header: bytes, fds: list[int], limits: Limits, side: int, records: bytearray,
                  piped: bool = False) -> dict[str, object] | None:
        """Send the test, then wait for the zygote's reply while draining the side channel (up to SIDE_LIMIT kept).
        ``piped``: stdin and stdout are pipes to another program, closed here as soon as the zygote holds them."""
        try:
            zygote.sock.settimeout(10.0)
            socket.send_fds(zygote.sock, [header], fds)
            null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
            for i in (1, 2, 4) if piped else (4,):
                # our copy of the program's end of the side channel (and of its pipes): the zygote holds its own now;
                # /dev/null takes its number in one step (closed with the others: no other thread can get that number)
                os.dup2(null, fds[i], inheritable=False)
            os.close(null)
            poller = select.poll()
            poller.register(zygote.sock.fileno(), select.POLLIN | select.POLLHUP)
            poller.register(side, select.POLLIN)
            deadline = time.monotonic() + limits.wall + 30.0
            side_open = True
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise OSError("the zygote did not answer in time")
                events = dict(poller.poll(max(1, int(remaining * 1000))))
                if side in events and side_open:
                    side_open = drain(side, records, SIDE_LIMIT)
                    if not side_open:
                        poller.unregister(side)
                if zygote.sock.fileno() in events:
                    break
            zygote.sock.settimeout(1.0)
            msg = zygote.sock.recv(1 << 20)
            if not msg:
                raise OSError("EOF from zygote")
            return json.loads(msg)
        except (OSError, ValueError):
            self._holder[0] = None
            zygote.close("kill")
            self.restarts += 1
            return None

    def _result(self, reply: dict[str, object], fds: list[int], limits: Limits, nonce: str, mode: str, side: bytes) -> RunResult:
        _payload, stdin_fd, stdout_fd, stderr_fd, _side_writer, _side = fds
        output = limits.output_mb * MB
        out_size = os.fstat(stdout_fd).st_size
        records = base.read_records(side, nonce)
        exception = records.exception
        result = RunResult(
            status=base.EXITED,
            mode=mode,
            stdout=read_fd(stdout_fd, output),
            stderr_tail=tail_fd(stderr_fd, STDERR_TAIL),
            stdin_consumed=was_read(stdin_fd),
            cpu_s=round(float(reply.get("cpu_s") or 0.0), 4),  # type: ignore[arg-type]
            wall_s=round(float(reply.get("wall_s") or 0.0), 4),  # type: ignore[arg-type]
            peak_memory_mb=round(int(reply.get("peak_bytes") or 0) / MB, 2),  # type: ignore[arg-type]
        )
        result.extra = {"oom_kills": reply.get("oom_kills", 0), "pids_limited": reply.get("pids_limited", False),
                        "ended": reply.get("ended"), "launched": bool(reply.get("launched"))}
        if reply.get("launch_error"):
            result.extra["launch_error"] = reply["launch_error"]
        records.apply(result)
        if reply.get("killed"):
            result.extra["killed"] = reply["killed"]
        if not reply.get("ok"):
            result.status = base.SANDBOX_ERROR
            result.error = str(reply.get("error", "unknown zygote error"))[-2000:]
            return result
        status = reply.get("status")
        if reply.get("killed"):
            result.status = base.TIMEOUT
            return result
        if not isinstance(status, int):
            if int(reply.get("oom_kills") or 0) > 0:  # the OOM killer hit the init: still the program's memory
                result.status = base.MEMORY
                return result
            result.status = base.SANDBOX_ERROR
            result.error = f"the test's init died without a report (status {reply.get('init_status')})"
            return result
        if os.WIFSIGNALED(status):
            result.status = base.SIGNALED
            result.signal = os.WTERMSIG(status)
        else:
            result.exit_code = os.WEXITSTATUS(status)
        if result.signal == signal.SIGXCPU or result.cpu_s > limits.cpu_s:
            result.status = base.TIMEOUT
        elif int(reply.get("oom_kills") or 0) > 0 or exception == "MemoryError" or reply.get("memory_exceeded"):  # type: ignore[arg-type]
            result.status = base.MEMORY
        elif out_size >= output or result.signal == signal.SIGXFSZ:
            result.status = base.OUTPUT_LIMIT
        return result


__all__ = ["ForkServerSandbox", "parse_disable", "DISABLE_ENV", "ZYGOTE_MARKER"]
