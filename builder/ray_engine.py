"""The Ray engine (``builder build --engine ray``): the build's stages as Ray Data operators on a Ray cluster.

The driver (this module, where ``builder build`` runs) does what the local engine does around the stream:

1. connects (``[engine] address``: ``auto``, ``ray://HOST:10001``, or unset: a Ray instance of the build's own),
   writes a token into ``<work>/ray/run`` and checks every node: it sees the work folder, and its sandbox isolates
   (or the recipe allows running unsandboxed) — a node that cannot refuses the build, as the local engine refuses;
2. collects the problems (:func:`builder.pipeline.problems_stage`, the local engine's own) and plans the chunks:
   the same generation keys (:func:`builder.generate.stage.plan_chunks`) and verdict keys
   (:meth:`builder.judge.stream.ChunkedExecution.chunk_key`) as a local build, in the same folders, so either
   engine resumes the other's work;
3. runs one Ray Data pipeline over the chunks not yet judged, streaming, with Ray Data's own scheduling and
   back-pressure (:mod:`builder.ray_operators`): chunk plan -> generation (an actor pool of the vLLM backend, one
   actor per model replica, ``num_gpus = model.tensor_parallel_size`` where the cluster has GPUs; the openai backend
   as plain tasks) -> extraction (plain tasks) -> execution (an actor pool, one warm sandbox and one CPU per actor),
   whose actors write every batch's verdict rows as a shard in ``<work>/execute/<verdict key>.parts/``;
4. as the pipeline reports a chunk's last candidate, merges its shards into ``<work>/execute/<verdict key>.arrow``,
   the file a local build writes for that chunk (rows in the chunk's order), and removes the shards;
5. reads the judged chunks in chunk order and writes ``dist/<name>/`` with :func:`builder.dataset.dist.write_dist`,
   as the local engine does: the same recipe and seed give byte-identical configs and charts. ``build.json`` and the
   card's sandbox record are the weakest sandbox any node or actor reported, with the engine, its nodes and the levels
   seen.

Resume: the chunk caches on the shared path, not Ray Data's checkpointing. A killed job run again skips chunks whose
verdicts are on disk without starting generation, reads generated chunks back instead of sampling them again, and
skips candidates a shard already holds. Why: the keys are the local engine's (model, sampling, prompt, problems,
execution settings and the judge's code), so a changed time limit judges again without generating again, and a local
build and a Ray build resume each other; generated chunks survive a job killed before their execution (Ray Data's
checkpoints record only rows that reached the pipeline's sink); and its checkpoints filter input rows by an id that
must exist before the first operator, while candidate ids exist only after generation.
"""

from __future__ import annotations

import math
import os
import secrets
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa

from builder.core import meta as build_metadata
from builder.core.errors import UserError
from builder.core.progress import Progress
from builder.core.settings import EngineSettings, Recipe
from builder.generate.stage import GenerationReport, plan_chunks
from builder.judge.stream import ChunkedExecution, ExecutionReport, Intervals, write_arrow
from builder.pipeline import STREAM_FEATURES, BuildResult, StageTimes, problems_stage
from builder.ray_operators import (
    ExecutionActor,
    GenerationActor,
    extract_task,
    generate_task,
    parts_folder,
    probe_node,
    run_folder,
)

#: where the local engine's sandbox order puts a description without a tier (the spawn executor: rlimits only)
_NO_TIER = 5


@dataclass
class RayReport:
    """What the cluster did in this run."""

    nodes: int = 0
    #: candidates judged in this run, per node
    judged: Counter[str] = field(default_factory=Counter)
    #: candidates whose verdicts a shard of an earlier (killed) run held
    resumed: int = 0
    #: execution actors that started (a restarted actor counts again)
    actors: int = 0
    #: sandbox levels seen: by the nodes' pre-flight checks, and by the execution actors
    node_levels: Counter[str] = field(default_factory=Counter)
    actor_levels: Counter[str] = field(default_factory=Counter)

    def levels_line(self) -> str:
        """Every level seen, with how many nodes and actors reported it."""
        return "; ".join(
            f"{level}: {self.node_levels[level]} nodes, {self.actor_levels[level]} actors"
            for level in sorted(self.node_levels.keys() | self.actor_levels.keys())
        )


@dataclass
class RayBuildResult(BuildResult):
    ray: RayReport = field(default_factory=RayReport)


# --- connecting --------------------------------------------------------------------------------------------------


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError('the ray engine needs Ray Data: pip install -e ".[ray]"') from None
    return ray


@contextmanager
def connected(engine: EngineSettings) -> Iterator[Any]:
    """The Ray connection of a build: the caller's when Ray is already initialized (kept open), else one of the
    build's own to ``engine.address`` (or a new local instance), shut down at the end."""
    ray = _ray()
    if ray.is_initialized():
        yield ray
        return
    env = {"TOKENIZERS_PARALLELISM": "false", "BUILDER_VERBOSITY": os.environ.get("BUILDER_VERBOSITY", "1")}
    try:
        ray.init(address=engine.address, runtime_env={"env_vars": env}, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot connect to the Ray cluster at {engine.address or 'a new local instance'}: {first}") from exc
    try:
        yield ray
    finally:
        ray.shutdown()


def user_error(exc: BaseException) -> UserError | None:
    """The :class:`UserError` a remote failure carries (Ray wraps it, Ray Data wraps that), if any."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, UserError):
            return UserError(e.message)
        todo.extend([getattr(e, "cause", None), e.__cause__, e.__context__])
    return None


def _start_run(work_dir: Path) -> str:
    """A new run's folder (``<work>/ray``): what an earlier run left is removed; the token nodes check."""
    run = run_folder(work_dir)
    for sub in ("actors", "inflight", "deaths"):
        shutil.rmtree(run / sub, ignore_errors=True)
    run.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    write = run / ".run.tmp"
    write.write_text(token, encoding="utf-8")
    os.replace(write, run / "run")
    return token


def preflight(ray: Any, work_dir: Path, token: str, recipe: Recipe) -> list[dict[str, Any]]:
    """Every alive node checked before any work (:func:`builder.ray_operators.probe_node`): one line and exit 2 when
    one does not see the work folder, cannot isolate or lacks a compiler the build needs."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    config = recipe.execution
    probe = ray.remote(num_cpus=0, max_retries=0)(probe_node)
    refs = [
        probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)).remote(
            str(work_dir), token, config.sandbox, config.allow_unsandboxed, tuple(recipe.generation.languages)
        )
        for node in ray.nodes()
        if node.get("Alive")
    ]
    try:
        return ray.get(refs)
    except Exception as exc:
        error = user_error(exc)
        if error is not None:
            raise error from None
        raise


def weakest(descriptions: list[dict[str, Any]]) -> dict[str, Any]:
    """The least isolated of several sandbox descriptions: not isolated before isolated, then the higher tier (a
    description without one, the spawn executor's, last of all), then the level with fewer features."""

    def rank(d: dict[str, Any]) -> tuple[int, int, int]:
        tier = d.get("tier")
        level = str(d.get("level", ""))
        return (0 if d.get("isolated", tier is not None) else 1, tier if isinstance(tier, int) else _NO_TIER, -len(level.split("+")))

    return dict(max(descriptions, key=rank))


# --- the build ---------------------------------------------------------------------------------------------------


@dataclass
class _Chunk:
    index: int
    key: str
    vkey: str
    start: int
    stop: int
    #: candidate ids by position, as the execution operator reports them
    ids: dict[int, str] = field(default_factory=dict)
    size: int | None = None
    judged: int = 0
    resumed: int = 0


def build(
    recipe: Recipe,
    *,
    dist_root: str | Path = "dist",
    work_root: str | Path = "work",
    echo: Callable[[str], None] = print,
    terminal: TextIO | None = None,
    after_chunk: Callable[[], None] | None = None,
    **_local_only: Any,
) -> RayBuildResult:
    """:func:`builder.pipeline.build` on a Ray cluster (see the module docstring); the same result and files."""
    dist_dir = Path(dist_root) / recipe.name
    work_dir = Path(work_root).resolve() / recipe.name
    work_dir.mkdir(parents=True, exist_ok=True)
    times = StageTimes()
    with connected(recipe.engine) as ray:
        token = _start_run(work_dir)
        with times.stage("sandbox"):
            probes = preflight(ray, work_dir, token, recipe)
        report = RayReport(nodes=len(probes))
        report.node_levels.update(str(p["sandbox"].get("level")) for p in probes)
        descriptions = [p["sandbox"] for p in probes]
        echo(f"ray: {len(probes)} nodes, {_resources(ray)}; sandbox {', '.join(sorted(report.node_levels))}")

        with times.stage("problems"):
            collected, quarantine_path, limits = problems_stage(recipe, work_dir, echo)
        problems, quarantine, sources = collected.trainable(), collected.quarantine, collected.source_records()

        execution = ChunkedExecution(problems, recipe.execution, work_dir / "execute", STREAM_FEATURES)
        size = recipe.generation.chunk_size
        ids = problems["problem_id"]
        chunks = []
        for i, key in enumerate(plan_chunks(problems, recipe)):
            start, stop = i * size, min(len(problems), (i + 1) * size)
            chunks.append(_Chunk(i, key, execution.chunk_key(key, ids[start:stop]), start, stop))
        pending = [c for c in chunks if not execution.path(c.vkey).is_file()]
        generation = GenerationReport(chunks=len(chunks), cached=len(chunks) - len(pending), keys=[c.key for c in chunks])
        execute = ExecutionReport(chunks=len(chunks), cached_chunks=len(chunks) - len(pending))
        generating = Intervals()
        expected = len(problems) * recipe.sampling.n * len(recipe.generation.languages)
        progress = Progress(expected, len(chunks), stream=terminal)
        started = time.time()
        try:
            if pending:
                progress.stage("generating and judging on the cluster")
                dataset = _pipeline(ray, recipe, execution, pending, work_dir, token)
                _consume(dataset, {c.vkey: c for c in pending}, execution, report, generation, execute, generating, progress, after_chunk)
            for chunk in chunks:
                if chunk not in pending:
                    for verdict in _verdicts(execution.path(chunk.vkey)):
                        execute.verdicts[verdict] += 1
                        progress.judged(verdict)
            descriptions += _actors(work_dir, report)
            times.add("generation", generating.total())
            times.add("execution", execute.busy.total())
            times.add("generation+execution", time.time() - started)
            judged = _judged(execution, chunks)
            execute.candidates = len(judged)
            generation.candidates = len(judged)
            sandbox = weakest(descriptions)
            sandbox.update(probes[0]["compile"])  # the compilers, as the local engine records them
            sandbox.update(engine="ray", nodes=report.nodes, levels_seen=report.levels_line())
            with times.stage("writing"):
                progress.stage(f"writing {dist_dir}")
                meta = build_metadata.from_recipe(recipe, sources, sandbox, limits, collected.record())
                from builder.dataset.dist import write_dist

                write_dist(dist_dir, judged, problems, meta)
        finally:
            progress.close()
    per_node = ", ".join(f"{node} {count}" for node, count in sorted(report.judged.items())) or "none"
    echo(
        f"ray: {sum(report.judged.values())} candidates judged in this run (per node: {per_node}), {report.resumed} read back "
        f"from an earlier run's shards, {report.actors} execution actor starts"
    )
    return RayBuildResult.of(dist_dir, work_dir, problems, judged, sources, quarantine, quarantine_path,
                             generation=generation, execution=execute, times=times,
                             hidden_s=execute.busy.overlap(generating), meta=meta, ray=report)


def _resources(ray: Any) -> str:
    total = ray.cluster_resources()
    parts = [f"{total.get('CPU', 0):g} CPUs"]
    if total.get("GPU"):
        parts.append(f"{total['GPU']:g} GPUs")
    return " and ".join(parts)


def _pipeline(ray: Any, recipe: Recipe, execution: ChunkedExecution, pending: list[_Chunk], work_dir: Path, token: str) -> Any:
    """The Ray Data pipeline over the chunks not judged yet: plan -> generation -> extraction -> execution."""
    from ray.data import ActorPoolStrategy, DataContext, TaskPoolStrategy

    context = DataContext.get_current()
    context.enable_progress_bars = False  # the build's own progress display says it
    engine, model = recipe.engine, recipe.model
    generation_cpus = engine.generation_cpus_for(model.backend)
    cwd = os.getcwd()
    problems_path = str(execution.problems_file())
    plan = [
        {"chunk": c.index, "key": c.key, "vkey": c.vkey, "start": c.start, "stop": c.stop, "resume": parts_folder(execution.folder, c.vkey).is_dir()}
        for c in pending
    ]
    data = ray.data.from_items(plan, override_num_blocks=len(plan))
    generate_args = {"recipe": recipe, "problems_path": problems_path, "cache_dir": str(work_dir / "generate"), "cwd": cwd}
    if model.backend == "vllm":
        gpus = model.tensor_parallel_size if ray.cluster_resources().get("GPU", 0) > 0 else None
        data = data.map_batches(
            GenerationActor, fn_constructor_kwargs={**generate_args, "work_dir": str(work_dir)}, batch_size=1, batch_format="pyarrow",
            compute=ActorPoolStrategy(size=model.data_parallel_size), num_cpus=generation_cpus, num_gpus=gpus,
        )
    else:
        data = data.map_batches(
            generate_task, fn_kwargs=generate_args, batch_size=1, batch_format="pyarrow",
            compute=TaskPoolStrategy(size=engine.generation_tasks), num_cpus=generation_cpus,
        )
    data = data.map_batches(extract_task, batch_format="pyarrow", num_cpus=0)
    # two tasks in flight per actor: the next batch's rows arrive while one is judged, and no actor hoards a queue
    if engine.execution_actors is not None:
        actors = ActorPoolStrategy(size=engine.execution_actors, max_tasks_in_flight_per_actor=2)
    else:  # Ray Data scales the pool between one actor and one per CPU, starting with the CPUs generation leaves
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        free = cpus - int(math.ceil(generation_cpus * (model.data_parallel_size if model.backend == "vllm" else engine.generation_tasks)))
        actors = ActorPoolStrategy(min_size=1, max_size=cpus, initial_size=min(cpus, max(1, free)), max_tasks_in_flight_per_actor=2)
    execute_args = {
        "settings": recipe.execution.model_dump(), "problems_path": problems_path, "execute_dir": str(execution.folder),
        "features": execution.features, "work_dir": str(work_dir), "token": token, "cwd": cwd,
    }
    return data.map_batches(
        ExecutionActor, fn_constructor_kwargs=execute_args, batch_size=engine.batch_size, batch_format="pyarrow",
        compute=actors, num_cpus=1,
    )


def _consume(
    dataset: Any,
    chunks: dict[str, _Chunk],
    execution: ChunkedExecution,
    report: RayReport,
    generation: GenerationReport,
    execute: ExecutionReport,
    generating: Intervals,
    progress: Progress,
    after_chunk: Callable[[], None] | None,
) -> None:
    """Follow the pipeline's output: count every candidate once, merge a chunk's shards when its last one is in."""
    try:
        for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
            for row in batch.to_pylist():
                chunk = chunks[row["vkey"]]
                if row["position"] in chunk.ids:
                    continue  # reported before (a retried task): counted once
                if not chunk.ids:
                    if row["origin"] == "generated":
                        generation.generated += 1
                        generating.add(row["gen_started"], row["gen_ended"])
                    else:
                        generation.cached += 1
                    progress.chunk_generated()
                    if after_chunk is not None:
                        after_chunk()
                chunk.size = row["size"]
                chunk.ids[row["position"]] = row["candidate_id"]
                execute.verdicts[row["verdict"]] += 1
                progress.judged(row["verdict"])
                if row["judged"]:
                    chunk.judged += 1
                    report.judged[row["node"]] += 1
                    execute.busy.add(row["started"], row["ended"])
                    execute.worker_s += row["ended"] - row["started"]
                else:
                    chunk.resumed += 1
                    report.resumed += 1
                if len(chunk.ids) == chunk.size:
                    _merge(execution, chunk)
                    execute.judged_chunks += 1
    except Exception as exc:
        error = user_error(exc)
        if error is not None:
            raise error from None
        raise
    missing = [c for c in chunks.values() if c.size is None or len(c.ids) != c.size]
    if missing:
        raise RuntimeError(f"the Ray pipeline ended with {len(missing)} chunks not fully judged")


def _merge(execution: ChunkedExecution, chunk: _Chunk) -> None:
    """A chunk's shards -> its verdict file (the local engine's: rows in the chunk's order), then the shards go."""
    folder = parts_folder(execution.folder, chunk.vkey)
    tables = [pa.ipc.open_stream(pa.memory_map(str(part))).read_all() for part in sorted(folder.glob("[!.]*.arrow"))]
    if not tables:
        raise RuntimeError(f"chunk {chunk.index}: no verdict shard in {folder}")
    table = pa.concat_tables(tables)
    rows: dict[str, int] = {}
    for i, cid in enumerate(table.column("candidate_id").to_pylist()):
        rows.setdefault(cid, i)  # a candidate in two shards (a batch cut differently on resume): the first one
    order = [chunk.ids[p] for p in range(chunk.size or 0)]
    absent = [cid for cid in order if cid not in rows]
    if absent:
        raise RuntimeError(f"chunk {chunk.index}: no verdict shard holds {len(absent)} candidates (e.g. {absent[0]})")
    merged = table.take(pa.array([rows[cid] for cid in order], type=pa.int64())).combine_chunks()
    write_arrow(execution.path(chunk.vkey), merged.cast(execution.features.arrow_schema))
    shutil.rmtree(folder, ignore_errors=True)
    with (run_folder(execution.folder.parent) / "events.log").open("a", encoding="utf-8") as fh:
        fh.write(f"merged {chunk.vkey} candidates={chunk.size} judged={chunk.judged} resumed={chunk.resumed}\n")


def _verdicts(path: Path) -> list[str]:
    return pa.ipc.open_stream(pa.memory_map(str(path))).read_all().column("verdict").to_pylist()


def _actors(work_dir: Path, report: RayReport) -> list[dict[str, Any]]:
    """The sandbox descriptions the execution actors of this run registered."""
    import json

    out = []
    for path in sorted((run_folder(work_dir) / "actors").glob("*.json")):
        info = json.loads(path.read_text(encoding="utf-8"))
        out.append(info["sandbox"])
        report.actors += 1
        report.actor_levels[str(info["sandbox"].get("level"))] += 1
    return out


def _judged(execution: ChunkedExecution, chunks: list[_Chunk]) -> Any:
    """Every chunk's verdicts, in chunk order, as one memory-mapped Dataset (the local engine's result)."""
    from datasets import Dataset, concatenate_datasets

    parts = [Dataset.from_file(str(execution.path(c.vkey))) for c in chunks]
    return concatenate_datasets(parts) if len(parts) > 1 else parts[0]


__all__ = ["RayBuildResult", "RayReport", "build", "connected", "preflight", "weakest"]
