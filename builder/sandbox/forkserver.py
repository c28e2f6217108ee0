"""The fork-server executor: one warm, locked-down zygote per worker, one isolated child per test.

The supervisor (the worker process that calls :meth:`ForkServerSandbox.run`) starts the zygote
(``builder/sandbox/zygote.py``) with ``sys.executable -I`` in an empty environment, talks to it over a
``SOCK_SEQPACKET`` socket and hands it, per test, only memfds: the payload (code, argv, files), stdin, stdout,
stderr and the side channel. The supervisor keeps the expected outputs; it reads stdout/stderr/side channel and the
stdin offset from its own ends of the memfds after the zygote reports the run.

Isolation is detected when the zygote starts (it reports every feature it set up and why the others failed) and
the level is ``level`` / :meth:`describe`. Features can be switched off with ``disable=`` or the environment variable
``BUILDER_SANDBOX_DISABLE`` (comma-separated: userns, pidns, mountns, netns, ipcns, utsns, cgroup, seccomp, uid, nnp,
or ``namespaces`` / ``all``). Without network and filesystem isolation the sandbox refuses to start unless
``allow_unsandboxed=True``.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
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
from builder.sandbox.fdio import input_memfd, memfd, read_fd, side_channel, tail_fd, was_read
from builder.sandbox.spawn import CHILD_ENV, PYTHON_FLAGS, SIDE_LIMIT, STDERR_TAIL

MB = 1024 * 1024
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
ALL_FEATURES = ("userns", "pidns", "mountns", "netns", "ipcns", "utsns", "cgroup", "seccomp", "uid", "nnp")
NAMESPACE_FEATURES = ("userns", "pidns", "mountns", "netns", "ipcns", "utsns")
DISABLE_ENV = "BUILDER_SANDBOX_DISABLE"
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
        elif name in ALL_FEATURES:
            out.add(name)
        else:
            raise UserError(f"unknown sandbox feature {name!r} in {DISABLE_ENV}/disable; known: {', '.join(ALL_FEATURES)}, namespaces, all")
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
            try:
                path.rmdir()  # empty directories only
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
        self.uid = uid if uid is not None else 60000 + os.getpid() % 30000
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
        self._start()
        if not self.isolated and not allow_unsandboxed:
            self.close()
            missing = [f for f in ("mountns", "netns") if not self.features.get(f)]
            reasons = "; ".join(f"{f}: {self.errors.get(f, 'unavailable')}" for f in missing)
            raise UserError(
                f"no sandbox isolation available here ({reasons}): refusing to run untrusted code; "
                "pass --allow-unsandboxed (allow_unsandboxed=True) to run it anyway"
            )

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
        return zygote

    def _zygote(self) -> _Zygote:
        if os.getpid() != self._owner_pid:  # forked supervisor: never share the parent's zygote
            self._holder = [None]
            self._owner_pid = os.getpid()
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

    # -- isolation level --------------------------------------------------------------------------------------
    @property
    def isolated(self) -> bool:
        """True when programs see neither the network nor the user's files."""
        return bool(self.features.get("mountns") and self.features.get("netns"))

    @property
    def level(self) -> str:  # type: ignore[override]
        parts = []
        f = self.features
        if self.isolated:
            parts.append("namespaces")
        elif any(f.get(n) for n in NAMESPACE_FEATURES):
            parts.append("partial-namespaces")
        if f.get("cgroup"):
            parts.append("cgroup")
        if f.get("seccomp"):
            parts.append("seccomp")
        parts.append("rlimits")
        return "+".join(parts) if self.isolated else ("unsandboxed:" + "+".join(parts))

    def describe(self) -> dict[str, object]:
        f = self.features
        return {
            "executor": "forkserver",
            "level": self.level,
            "isolated": self.isolated,
            "namespaces": [n[:-2] for n in ("userns", "pidns", "mountns", "netns", "ipcns", "utsns") if f.get(n)],
            "root": ("minimal read-only root via " + self.root_kind) if f.get("mountns") else "host filesystem",
            "cgroup": f"{self.cgroup_version} memory+pids+cpu" if f.get("cgroup") else None,
            "seccomp": "bpf deny-list" if f.get("seccomp") else None,
            "throwaway_uid": bool(f.get("uid")),
            "no_new_privs": bool(f.get("nnp")),
            "rlimits": ["cpu", "fsize", "nofile", "stack", "core"] + ([] if f.get("cgroup") else ["as"]) + (["nproc"] if f.get("uid") else []),
            "ipc": self.notes.get("ipc"),
            "oom_score_adj": self.notes.get("oom_score_adj"),
            "disabled": sorted(self.disabled),
            "unavailable": {k: v for k, v in sorted(self.errors.items()) if k not in self.disabled and not f.get(k) and "not needed" not in v},
        }

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
    ) -> RunResult:
        for name in files or {}:
            if not name or "/" in name or name in (".", "..") or "\0" in name:
                raise ValueError(f"scratch file names must be plain names, got {name!r}")
        if mode not in base.MODES:
            raise ValueError(f"unknown run mode {mode!r}")
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
            }
        ).encode()
        with self._lock:
            fds: list[int] = []
            try:
                side, side_writer = side_channel()
                fds = [memfd("payload", payload), input_memfd(stdin), memfd("stdout"), memfd("stderr"), side_writer, side]
                zygote = self._zygote()
                reply = self._exchange(zygote, header, fds[:5], limits)
                if reply is None:
                    return RunResult(status=base.SANDBOX_ERROR, mode=mode, error="the sandbox zygote died or stopped answering; restarted")
                if reply.get("replace"):  # it could not clean up after this test: it exits, the next run starts afresh
                    self.replaced.append(str(reply["replace"])[:300])
                    self._holder[0] = None
                    zygote.close("graceful")
                    self.restarts += 1
                return self._result(reply, fds, limits, nonce, mode)
            except OSError as exc:
                return RunResult(status=base.SANDBOX_ERROR, error=f"{type(exc).__name__}: {exc}")
            finally:
                for fd in fds:
                    os.close(fd)

    def _exchange(self, zygote: _Zygote, header: bytes, fds: list[int], limits: Limits) -> dict[str, object] | None:
        try:
            zygote.sock.settimeout(10.0)
            socket.send_fds(zygote.sock, [header], fds)
            zygote.sock.settimeout(limits.wall + 30.0)
            msg = zygote.sock.recv(1 << 20)
            if not msg:
                raise OSError("EOF from zygote")
            return json.loads(msg)
        except (OSError, ValueError):
            self._holder[0] = None
            zygote.close("kill")
            self.restarts += 1
            return None

    def _result(self, reply: dict[str, object], fds: list[int], limits: Limits, nonce: str, mode: str) -> RunResult:
        _payload, stdin_fd, stdout_fd, stderr_fd, _side_writer, side_fd = fds
        output = limits.output_mb * MB
        out_size = os.fstat(stdout_fd).st_size
        records = base.read_records(read_fd(side_fd, SIDE_LIMIT), nonce)
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
        result.extra = {"oom_kills": reply.get("oom_kills", 0), "pids_limited": reply.get("pids_limited", False)}
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
        elif int(reply.get("oom_kills") or 0) > 0 or exception == "MemoryError":  # type: ignore[arg-type]
            result.status = base.MEMORY
        elif out_size >= output or result.signal == signal.SIGXFSZ:
            result.status = base.OUTPUT_LIMIT
        return result


__all__ = ["ForkServerSandbox", "parse_disable", "DISABLE_ENV", "ZYGOTE_MARKER"]
