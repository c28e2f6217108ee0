"""The exec launcher (builder/sandbox/launcher.c): a binary started by it is locked down exactly like one started from
a forked interpreter, and it is what starts a test of a binary.

A C program prints everything a process inherits (tests/fixtures/process_state.c: ids, every capability set,
no_new_privs, seccomp, signal dispositions and mask, descriptors, rlimits, environment, arguments, session, umask,
OOM score)
with system calls only; it runs twice in the same sandbox: once through the launcher (a test without files), once from
the zygote's forked interpreter (a test with a file, which only that path writes). Both must print the same, and what
they print must be a locked-down process. The tier runs (tests/tiers/ci.sh) run this file at tiers 2 and 3 too.
"""

from __future__ import annotations

import ctypes
import platform
from pathlib import Path

import pytest

from builder.core import languages as L
from builder.judge.compiled import compile_source, run_binary, toolchain_problem
from builder.sandbox.base import Limits
from builder.sandbox import isolation
from builder.sandbox.forkserver import ForkServerSandbox
from builder.sandbox.launcher import launcher_error, launcher_fd

pytestmark = pytest.mark.skipif(toolchain_problem("c") is not None, reason="no C compiler on this machine")
PROBE = (Path(__file__).parent / "fixtures" / "process_state.c").read_text()
LIMITS = Limits(cpu_s=2.0, memory_mb=256, max_processes=8)
ARGV = ("input.txt", "two words", "")


def _state(box: ForkServerSandbox, binary, launched: bool) -> dict[str, str]:
    files = None if launched else {"unused.txt": b""}  # a file to write: only the forked interpreter does that
    run = run_binary(box, binary, b"", LIMITS, argv=ARGV, files=files)
    assert run.status == "exited" and run.exit_code == 0, run
    assert run.extra.get("launched") is launched, run.extra
    return dict(line.split(" ", 1) if " " in line else (line, "") for line in run.stdout.decode().splitlines())


def _set_signal(sig: int, handler: int) -> int:
    """Set a signal's handler with the raw system call (Python's ``signal`` cannot touch 32 and 33, the C library's
    own); returns the previous handler."""
    number = {"x86_64": 13, "aarch64": 134}[platform.machine()]
    new, old = (ctypes.c_ulong * 8)(handler), (ctypes.c_ulong * 8)()
    assert ctypes.CDLL(None).syscall(ctypes.c_long(number), ctypes.c_int(sig), ctypes.byref(new), ctypes.byref(old),
                                     ctypes.c_size_t(8)) == 0
    return int(old[0])


@pytest.fixture(scope="module")
def sandbox():
    if launcher_fd() is None:
        pytest.skip(f"the launcher cannot be built here: {launcher_error()}")
    # started the way `just test` starts pytest (posix_spawn leaves 32 and 33 ignored, execve keeps them): the zygote
    # must not pass them on, neither through the launcher nor through a forked interpreter
    previous = {sig: _set_signal(sig, 1) for sig in isolation.LIBC_SIGNALS}  # 1: SIG_IGN
    try:
        box = ForkServerSandbox(allow_unsandboxed=True)
    finally:
        for sig, handler in previous.items():
            _set_signal(sig, handler)
    yield box
    box.close()


def test_a_launched_binary_inherits_what_a_forked_one_does(sandbox) -> None:
    compiled = compile_source(sandbox, L.C, PROBE)
    assert compiled.binary is not None, compiled.diagnostics
    try:
        launched, forked = _state(sandbox, compiled.binary, True), _state(sandbox, compiled.binary, False)
    finally:
        compiled.binary.close()
    assert launched == forked
    # and both are locked down: nothing to gain from any execve, nothing of the zygote's left
    assert launched["caps"] == "0 0 0 0 0 0"
    assert set(launched["ambient"]) == {"0"} and set(launched["bounding"]) <= {"0", "1"}
    if sandbox.features.get("seccomp"):
        assert launched["seccomp"] == "2" and launched["no_new_privs"] == "1"
    assert launched["signals"] == "" and launched["mask"] == ""  # every disposition SIG_DFL, nothing blocked
    assert launched["fds"] == "0:0 2:0"  # stdin and stderr (stdout is the output); nothing else open
    assert launched["environment"] == ""
    assert launched["arguments"] == "[./solution] [input.txt] [two words] []"
    assert launched["session_leader"] == "1"
    # the first the OOM killer takes, whichever way it started (where /proc is hidden, both read "?")
    assert launched["oom_score_adj"] in ("1000", "?"), launched["oom_score_adj"]
    if sandbox.features.get("uid"):  # the throwaway uid, real, effective and saved
        assert len(set(launched["uid"].split())) == 1 and launched["uid"].split()[0] != "0"


def test_a_python_program_has_the_oom_score_of_a_launched_binary(sandbox) -> None:
    """The third way a program starts (Python, run by the forked interpreter itself) ends as the first the OOM killer
    takes too: in a user namespace the zygote made, the test process's own /proc file is not its to open while it is
    not dumpable (zygote._raise_oom_score), and a program used to start with the zygote's score there."""
    compiled = compile_source(sandbox, L.C, PROBE)
    assert compiled.binary is not None, compiled.diagnostics
    try:
        launched = _state(sandbox, compiled.binary, True)["oom_score_adj"]
    finally:
        compiled.binary.close()
    code = "try:\n    print(open('/proc/self/oom_score_adj').read().strip())\nexcept OSError:\n    print('?')\n"
    run = sandbox.run(code, b"", LIMITS)
    assert run.status == "exited" and run.exit_code == 0, run
    assert run.stdout.decode().strip() == launched


def test_the_launcher_starts_binaries_unless_disabled() -> None:
    if launcher_fd() is None:
        pytest.skip(f"the launcher cannot be built here: {launcher_error()}")
    source = "#include <stdio.h>\nint main(void) { int a, b; scanf(\"%d %d\", &a, &b); printf(\"%d\\n\", a + b); }\n"
    for disable, launched in (((), True), (("launcher",), False)):
        box = ForkServerSandbox(allow_unsandboxed=True, disable=disable)
        try:
            compiled = compile_source(box, L.C, source)
            assert compiled.binary is not None
            run = run_binary(box, compiled.binary, b"20 22\n", LIMITS)
            compiled.binary.close()
        finally:
            box.close()
        assert run.stdout == b"42\n" and run.extra.get("launched") is launched, (disable, run)
