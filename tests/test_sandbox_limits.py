"""Limit accuracy of the fork-server sandbox (issue 3, done-when 2) and its per-test plumbing.

Memory: with a 256 MB limit a program that touches 100 MB passes and one that touches 400 MB gets `memory` (from the
memory controller's OOM kill, not a MemoryError). CPU: the limit covers the whole process tree and is enforced to
within 10%: a program that burns 85% of it passes, one that never stops is stopped with at most 110% used. The CPU
figures are the sandbox's own measurements (the cgroup's CPU accounting), so they do not depend on machine load.
"""

from __future__ import annotations

import os
import signal
import textwrap

import pytest

from builder.core import taxonomy as T
from builder.core.errors import UserError
from builder.judge.compare import tokens_match
from builder.judge.verdict import run_verdict
from builder.sandbox import base
from builder.sandbox.base import Limits
from builder.sandbox.forkserver import ForkServerSandbox
from tiers.support import environment_in_scratch


@pytest.fixture(scope="module")
def sandbox():
    try:
        box = ForkServerSandbox()
    except UserError as exc:
        pytest.skip(f"no isolation on this machine: {exc}")
    yield box
    box.close()


def _needs_cgroup(box: ForkServerSandbox) -> None:
    if not box.features.get("cgroup"):
        pytest.skip("no writable memory/pids/cpu cgroup on this machine")


def _verdict(box: ForkServerSandbox, code: str, limits: Limits, stdin: str = "", expected: str = "ok") -> tuple[str, base.RunResult]:
    run = box.run(textwrap.dedent(code), stdin.encode(), limits)
    return run_verdict(run, stdin, expected, lambda actual: tokens_match(expected, actual)), run


TOUCH = """
    import sys
    mb = {mb}
    block = bytearray(mb << 20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    print("ok")
"""


def test_memory_limit_256mb_touch_100mb_passes(sandbox: ForkServerSandbox) -> None:
    _needs_cgroup(sandbox)
    verdict, run = _verdict(sandbox, TOUCH.format(mb=100), Limits(cpu_s=5.0, memory_mb=256))
    assert verdict == T.PASSED, run
    assert 100 <= run.peak_memory_mb < 256, run


def test_memory_limit_256mb_touch_400mb_is_memory(sandbox: ForkServerSandbox) -> None:
    _needs_cgroup(sandbox)
    verdict, run = _verdict(sandbox, TOUCH.format(mb=400), Limits(cpu_s=5.0, memory_mb=256))
    assert verdict == T.MEMORY, run
    assert run.status == base.MEMORY and run.signal == signal.SIGKILL and run.exception is None  # the OOM killer, exact
    assert run.extra["oom_kills"] >= 1
    assert 250 <= run.peak_memory_mb <= 260, run


def test_memory_limit_just_under_and_over(sandbox: ForkServerSandbox) -> None:
    _needs_cgroup(sandbox)
    assert _verdict(sandbox, TOUCH.format(mb=200), Limits(cpu_s=5.0, memory_mb=256))[0] == T.PASSED
    assert _verdict(sandbox, TOUCH.format(mb=300), Limits(cpu_s=5.0, memory_mb=256))[0] == T.MEMORY


def test_memory_of_children_counts(sandbox: ForkServerSandbox) -> None:
    _needs_cgroup(sandbox)
    code = """
        import os
        kids = []
        for _ in range(4):
            pid = os.fork()
            if pid == 0:
                block = bytearray(90 << 20)
                import time; time.sleep(5)
                os._exit(0)
            kids.append(pid)
        codes = [os.waitpid(p, 0)[1] for p in kids]
        print("ok" if all(c == 0 for c in codes) else "killed")
    """
    verdict, run = _verdict(sandbox, code, Limits(cpu_s=5.0, wall_s=20.0, memory_mb=256))
    assert run.extra["oom_kills"] >= 1, run  # 4 x 90 MB > 256 MB: the tree is over even though each child is not
    assert verdict == T.MEMORY


BURN = """
    import time
    limit = {limit}
    while time.process_time() < limit * {fraction}:
        pass
    print("ok")
"""


@pytest.mark.parametrize("cpu_limit", [0.5, 1.5])
def test_cpu_limit_within_10_percent(sandbox: ForkServerSandbox, cpu_limit: float) -> None:
    _needs_cgroup(sandbox)
    # generous wall limits: the machine may be shared; CPU time is what is limited and measured here
    limits = Limits(cpu_s=cpu_limit, wall_s=60.0)
    under, run = _verdict(sandbox, BURN.format(limit=cpu_limit, fraction=0.85), limits)
    assert under == T.PASSED, run
    assert run.cpu_s < cpu_limit
    over, run = _verdict(sandbox, BURN.format(limit=cpu_limit, fraction=100), limits)
    assert over == T.TIMEOUT, run
    assert cpu_limit <= run.cpu_s <= 1.1 * cpu_limit, run
    assert run.extra.get("killed") == "cpu"


def test_cpu_limit_covers_the_process_tree(sandbox: ForkServerSandbox) -> None:
    _needs_cgroup(sandbox)
    code = """
        import os
        for _ in range(3):
            if os.fork() == 0:
                break
        while True:
            pass
    """
    verdict, run = _verdict(sandbox, code, Limits(cpu_s=1.0, wall_s=60.0))
    assert verdict == T.TIMEOUT
    assert 1.0 <= run.cpu_s <= 1.1, run  # four busy processes share one budget


def test_wall_limit(sandbox: ForkServerSandbox) -> None:
    verdict, run = _verdict(sandbox, "import time\ntime.sleep(30)", Limits(cpu_s=1.0, wall_s=1.0))
    assert verdict == T.TIMEOUT, run
    assert run.extra.get("killed") == "wall"
    assert 1.0 <= run.wall_s <= 1.1 + 0.5, run  # killed at the deadline (plus scheduling on a shared machine)
    assert run.cpu_s < 0.5


def test_output_limit(sandbox: ForkServerSandbox) -> None:
    code = "import sys\nwhile True: sys.stdout.write('x' * 4096)"
    verdict, run = _verdict(sandbox, code, Limits(cpu_s=5.0, output_mb=1))
    assert run.status == base.OUTPUT_LIMIT, run
    assert len(run.stdout) == 1 << 20
    assert verdict == T.RUNTIME_ERROR


def test_process_limit(sandbox: ForkServerSandbox) -> None:
    code = """
        import os, time
        started = 0
        for _ in range(40):
            try:
                if os.fork() == 0:
                    time.sleep(5)
                    os._exit(0)
                started += 1
            except OSError:
                break
        print(started)
    """
    run = sandbox.run(textwrap.dedent(code), b"", Limits(cpu_s=5.0, max_processes=8))
    assert run.status == base.EXITED and run.exit_code == 0, run
    assert 1 <= int(run.stdout) < 8  # pids controller and RLIMIT_NPROC of the throwaway uid: whichever bites first


def test_stdin_consumed_flag(sandbox: ForkServerSandbox) -> None:
    limits = Limits(cpu_s=2.0)
    assert sandbox.run("print(1)", b"5\n", limits).stdin_consumed is False
    assert sandbox.run("input()\nprint(1)", b"5\n", limits).stdin_consumed is True


def test_files_and_argv_reach_the_scratch(sandbox: ForkServerSandbox) -> None:
    code = "import sys\nprint(open(sys.argv[1]).read().strip(), sys.argv[2])"
    run = sandbox.run(code, b"", Limits(cpu_s=2.0), argv=("input.txt", "second"), files={"input.txt": b"hello\n"})
    assert run.stdout == b"hello second\n", run
    with pytest.raises(ValueError):
        sandbox.run(code, b"", Limits(), files={"../escape": b"x"})


def test_scratch_is_wiped_between_tests(sandbox: ForkServerSandbox) -> None:
    """Nothing a test writes is there for the next; the only entry a program may find is the folder of a Python
    environment that lives under /tmp (bound there read-only: tests/tiers/support.py, ``environment_in_scratch``)."""
    listing = f"import os\nprint(sorted(set(os.listdir('.')) - {{x.rsplit('/', 1)[1] for x in {environment_in_scratch()!r}}}))"
    write = sandbox.run("open('left.txt', 'w').write('x')\n" + listing, b"", Limits(cpu_s=2.0))
    assert write.stdout == b"['left.txt']\n", write
    check = sandbox.run(listing, b"", Limits(cpu_s=2.0))
    assert check.stdout == b"[]\n", check


def test_zygote_restarts_after_being_killed(sandbox: ForkServerSandbox) -> None:
    zygote = sandbox._holder[0]
    assert zygote is not None
    restarts = sandbox.restarts
    os.kill(zygote.proc.pid, signal.SIGKILL)
    zygote.proc.wait()
    run = sandbox.run("print(2 * int(input()))", b"21\n", Limits(cpu_s=2.0))
    assert run.status == base.EXITED and run.stdout == b"42\n", run
    assert sandbox.restarts == restarts + 1


def test_zygote_does_not_hold_expected_outputs_or_earlier_programs(sandbox: ForkServerSandbox) -> None:
    secret = "EXPECTED_OUTPUT_" + "q" * 20
    first = sandbox.run(f"x = {secret!r}\nprint(len(x))", b"", Limits(cpu_s=2.0))
    assert first.status == base.EXITED
    # a later program scans its whole (inherited) memory for the earlier program's text
    probe = """
        import re
        needle = re.compile(rb"EXPECTED_OUTPUT_q{20}")  # never a literal of 20 q's in this program's memory
        hits = 0
        for line in open("/proc/self/maps"):
            start, end = (int(x, 16) for x in line.split()[0].split("-"))
            if "r" not in line.split()[1] or end - start > 1 << 28:
                continue
            try:
                with open("/proc/self/mem", "rb", buffering=0) as mem:
                    mem.seek(start)
                    hits += len(needle.findall(mem.read(end - start)))
            except OSError:
                pass
        print(hits)
    """
    run = sandbox.run(textwrap.dedent(probe), b"", Limits(cpu_s=5.0, memory_mb=512))
    assert run.status == base.EXITED, run
    assert run.stdout == b"0\n", run  # nothing left of the earlier program in what the zygote passes on
