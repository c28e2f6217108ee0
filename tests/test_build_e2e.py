"""`builder build` end to end on CPU with the real vLLM engine: kill -9 during generation and resume, and the demo
recipe's overrides.

Every build here is a separate `builder build` process (an engine start-up each), so the module is marked slow.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from builder.generate.cache import EVENTS
from process_watch import TreeWatch, engine_started, leaked_shm

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
LCB = ROOT / "tests" / "fixtures" / "lcb" / "problems.jsonl"
PROBLEMS = 12  # every problem of the lcb fixture, one chunk each
COMPARED = ["candidate_id", "problem_id", "candidate_index", "model", "response", "finish_reason", "num_tokens",
            "reasoning", "solution", "extraction", "verdict", "tests_passed", "tests_total"]


def recipe_text(model: Path) -> str:
    return f"""
name = "resume"
seed = 11

[[sources]]
kind = "local"
path = {json.dumps(str(LCB))}

[model]
path = {json.dumps(str(model))}
dtype = "float32"
max_model_len = 1024
kv_cache_memory_gb = 0.25

[sampling]
n = 2
temperature = 1.0
max_tokens = 48

[generation]
chunk_size = 1

[execution]
workers = 2
time_limit_s = 2.0
memory_limit_mb = 256
"""


def build_cmd(recipe: Path, dist: Path, work: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "builder.cli", "build", "--recipe", str(recipe), "--dist-dir", str(dist), "--work-dir", str(work), *extra]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"}


def events(work: Path) -> list[tuple[str, str]]:
    path = work / "resume" / "generate" / EVENTS
    if not path.is_file():
        return []
    return [tuple(line.split()[:2]) for line in path.read_text().splitlines()]  # type: ignore[misc]


def chunk_files(work: Path) -> set[str]:
    return {p.stem for p in (work / "resume" / "generate").glob("*.parquet")}


def candidates(dist: Path) -> list[dict]:
    files = sorted((dist / "resume" / "candidates").glob("train-*.parquet"))
    assert files
    rows = []
    for f in files:
        rows.extend(pq.read_table(f, columns=COMPARED).to_pylist())
    return rows


def test_killed_build_resumes_without_regenerating_finished_chunks(tiny_model: Path, tmp_path: Path, group_members) -> None:
    """kill -9 of a build's process group while the engine generates: every process of the run ends by itself (the
    sandboxes' too, in sessions of their own); the next run removes the shared memory the killed one left behind (only
    its own files), reads the finished chunks back and generates only the others."""
    recipe = tmp_path / "resume.toml"
    recipe.write_text(recipe_text(tiny_model), encoding="utf-8")
    work, dist = tmp_path / "work", tmp_path / "dist"
    shm_before = {str(p) for p in Path("/dev/shm").iterdir()}

    # 1. start a build and kill -9 its whole process group as soon as the first chunk is on disk
    log = (tmp_path / "killed.log").open("wb")
    proc = subprocess.Popen(build_cmd(recipe, dist, work), cwd=ROOT, env=env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    watch = TreeWatch(proc.pid)
    deadline = time.monotonic() + 1200
    gen = work / "resume" / "generate"
    while not (gen.is_dir() and any(gen.glob("*.parquet"))):
        assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no chunk was generated in 1200 s"
        time.sleep(0.01)
    assert engine_started(watch)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(60)
    log.close()
    settle = time.monotonic() + 30
    while group_members(proc.pid) and time.monotonic() < settle:  # SIGKILLed processes take a moment to exit
        time.sleep(0.1)
    assert group_members(proc.pid) == [], "processes of the killed build survived"
    while watch.alive() and time.monotonic() < settle:  # orphans out of the group notice their parent is gone and end
        time.sleep(0.5)
    assert watch.alive() == [], "processes of the killed build are still running 30 s after it"
    assert proc.returncode == -signal.SIGKILL
    left = leaked_shm(shm_before)
    engine_folders = list(Path(tempfile.gettempdir()).glob(f"builder-vllm-{proc.pid}-*"))
    finished = chunk_files(work)
    print(f"killed after {len(finished)} of {PROBLEMS} chunks")
    assert 1 <= len(finished) < PROBLEMS, f"the kill came too late to test anything: {len(finished)} chunks done"
    for stem in finished:  # a finished chunk file is whole: one problem, n = 2 candidates
        assert pq.read_table(gen / f"{stem}.parquet").num_rows == 2
    first_events = events(work)
    assert all(e == "generated" for e, _ in first_events)
    assert {k for _, k in first_events} <= finished and len(first_events) >= len(finished) - 1  # logged after saving
    assert not (dist / "resume").exists()

    # 2. run it again: only the unfinished chunks are generated, the finished ones are read back
    resumed = subprocess.run(build_cmd(recipe, dist, work), cwd=ROOT, env=env(), capture_output=True, text=True, timeout=1800)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    second_events = events(work)[len(first_events):]
    generated = [k for e, k in second_events if e == "generated"]
    cached = [k for e, k in second_events if e == "cached"]
    assert set(cached) == finished and len(cached) == len(finished)
    assert len(generated) == PROBLEMS - len(finished) and not set(generated) & finished
    assert chunk_files(work) == finished | set(generated)
    assert f"chunks: {PROBLEMS - len(finished)} generated and {len(finished)} read back; " in resumed.stdout
    # and it removed what the killed run left behind
    assert left, "a kill -9 while the engine runs leaves its shared memory behind: nothing here to clean up"
    assert f"removed {len(left)} shared-memory files a killed run of resume left behind" in resumed.stderr
    assert leaked_shm(shm_before) == []
    assert all(not folder.exists() for folder in engine_folders)
    print(f"the killed run left {len(left)} shared-memory files and {len(engine_folders)} engine folders; the rerun removed them")

    # what it built: every candidate sampled and judged (that a resumed build gives the bytes of an uninterrupted one is
    # test_stream_kill's check, at six kill points; that separate vLLM engines and any chunking give the same samples
    # is test_generate's: data-parallel ranks and chunking; a third build of this recipe here would prove it again)
    rows = candidates(dist)
    assert len(rows) == PROBLEMS * 2 and all(r["verdict"] for r in rows)
    assert len({r["candidate_id"] for r in rows}) == len(rows)
    assert {r["finish_reason"] for r in rows} <= {"stop", "length"}

    # the build's metadata: the recipe as written, its hash, the sampling, and no machine-specific paths of its own
    meta = json.loads((dist / "resume" / "build.json").read_text())
    assert meta["recipe"] == recipe.read_text() and meta["recipe_hash"] == hashlib.sha256(recipe.read_bytes()).hexdigest()
    assert meta["name"] == "resume" and meta["seed"] == 11 and meta["backend"] == "vllm"
    assert meta["sampling"] == {"n": 2, "temperature": 1.0, "top_p": 1.0, "top_k": -1, "max_tokens": 48}
    assert meta["sources"] == [{"kind": "local", "path": str(LCB), "problems": PROBLEMS, "quarantined": 0, "license": "MIT"}]
    assert meta["sandbox"]["executor"] and meta["versions"]["vllm"]


def test_demo_recipe_builds_with_overrides(demo_build_chunked) -> None:
    """The session's demo build with ``--chunk-size 8`` (conftest, shared with the Ray engine's tests): the override is
    said, recorded in the effective recipe, and acted on (four chunks of at most 8 problems)."""
    build = demo_build_chunked
    assert re.search(r"^note: --chunk-size overrides recipe value 64 -> 8$", build.stderr, re.M), build.stderr[-3000:]
    assert "240 candidates for 30 problems: " in build.stdout
    assert "chunks: 4 generated and 0 read back" in build.stdout
    for config in ("candidates", "problems", "sft", "dpo"):
        assert list((build.dist / config).glob("train-*.parquet")), config
    meta = json.loads((build.dist / "build.json").read_text())
    assert meta["model"] == "models/demo" and meta["sampling"]["n"] == 8
    assert meta["recipe"].startswith("# ") and "--chunk-size 8" in meta["recipe"].splitlines()[0]
    assert meta["recipe_hash"] == hashlib.sha256(meta["recipe"].encode("utf-8")).hexdigest()
