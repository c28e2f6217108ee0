"""`kill -9` of a real streaming build, three times in generation and three times in execution (points drawn from a
seeded generator), each followed by the same command run to the end (issue 15, done-when 2):

- the rerun's ``dist/<name>/`` is byte-identical (sha256 of every file) to an uninterrupted build's;
- it redoes at most one chunk per stage per worker: generation (one engine) loses at most the one chunk it was
  generating — the replay server's request log shows which prompts were asked for twice — and execution at most one
  chunk per worker (``execute/events.log``: chunks ``started`` by the killed run and never ``judged``); every chunk the
  killed run finished is read back (``cached``), none is done again, and the closing summary says so;
- no process of the killed build outlives it (workers and their sandboxes end with the parent).

Then a build with another chunk size and one with another worker count give the same bytes; their recipes differ in
that one line, so ``build.json`` and the card, which record the recipe's text and sha256, differ exactly there: the
comparison puts the reference recipe's text and hash in place of theirs and then asks for identical bytes.

Generation is ``backend = "openai"`` against ``tests/fakes/replay_server.py`` on loopback replaying the lcb fixture's
24 recorded solutions (12 problems x 2) at a fixed token rate; execution runs their real tests in the sandbox.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakes.replay_server import ReplayServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "lcb"
NAME = "kill"
PROBLEMS = 12
CHUNK = 2
CHUNKS = PROBLEMS // CHUNK
WORKERS = 2
RATE = 600.0  # tokens/s: the fixture's 4,766 tokens take about 8 s to "generate"
TIMEOUT = 900

_rng = random.Random(15)
#: generation: kill once the server has received this request (1-based, arrival order): its chunk is in flight
GENERATION_POINTS = sorted(_rng.sample(range(1, PROBLEMS + 1), 3))
#: execution: kill once this many chunks have started being judged, after this many more seconds
EXECUTION_POINTS = [(k, round(_rng.uniform(0.0, 0.05), 3)) for k in sorted(_rng.sample(range(1, CHUNKS), 3))]


def recipe_text(url: str, chunk_size: int = CHUNK, workers: int = WORKERS) -> str:
    return f"""name = "{NAME}"
seed = 5

[[sources]]
kind = "local"
path = {json.dumps(str(FIXTURE / "problems.jsonl"))}

[model]
backend = "openai"
path = "replay"
base_url = "{url}"
concurrency = 4

[sampling]
n = 2

[generation]
chunk_size = {chunk_size}

[execution]
workers = {workers}
time_limit_s = 2.0
memory_limit_mb = 512

[dataset]
tokenized = false
"""


def command(recipe: Path, root: Path) -> list[str]:
    return [sys.executable, "-m", "builder.cli", "build", "--recipe", str(recipe), "--dist-dir", str(root / "dist"),
            "--work-dir", str(root / "work")]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"}


def run(recipe: Path, root: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(command(recipe, root), cwd=ROOT, env=env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def digests(dist: Path) -> dict[str, str]:
    files = sorted(p for p in dist.rglob("*") if p.is_file())
    assert files, f"nothing in {dist}"
    return {str(p.relative_to(dist)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def events(root: Path, stage: str) -> list[tuple[str, str]]:
    path = root / "work" / NAME / stage / "events.log"
    if not path.is_file():
        return []
    return [(line.split()[0], line.split()[1]) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def server() -> Iterator[ReplayServer]:
    with ReplayServer(FIXTURE / "problems.jsonl", FIXTURE / "candidates.jsonl", rate=RATE) as s:
        yield s


@pytest.fixture(scope="module")
def recipe(server: ReplayServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("recipe") / "kill.toml"
    path.write_text(recipe_text(server.url), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference_root(recipe: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted build."""
    root = tmp_path_factory.mktemp("reference")
    proc = run(recipe, root)
    assert f"chunks: {CHUNKS} generated and 0 read back; {CHUNKS} judged and 0 read back" in proc.stdout
    return root


@pytest.fixture(scope="module")
def reference(reference_root: Path) -> dict[str, str]:
    """The uninterrupted build's files and their sha256."""
    return digests(reference_root / "dist" / NAME)


def kill_when(proc: subprocess.Popen[bytes], ready: Callable[[], bool], what: str, delay: float = 0.0) -> None:
    """SIGKILL the build's main process (only it, as the OOM killer would) ``delay`` seconds after ``ready()``."""
    deadline = time.monotonic() + TIMEOUT
    while not ready():
        assert proc.poll() is None, f"the build ended before {what}"
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.01)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(60)


def wait_group_gone(pgid: int, group_members: Callable[[int], list[int]]) -> list[int]:
    """The processes of the killed build still running after 15 s (its workers watch their parent twice a second)."""
    deadline = time.monotonic() + 15
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = group_members(pgid)
    if left:
        os.killpg(pgid, signal.SIGKILL)  # clean up before failing
    return left


POINTS = [("generation", r, 0.0) for r in GENERATION_POINTS] + [("execution", k, d) for k, d in EXECUTION_POINTS]


@pytest.mark.parametrize(("stage", "point", "delay"), POINTS, ids=[f"{s}-{p}" for s, p, _ in POINTS])
def test_kill_9_then_rerun_gives_the_same_bytes_and_redoes_at_most_a_chunk_per_worker(
    stage: str, point: int, delay: float, server: ReplayServer, recipe: Path, reference: dict[str, str],
    tmp_path: Path, group_members: Callable[[int], list[int]],
) -> None:
    asked_before = len(server.stats()["requests"])
    log = (tmp_path / "killed.log").open("wb")
    proc = subprocess.Popen(command(recipe, tmp_path), cwd=ROOT, env=env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if stage == "generation":
            kill_when(proc, lambda: len(server.stats()["requests"]) - asked_before >= point, f"request {point}")
        else:
            started = lambda: sum(e == "started" for e, _ in events(tmp_path, "execute")) >= point  # noqa: E731
            kill_when(proc, started, f"{point} chunks started in execution", delay)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode == -signal.SIGKILL
    assert wait_group_gone(proc.pid, group_members) == [], "processes of the killed build outlived it"
    killed_requests = server.stats()["requests"][asked_before:]
    gen_killed, exec_killed = events(tmp_path, "generate"), events(tmp_path, "execute")
    generated = {k for e, k in gen_killed if e == "generated"}
    judged = {k for e, k in exec_killed if e == "judged"}
    lost = {k for e, k in exec_killed if e == "started"} - judged
    assert not (tmp_path / "dist" / NAME).exists(), "the kill came after the build had finished"
    if stage == "generation":
        assert len(generated) < CHUNKS, "the kill came after generation had finished"
    else:
        assert len(judged) < CHUNKS, "the kill came after execution had finished"

    rerun = run(recipe, tmp_path)
    assert digests(tmp_path / "dist" / NAME) == reference

    # generation: every chunk the killed run finished is read back; only the one it was generating is asked again
    gen_rerun = events(tmp_path, "generate")[len(gen_killed):]
    regenerated = {k for e, k in gen_rerun if e == "generated"}
    assert {k for e, k in gen_rerun if e == "cached"} == generated and not regenerated & generated
    assert len(regenerated) == CHUNKS - len(generated)
    rerun_requests = server.stats()["requests"][asked_before + len(killed_requests):]
    order = [json.loads(line)["problem_id"] for line in (FIXTURE / "problems.jsonl").read_text().splitlines()]
    asked_twice = set(killed_requests) & set(rerun_requests)
    redone_gen = {order.index(pid) // CHUNK for pid in asked_twice}
    assert len(redone_gen) <= 1, f"generation redid chunks {sorted(redone_gen)}"

    # execution: every chunk the killed run judged is read back; at most one chunk per worker had been started
    exec_rerun = events(tmp_path, "execute")[len(exec_killed):]
    rejudged = {k for e, k in exec_rerun if e == "judged"}
    assert {k for e, k in exec_rerun if e == "cached"} == judged and not rejudged & judged
    assert len(rejudged) == CHUNKS - len(judged)
    assert lost <= rejudged and len(lost) <= WORKERS, f"execution redid {len(lost)} chunks with {WORKERS} workers"
    summary = (f"chunks: {len(regenerated)} generated and {len(generated)} read back; "
               f"{len(rejudged)} judged and {len(judged)} read back")
    assert summary in rerun.stdout, rerun.stdout
    print(f"kill in {stage} at {point} (+{delay} s): generation redid {len(redone_gen)} chunk(s) "
          f"({len(asked_twice)} prompts asked twice), {len(generated)}/{CHUNKS} kept; execution redid {len(lost)} "
          f"started chunk(s), {len(judged)}/{CHUNKS} kept")


def _same_but_recipe(variant_root: Path, variant_recipe: Path, reference_recipe: Path, reference: dict[str, str]) -> None:
    """The variant's dist/ equals the reference once its recipe's text and sha256 (in build.json and the card) are
    replaced by the reference recipe's: nothing else may differ."""
    dist = variant_root / "dist" / NAME
    ours, theirs = variant_recipe.read_text(), reference_recipe.read_text()
    hashes = (hashlib.sha256(variant_recipe.read_bytes()).hexdigest(), hashlib.sha256(reference_recipe.read_bytes()).hexdigest())
    differ = {name for name, digest in digests(dist).items() if reference.get(name) != digest}
    assert differ <= {"build.json", "README.md"} and set(digests(dist)) == set(reference), differ
    for name in ("build.json", "README.md"):
        text = (dist / name).read_text(encoding="utf-8")
        if name == "build.json":
            meta = json.loads(text)
            assert meta["recipe"] == ours and meta["recipe_hash"] == hashes[0]
            text = text.replace(json.dumps(ours)[1:-1], json.dumps(theirs)[1:-1])
        else:
            assert ours.rstrip() in text
            text = text.replace(ours.rstrip(), theirs.rstrip())
        text = text.replace(hashes[0], hashes[1])
        assert hashlib.sha256(text.encode("utf-8")).hexdigest() == reference[name], f"{name} differs beyond the recipe"


@pytest.mark.parametrize(("chunk_size", "workers"), [(5, WORKERS), (CHUNK, 1)], ids=["chunk-size-5", "workers-1"])
def test_chunk_size_and_worker_count_do_not_change_the_bytes(
    chunk_size: int, workers: int, server: ReplayServer, recipe: Path, reference: dict[str, str], tmp_path: Path
) -> None:
    variant = tmp_path / "variant.toml"
    variant.write_text(recipe_text(server.url, chunk_size=chunk_size, workers=workers), encoding="utf-8")
    proc = run(variant, tmp_path)
    chunks = -(-PROBLEMS // chunk_size)
    assert f"chunks: {chunks} generated and 0 read back; {chunks} judged and 0 read back" in proc.stdout
    _same_but_recipe(tmp_path, variant, recipe, reference)


def test_finished_build_run_again_reads_everything_back(recipe: Path, reference_root: Path, reference: dict[str, str]) -> None:
    """The uninterrupted build run again: every chunk read back from work/, the same bytes."""
    again = run(recipe, reference_root)
    assert f"chunks: 0 generated and {CHUNKS} read back; 0 judged and {CHUNKS} read back" in again.stdout
    assert digests(reference_root / "dist" / NAME) == reference
    assert [e for e, _ in events(reference_root, "execute")][-CHUNKS:] == ["cached"] * CHUNKS
