"""Shared fixtures: the tiny local model and the demo builds (made once per test session), small real problem sets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

#: tests marked ``slow`` by node id (left out of ``just test-fast``; why and how measured: the file's header)
SLOW_TESTS = TESTS / "slow_tests.txt"


def slow_test_ids(path: Path = SLOW_TESTS) -> set[str]:
    """The node ids listed in ``path`` (``#`` starts a comment)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return {line for line in lines if line}


@pytest.hookimpl(tryfirst=True)  # before ``-m "not slow"`` deselects by mark
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    listed = slow_test_ids()
    for item in items:
        if item.nodeid in listed:
            item.add_marker(pytest.mark.slow)


#: 12 short AtCoder problems with public tests (origin and licence: tests/fixtures/lcb/README.md)
LCB_PROBLEMS = TESTS / "fixtures" / "lcb" / "problems.jsonl"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight tiny Llama + byte-level BPE tokenizer + chat template, saved with save_pretrained."""
    from fakes.tinymodel import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def lcb_problems():
    """The lcb fixture problems as a normalized ``datasets.Dataset``."""
    from builder.core.tables import load_problems

    problems, quarantine = load_problems(str(LCB_PROBLEMS))
    assert len(quarantine) == 0
    return problems


#: the demo recipe, its model and its problems (the default build, `just build`)
DEMO_RECIPE = ROOT / "recipes" / "demo.toml"
DEMO_MODEL = ROOT / "models" / "demo" / "config.json"
DEMO_DATA = ROOT / "data" / "demo" / "problems.jsonl"


@dataclass(frozen=True)
class DemoBuild:
    """One `builder build` of the demo recipe: ``root/dist/demo`` and ``root/work/demo``, what it printed, and
    ``recipe``: its effective recipe (``build.json``'s text, the overrides included) as a file under ``root``."""

    root: Path
    stdout: str
    stderr: str

    @property
    def dist(self) -> Path:
        return self.root / "dist" / "demo"

    @property
    def recipe(self) -> Path:
        return self.root / "demo.toml"


def _build_demo(root: Path, *overrides: str) -> DemoBuild:
    if not (DEMO_MODEL.is_file() and DEMO_DATA.is_file()):
        pytest.skip("the demo model or problems are not in this checkout")
    cmd = [sys.executable, "-m", "builder.cli", "build", "--recipe", str(DEMO_RECIPE), "--dist-dir", str(root / "dist"),
           "--work-dir", str(root / "work"), *overrides]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    build = DemoBuild(root, proc.stdout, proc.stderr)
    build.recipe.write_text(json.loads((build.dist / "build.json").read_text(encoding="utf-8"))["recipe"], encoding="utf-8")
    return build


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory: pytest.TempPathFactory) -> DemoBuild:
    """`builder build --recipe recipes/demo.toml`, exactly as `just build` runs it, once per session: the demo's
    acceptance check (test_demo_model) and the trainers (test_train_trl) read it."""
    return _build_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="session")
def demo_build_chunked(tmp_path_factory: pytest.TempPathFactory) -> DemoBuild:
    """The demo recipe with ``--chunk-size 8`` (4 chunks instead of 1), once per session: the command-line overrides
    of a real build (test_build_e2e) and the local engine's build that the Ray engine must reproduce, whose chunks
    reach Ray as several blocks (test_ray_engine)."""
    return _build_demo(tmp_path_factory.mktemp("demo-chunked"), "--chunk-size", "8")


#: the real data packs (../shared/data; tests that read them are marked ``shared`` and skip without them)
SHARED_DATA = ROOT.parent / "shared" / "data"
#: how the lcb pack is judged by the tests that read it: o1-preview's abc311_e, the pack's slowest accepted program,
#: took 10.05 s of CPU on its largest public test on this machine in one session, so its 10 s limit is doubled
LCB_PACK_FLAGS = ("--time-limit", "10", "--time-scale", "2", "--workers", "2")


@pytest.fixture(scope="session")
def lcb_pack_verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The shared lcb pack's 996 candidates judged once per test session by ``builder verify`` from the pack's
    normalized files (``LCB_PACK_FLAGS``), by candidate id, for the acceptance check (test_acceptance_packs); the
    adapter check (test_sources_livecodebench) compares the pack's problems field by field instead of judging it again."""
    from click.testing import CliRunner
    from datasets import load_dataset

    from builder.cli import cli

    pack = SHARED_DATA / "lcb"
    out = tmp_path_factory.mktemp("lcb-pack") / "lcb.parquet"
    result = CliRunner().invoke(cli, ["verify", "--problems", str(pack / "problems.jsonl"), "--candidates",
                                      str(pack / "candidates.jsonl"), "--out", str(out), *LCB_PACK_FLAGS])
    assert result.exit_code == 0, result.output
    print(result.output)
    return {r["candidate_id"]: r for r in load_dataset("parquet", data_files=str(out), split="train")}


def live_group_members(pgid: int) -> list[int]:
    """Processes of process group ``pgid`` that are still running (zombies waiting to be reaped do not count)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


@pytest.fixture
def group_members():
    """``live_group_members``: checks that a killed or stopped process tree left nothing running."""
    return live_group_members
