"""The sandbox wherever the Python environment lives: under /var, under /home, as .venv inside the clone (issue 19).

A program must run (the environment's own packages import) and must see nothing of the host on the way to the
environment: in a folder above it, only the entries that lead to it. Each layout is a real virtual environment
(``--system-site-packages``, so the builder's dependencies come from the interpreter that runs the tests), made at
that place for the test and removed after it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from builder.core.errors import UserError
from builder.sandbox.base import Limits
from builder.sandbox.forkserver import ForkServerSandbox
from tiers.support import tier_of

ROOT = Path(__file__).resolve().parents[1]
LIMITS = Limits(cpu_s=5.0, memory_mb=512, output_mb=8, max_processes=16)

#: what a program does in each layout: import a package of the environment, then list what it can see on the way
PROBE = textwrap.dedent(
    """
    import os, sys
    import cvb_layout_module
    python = {python_dirs}
    def on_the_way(p):
        return any(d == p or d.startswith(p.rstrip("/") + "/") for d in python)
    seen = [p for p in ("/work", "/root/.bashrc", "/etc/shadow", "{repo}/README.md", "{repo}/builder") if os.path.exists(p) and not on_the_way(p)]
    for d in python:
        parts = d.strip("/").split("/")
        for i in range(1, len(parts)):
            folder = "/" + "/".join(parts[:i])
            if any(folder == p or folder.startswith(p + "/") for p in python + ["/usr", "/lib", "/lib64", "/bin"]):
                break
            seen += [folder + "/" + x for x in os.listdir(folder) if not on_the_way(folder.rstrip("/") + "/" + x)]
    print(cvb_layout_module.VALUE, sys.prefix, "seen" if seen else "clean", sorted(seen)[:5])
    """
)


def _parent(layout: str) -> Path:
    if layout == "clone":
        return ROOT
    return Path("/" + layout)


def _make_venv(layout: str) -> Iterator[Path]:
    parent = _parent(layout)
    if not os.access(parent, os.W_OK):
        pytest.skip(f"{parent} is not writable here")
    top = Path(tempfile.mkdtemp(prefix=".venv-layout-" if layout == "clone" else "cvb-layout-", dir=parent))
    try:
        venv = top / ".venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True, timeout=120)
        site = next((venv / "lib").glob("python3*/site-packages"))
        (site / "cvb_layout_module.py").write_text("VALUE = 42\n")
        yield venv
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _python_dirs(python: Path) -> list[str]:
    code = (
        "import json, os, sys; sys.path.insert(0, %r); from builder.sandbox.zygote import python_dirs; "
        "print(json.dumps(sorted({os.path.realpath(p) for p in python_dirs() if p})))" % str(ROOT)
    )
    return json.loads(subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout)


@pytest.mark.parametrize("layout", ["var", "home", "clone"])
def test_a_program_runs_and_sees_nothing_on_the_way_to_the_environment(layout: str) -> None:
    for venv in _make_venv(layout):
        python = venv / "bin" / "python"
        try:
            box = ForkServerSandbox(python=str(python))
        except UserError as exc:
            pytest.skip(f"no isolation on this machine: {exc}")
        try:
            if tier_of(box) == 3:
                pytest.skip("tier 3 has no private root: a program sees the host's folders by design")
            code = PROBE.replace("{python_dirs}", repr(_python_dirs(python))).replace("{repo}", str(ROOT))
            run = box.run(code, b"", LIMITS)
        finally:
            box.close()
        out = run.stdout.decode(errors="replace").split(maxsplit=3)
        assert out[:3] == ["42", str(venv), "clean"], (run.status, run.stdout, run.stderr[-2000:])
