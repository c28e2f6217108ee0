"""cgroup v2 for the fork-server: the whole code path against a fake cgroupfs, the core semantics against the real one.

This machine's memory and pids controllers are bound to cgroup v1 (the VM agent's groups live there), so no real v2
hierarchy with them can be had here. The v2 path of ``builder.sandbox.cgroups`` is therefore driven through its I/O
seam against ``fake_cgroup2.FakeCgroup2`` (delegated user scope, root, kernels before and after the per-fd
``memory.peak`` reset, no swap accounting, no delegation), test by test as the zygote uses it; and the rules that fake
encodes for the layout — no internal processes, delegation (owner of the group and of the common ancestor),
``cgroup.kill``, ``cpu.stat`` — are checked on the real unified hierarchy with the one controller it has (hugetlb),
through the same functions, as root.
"""

from __future__ import annotations

import errno
import os
import signal
import time

import pytest

from builder.sandbox import cgroups
from builder.sandbox.cgroups import CgroupManager, make_v2_parent
from tiers.fake_cgroup2 import FakeCgroup2

MB = 1 << 20
SCOPE = "/user.slice/user-1000.slice/user@1000.service/app.slice/builder.scope"


def _delegated(kernel: str = "6.12", swap: bool = True, uid: int = 1000, owner: int = 1000) -> FakeCgroup2:
    """A systemd-like host: controllers enabled down to a scope delegated to ``owner`` (Delegate=yes), which holds the
    supervisor (100), the zygote-to-be (200) and another process of the user (150)."""
    fs = FakeCgroup2(kernel=kernel, swap=swap, uid=0)
    path = ""
    for part in SCOPE.strip("/").split("/"):
        fs.group(path or "/").subtree = ["cpu", "memory", "pids"]  # enabled by the service manager down to the scope
        fs.mkdir(f"{fs.mount}{path}/{part}")
        path += "/" + part
    fs.group(SCOPE).owner = owner
    for pid in (100, 150, 200):
        fs.spawn(pid, SCOPE)
    fs.uid, fs.writer = uid, 200
    return fs


def _create(fs: FakeCgroup2, own: str = SCOPE, euid: int = 1000, tag: str = "builder-sbx-100-ab12") -> CgroupManager:
    return CgroupManager.create(tag, prefer="v2", fs=fs, mounts={"cgroup2": fs.mount}, own={"": own}, euid=euid)


def _run_test(fs: FakeCgroup2, cg: CgroupManager, pid: int, charge_mb: int, limit_mb: int = 256, burn_us: int = 0, max_pids: int = 16):
    """One test as the zygote runs it: limits, fork, the child joins the leaf, it uses memory and CPU, it ends."""
    snap = cg.prepare(limit_mb * MB, max_pids)
    fs.fork(200, pid)
    fs.writer = pid
    cg.join_test()
    fs.writer = 200
    leaf = cg.leaf
    assert fs.where[pid] is fs.group(leaf)
    survived = fs.charge(pid, charge_mb * MB)
    if burn_us and survived:
        fs.burn(pid, burn_us)
    if pid in fs.where:
        fs.exit(pid)
    fs.uncharge(leaf, fs.group(leaf).mem_current)
    return cg.measure(snap), survived


def test_a_delegated_user_scope_gets_the_v2_layout_and_exact_measurements() -> None:
    fs = _delegated()
    cg = _create(fs)
    parent = f"{fs.mount}{SCOPE}/builder-sbx-100-ab12"
    assert cg.version == "v2" and cg.parents == {"unified": parent} and cg.leaf == parent + "/test"
    # the scope's own processes moved into a leaf first (no internal processes), then controllers on, down to the leaves
    assert fs.group(SCOPE).procs == set() and fs.group(SCOPE + "/builder-leaf").procs == {100, 150, 200}
    assert fs.group(SCOPE).subtree == ["memory", "pids", "cpu"] and fs.group(parent).subtree == ["memory", "pids", "cpu"]
    assert cg.v2_controllers == ("memory", "pids", "cpu") and cg.peak_mode == "reset"
    cg.join()
    assert fs.where[200] is fs.group(parent + "/zygote")
    assert fs.group(parent + "/test").oom_group == 1
    first, _ = _run_test(fs, cg, 201, charge_mb=100, burn_us=300_000)
    assert first.peak_bytes == 100 * MB and first.oom_kills == 0 and abs(first.cpu_s - 0.3) < 1e-6
    second, _ = _run_test(fs, cg, 202, charge_mb=10)
    assert second.peak_bytes == 10 * MB  # the peak is this test's, not the all-time one (per-fd reset, 6.12+)
    assert fs.group(parent + "/test").mem_max == 256 * MB and fs.group(parent + "/test").swap_max == 0


def test_a_memory_kill_only_ever_takes_the_test() -> None:
    fs = _delegated()
    cg = _create(fs)
    cg.join()
    usage, survived = _run_test(fs, cg, 201, charge_mb=300, limit_mb=256)
    assert not survived and usage.oom_kills == 1 and 201 in fs.killed
    assert 200 in fs.where, "the zygote is not in the test's group: the OOM killer cannot choose it"
    after, survived = _run_test(fs, cg, 202, charge_mb=50)
    assert survived and after.oom_kills == 0 and after.peak_bytes == 50 * MB


def test_the_process_limit_and_cgroup_kill_hold_the_whole_tree() -> None:
    fs = _delegated()
    cg = _create(fs)
    cg.join()
    snap = cg.prepare(256 * MB, 2)
    fs.fork(200, 301)
    fs.writer = 301
    cg.join_test()
    fs.writer = 200
    fs.fork(301, 302)
    with pytest.raises(BlockingIOError):
        fs.fork(301, 303)
    assert cg.measure(snap).pids_limited
    cg.kill_others()
    assert {301, 302} <= set(fs.killed) and 200 in fs.where
    assert fs.group(cg.leaf).procs == set()


@pytest.mark.parametrize("uid", [1000, 0])
def test_before_linux_6_12_every_test_gets_a_fresh_leaf(uid: int) -> None:
    """memory.peak cannot be reset there (read-only: a user cannot open it for writing, root's write fails): a new
    leaf per test keeps the peak the test's own."""
    fs = _delegated(kernel="6.6", uid=uid)
    cg = _create(fs, euid=uid)
    assert cg.peak_mode == "fresh leaf"
    cg.join()
    first, _ = _run_test(fs, cg, 201, charge_mb=100)
    second, _ = _run_test(fs, cg, 202, charge_mb=10)
    assert (first.peak_bytes, second.peak_bytes) == (100 * MB, 10 * MB)
    parent = fs.group(cg.parents["unified"])
    assert sorted(parent.children) == ["test2", "zygote"]  # the old leaves are gone


def test_no_swap_accounting_and_no_memory_peak_are_tolerated() -> None:
    fs = _delegated(kernel="5.15", swap=False)
    cg = _create(fs)
    assert cg.peak_mode == "none"
    cg.join()
    usage, _ = _run_test(fs, cg, 201, charge_mb=20)
    assert usage.oom_kills == 0 and usage.peak_bytes == 0  # the verdict still comes from oom_kill; no peak to show


def test_a_second_sandbox_does_not_nest_the_evacuation_leaf() -> None:
    fs = _delegated()
    first = _create(fs, tag="builder-sbx-100-0001")
    second = _create(fs, own=SCOPE + "/builder-leaf", tag="builder-sbx-100-0002")  # /proc/self/cgroup after the move
    assert os.path.dirname(first.parents["unified"]) == os.path.dirname(second.parents["unified"]) == fs.mount + SCOPE
    assert "builder-leaf" not in fs.group(SCOPE + "/builder-leaf").children


def test_a_container_with_its_own_cgroup_namespace() -> None:
    """Root in a container (--cgroupns=private, cgroupfs writable): its "/" is a group of the host with the container's
    processes in it, not the real root, so they must move to a leaf before controllers go on."""
    fs = FakeCgroup2(uid=0)
    fs.root.subtree = ["cpu", "memory", "pids"]
    fs.mkdir(fs.mount + "/docker-abc")
    for pid in (1001, 1002):
        fs.spawn(pid, "/docker-abc")
    fs.writer = 1002
    seen_as = fs.mount + "/docker-abc"  # what the container sees as /sys/fs/cgroup
    cg = CgroupManager.create("builder-sbx-7-cn", prefer="v2", fs=fs, mounts={"cgroup2": seen_as}, own={"": "/"}, euid=0)
    assert cg.parents["unified"] == seen_as + "/builder-sbx-7-cn"
    assert fs.group("/docker-abc/builder-leaf").procs == {1001, 1002}
    cg.join()
    snap = cg.prepare(64 * MB, 4)
    fs.fork(1002, 1003)
    fs.writer = 1003
    cg.join_test()
    fs.writer = 1002
    assert not fs.charge(1003, 100 * MB) and cg.measure(snap).oom_kills == 1 and 1002 in fs.where


def test_without_delegation_the_refusal_says_how_to_get_it() -> None:
    fs = _delegated(owner=0)  # the scope is root's: a user may not create groups in it
    with pytest.raises(OSError) as refused:
        _create(fs)
    assert refused.value.errno == errno.ENOTSUP and "v2" in str(refused.value)
    fs = _delegated()
    fs.group(os.path.dirname(SCOPE)).subtree = ["cpu"]  # memory and pids not enabled for the scope
    with pytest.raises(OSError, match="systemd-run --user --scope -p Delegate=yes"):
        _create(fs)


def test_the_fake_refuses_what_the_kernel_refuses() -> None:
    """The layout rules the tests above rely on (so they can fail): a process into a group with controllers on, and
    controllers on in a group with processes."""
    fs = _delegated(uid=0)
    fs.mkdir(fs.mount + SCOPE + "/g")
    fs.group(SCOPE + "/g").subtree = ["memory"]
    fd = fs.open(fs.mount + SCOPE + "/g/cgroup.procs", os.O_WRONLY)
    with pytest.raises(OSError) as busy:
        fs.write(fd, b"100")
    assert busy.value.errno == errno.EBUSY
    fd = fs.open(fs.mount + SCOPE + "/cgroup.subtree_control", os.O_WRONLY)
    with pytest.raises(OSError) as busy:
        fs.write(fd, b"+memory")
    assert busy.value.errno == errno.EBUSY


# --- the real unified hierarchy (core semantics), as root -----------------------------------------------------------

UNIFIED = next((line.split()[1] for line in open("/proc/self/mounts") if line.split()[2] == "cgroup2"), None)
THROWAWAY = 1_399_999_001


def _real_ready() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if UNIFIED is None:
        return "no cgroup2 mount"
    if not os.access(os.path.join(UNIFIED, "cgroup.procs"), os.W_OK):
        return "the cgroup2 hierarchy is read-only here"
    try:
        if "hugetlb" not in open(os.path.join(UNIFIED, "cgroup.controllers")).read().split():
            return "no controller free for v2 here (hugetlb)"
    except OSError as exc:
        return str(exc)
    return None


def _in_child(fn) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """Run ``fn`` in a forked child (it moves itself between groups; pytest stays where it is); (status, message)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        message = "ok"
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001
            import traceback

            message = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}"
        os.write(w, message.encode())
        os._exit(0)
    os.close(w)
    out = b""
    while chunk := os.read(r, 65536):
        out += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    return status, out.decode()


def _sleeper(group: str) -> int:
    """Another process in ``group`` (where the caller is: a child starts in its parent's group)."""
    assert str(os.getpid()) in open(os.path.join(group, "cgroup.procs")).read().split()
    pid = os.fork()
    if pid == 0:
        try:
            time.sleep(60)
        finally:
            os._exit(0)
    return pid


@pytest.fixture
def real_base():
    """A group of our own below the real unified root, with hugetlb available to it; everything removed after."""
    why = _real_ready()
    if why:
        pytest.skip(f"real cgroup v2 checks: {why}")
    root_ctl = os.path.join(UNIFIED, "cgroup.subtree_control")
    enabled_before = "hugetlb" in open(root_ctl).read().split()
    if not enabled_before:
        with open(root_ctl, "w") as fh:
            fh.write("+hugetlb")
    base = os.path.join(UNIFIED, f"builder-v2test-{os.getpid()}")
    os.mkdir(base)
    try:
        yield base
    finally:
        for path in sorted((d for d, _s, _f in os.walk(base)), key=len, reverse=True):
            try:
                for pid in open(os.path.join(path, "cgroup.procs")).read().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            except OSError:
                pass
        deadline = time.monotonic() + 5
        for path in sorted((d for d, _s, _f in os.walk(base)), key=len, reverse=True):
            while True:
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
        if not enabled_before:
            with open(root_ctl, "w") as fh:
                fh.write("-hugetlb")


def test_real_v2_layout_join_cpu_and_kill(real_base: str) -> None:
    """On the real kernel, as root, through the sandbox's own functions: our scope-like group holds processes (the
    caller and another), so they move to a leaf; the controller goes on; the zygote joins its leaf (the old layout —
    joining the parent — is refused, EBUSY); a test joins the test leaf; cpu.stat counts it; cgroup.kill ends a tree."""

    def body() -> None:
        with open(os.path.join(real_base, "cgroup.procs"), "w") as fh:
            fh.write("0")
        other = _sleeper(real_base)
        own = real_base[len(UNIFIED):]
        parent, enabled = make_v2_parent(cgroups.HOST, UNIFIED, own, "builder-sbx-1-real", ("hugetlb",), euid=0)
        assert enabled == ("hugetlb",), enabled
        assert open(os.path.join(real_base, "cgroup.procs")).read() == ""
        assert {str(os.getpid()), str(other)} <= set(open(os.path.join(real_base, "builder-leaf", "cgroup.procs")).read().split())
        try:
            with open(os.path.join(parent, "cgroup.procs"), "w") as fh:  # HEAD's layout: the zygote in the parent
                fh.write("0")
            raise AssertionError("joining a group with controllers on was allowed")
        except OSError as exc:
            assert exc.errno == errno.EBUSY, exc
        cg = CgroupManager("v2", {"unified": parent}, parent + "/test", parent + "/zygote", controllers=enabled)
        cg.join()
        assert str(os.getpid()) in open(parent + "/zygote/cgroup.procs").read().split()
        before = cg.cpu_s()
        test = os.fork()
        if test == 0:
            cg.join_test()
            end = time.process_time() + 0.2
            while time.process_time() < end:
                pass
            for _ in range(10):  # a tree left behind
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
            os._exit(0)
        os.waitpid(test, 0)
        assert 0.18 <= cg.cpu_s() - before < 1.0, cg.cpu_s() - before
        assert len(cg.pids()) >= 10
        cg.kill_others()
        deadline = time.monotonic() + 5
        while open(parent + "/test/cgroup.events").read().split()[1] != "0" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "populated 0" in open(parent + "/test/cgroup.events").read()
        os.kill(other, signal.SIGKILL)
        os.waitpid(other, 0)

    status, message = _in_child(body)
    assert status == 0 and message == "ok", message


def test_real_v2_delegation_to_a_user(real_base: str) -> None:
    """What systemd's Delegate=yes gives a user (the group and its cgroup.procs, cgroup.subtree_control, cgroup.threads
    chowned): the user's process moves itself and its sibling to a leaf, enables the controller and builds the layout;
    without the chown it is refused (EACCES, so the sandbox reports it and says how to get it)."""
    for name in ("", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"):
        os.chown(os.path.join(real_base, name), THROWAWAY, THROWAWAY)
    undelegated = os.path.join(UNIFIED, f"builder-v2test-{os.getpid()}-root")
    os.mkdir(undelegated)

    def body() -> None:
        with open(os.path.join(real_base, "cgroup.procs"), "w") as fh:  # the manager puts the user's process there
            fh.write("0")
        os.setresgid(THROWAWAY, THROWAWAY, THROWAWAY)
        os.setresuid(THROWAWAY, THROWAWAY, THROWAWAY)
        other = _sleeper(real_base)  # another process of the user in its scope
        parent, _ = make_v2_parent(cgroups.HOST, UNIFIED, real_base[len(UNIFIED):], "builder-sbx-2-user", ("hugetlb",), euid=THROWAWAY)
        cg = CgroupManager("v2", {"unified": parent}, parent + "/test", parent + "/zygote", controllers=("hugetlb",))
        cg.join()
        test = os.fork()
        if test == 0:
            cg.join_test()
            os._exit(0 if str(os.getpid()) in open(parent + "/test/cgroup.procs").read().split() else 1)
        _, status = os.waitpid(test, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        try:
            make_v2_parent(cgroups.HOST, UNIFIED, undelegated[len(UNIFIED):], "builder-sbx-3-user", ("hugetlb",), euid=THROWAWAY)
            raise AssertionError("a group that is not delegated was usable")
        except OSError as exc:
            assert exc.errno in (errno.EACCES, errno.EPERM), exc
        os.kill(other, signal.SIGKILL)

    try:
        status, message = _in_child(body)
        assert status == 0 and message == "ok", message
    finally:
        os.rmdir(undelegated)
