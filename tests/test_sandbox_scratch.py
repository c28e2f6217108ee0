"""A Python environment anywhere, /tmp included (a venv in /tmp is common in CI scripts and quick trials).

The sandbox's scratch tmpfs is mounted over /tmp and /dev/shm; an environment living there is bound on top of it at
its own path, from a stash only root can enter, and bound again whenever a scratch is replaced. These tests make a
real virtual environment under /tmp (pytest's tmp_path), start the fork-server with its interpreter, and check that
programs import from it, that programs can neither see nor damage the way to it, and that it survives the scratch
being replaced after a program left a tree behind.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from builder.core.errors import UserError
from builder.sandbox import base
from builder.sandbox.base import Limits
from builder.sandbox.forkserver import ForkServerSandbox

LIMITS = Limits(cpu_s=3.0, memory_mb=256)


@pytest.fixture(scope="module")
def venv_under_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("venv_home")
    assert str(root).startswith("/tmp/"), root
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "cvb_canary_module.py").write_text("VALUE = 21\n")
    return venv


@pytest.fixture(scope="module")
def sandbox(venv_under_tmp: Path):
    try:
        box = ForkServerSandbox(python=str(venv_under_tmp / "bin" / "python"))
    except UserError as exc:
        pytest.skip(f"no isolation on this machine: {exc}")
    yield box
    box.close()


IMPORT = "import sys, cvb_canary_module\nprint(cvb_canary_module.VALUE * 2, sys.prefix)"


def test_programs_import_from_an_environment_under_tmp(sandbox: ForkServerSandbox, venv_under_tmp: Path) -> None:
    assert sandbox.isolated
    run = sandbox.run(IMPORT, b"", LIMITS)
    assert run.status == base.EXITED and run.exit_code == 0, run
    assert run.stdout.split() == [b"42", str(venv_under_tmp).encode()], run


def test_the_environment_survives_a_replaced_scratch(sandbox: ForkServerSandbox) -> None:
    tree = textwrap.dedent(
        """
        import os
        os.makedirs("/tmp/deep/a/b")
        open("/tmp/deep/a/b/f", "w").write("x")
        os.chmod("/tmp/deep", 0)
        print("left a tree")
        """
    )
    assert sandbox.run(tree, b"", LIMITS).stdout == b"left a tree\n"
    run = sandbox.run(IMPORT, b"", LIMITS)  # the scratch was replaced: the environment is bound again
    assert run.stdout.startswith(b"42 "), run
    assert sandbox.restarts == 0 and sandbox.replaced == []


def test_the_way_to_the_environment_cannot_be_damaged(sandbox: ForkServerSandbox, venv_under_tmp: Path) -> None:
    top = "/tmp/" + str(venv_under_tmp).split("/")[2]
    attack = textwrap.dedent(
        f"""
        import os, shutil
        done = []
        for action in (lambda: os.rename({top!r}, "/tmp/moved"), lambda: shutil.rmtree({top!r}),
                       lambda: os.chmod({top!r}, 0), lambda: open({str(venv_under_tmp)!r} + "/x", "w")):
            try:
                action()
                done.append("yes")
            except OSError:
                done.append("no")
        print(" ".join(done), sorted(os.listdir("/tmp")))
        """
    )
    run = sandbox.run(attack, b"", LIMITS)
    assert run.stdout.split(b"[")[0].split() == [b"no"] * 4, run
    assert sandbox.run(IMPORT, b"", LIMITS).stdout.startswith(b"42 ")


def test_nothing_of_the_stash_is_reachable(sandbox: ForkServerSandbox) -> None:
    run = sandbox.run("import os\ntry:\n    print(os.listdir('/.stash'))\nexcept OSError as e:\n    print(type(e).__name__)", b"", LIMITS)
    assert run.stdout == b"PermissionError\n", run
