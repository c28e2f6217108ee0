"""What the Ray engine runs on the cluster: the stages of a build as Ray Data operators (:mod:`builder.ray_engine`).

Every operator calls the same stage code as the local engine; only where it runs differs.

- :class:`GenerationActor` (``backend = "vllm"``): one model replica per actor; each call is one generation chunk,
  read back from the chunk cache or generated (:func:`builder.generate.stage.generate_chunks` with the chunk's key),
  the engine started only when a chunk is not on disk. :func:`generate_task` is the same as a plain task (the
  ``openai`` backend: the model runs elsewhere).
- :func:`extract_task`: :func:`builder.extract.extract_batch`.
- :class:`ExecutionActor`: one warm sandbox per actor (:func:`builder.judge.pool.init_worker`, the local workers'
  own set-up); each call judges a batch of candidates (:func:`builder.judge.pool.judge_task`) and writes their
  verdict rows as one shard, ``<work>/execute/<verdict key>.parts/<ids hash>.arrow``, on the path every node sees.

Files of a run (``<work>/ray/``): ``run`` (a token the driver wrote: a node that cannot read it does not see the work
folder), ``actors/*.json`` (each execution actor's node, process and sandbox description), ``inflight/<actor id>``
(the candidate an actor is judging) and ``deaths/<hash>`` (how often an actor died while judging a candidate).

Faults: Ray Data restarts a dead actor and retries its task (its actor pools default to ``max_restarts=-1``,
``max_task_retries=-1``). A shard is named after the candidates it holds and written atomically, so a retried batch
replaces it with the same rows: nothing is lost or counted twice. A restarted actor reads which candidate its
previous life was judging and counts a death against it; a candidate under which actors died twice is not run again
and gets ``sandbox_error`` (:func:`builder.judge.pool.lost_verdict`), as the local pool does with a worker.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

#: columns every generated row carries besides the candidate's: where it belongs and where it came from
CHUNK_COLUMNS = ("chunk", "vkey", "resume", "size", "position", "origin", "gen_started", "gen_ended")
#: what the execution operator returns per candidate (the verdict rows themselves are in the shards)
RESULT_SCHEMA = pa.schema([
    ("chunk", pa.int64()), ("vkey", pa.string()), ("size", pa.int64()), ("position", pa.int64()), ("candidate_id", pa.string()),
    ("verdict", pa.string()), ("judged", pa.bool_()), ("node", pa.string()), ("started", pa.float64()),
    ("ended", pa.float64()), ("origin", pa.string()), ("gen_started", pa.float64()), ("gen_ended", pa.float64()),
])
#: actor deaths under one candidate after which it is not run again (the local pool's rule)
MAX_DEATHS = 2


def run_folder(work_dir: str | Path) -> Path:
    return Path(work_dir) / "ray"


def parts_folder(execute_dir: str | Path, vkey: str) -> Path:
    return Path(execute_dir) / f"{vkey}.parts"


def _write(path: Path, text: str) -> None:
    """``text`` in ``path``, whole or not at all (a temporary name, then renamed): an actor killed mid-write leaves
    no half of a description or of a candidate id for the driver or its own next life to read."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _digest(text: str, length: int = 24) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def node_name() -> str:
    """This node as the summary names it: host and Ray node id."""
    import ray

    return f"{socket.gethostname()}:{ray.get_runtime_context().get_node_id()[:8]}"


def check_shared(work_dir: str, token: str) -> None:
    """Raise a :class:`~builder.core.errors.UserError` when this node does not see the driver's work folder."""
    from builder.core.errors import UserError

    marker = run_folder(work_dir) / "run"
    try:
        seen = marker.read_text(encoding="utf-8")
    except OSError:
        seen = None
    if seen != token:
        raise UserError(
            f"node {socket.gethostname()} does not see the work folder {work_dir} the driver wrote: "
            "give --work-dir a path every node of the cluster sees (a shared file system)"
        )


def probe_node(work_dir: str, token: str, sandbox: str, allow_unsandboxed: bool, languages: tuple[str, ...]) -> dict[str, Any]:
    """The pre-flight check of one node (run before generation): it sees the work folder, its sandbox isolates (or
    the build allows running unsandboxed) and it has the compilers of the build's languages; returns the sandbox's
    description and how the languages are compiled (:func:`builder.pipeline.compile_settings`)."""
    from builder.core.errors import UserError
    from builder.pipeline import compile_settings
    from builder.sandbox import make_sandbox

    check_shared(work_dir, token)
    try:
        with make_sandbox(sandbox, allow_unsandboxed=allow_unsandboxed) as box:
            return {"node": node_name(), "sandbox": dict(box.describe()), "compile": compile_settings(languages)}
    except UserError as exc:
        raise UserError(f"node {socket.gethostname()} ({node_name()}): {exc.message}") from None


def _enter(cwd: str) -> None:
    """Relative paths of the recipe resolve as on the driver (its working folder, on a path every node sees)."""
    if cwd and Path(cwd).is_dir():
        os.chdir(cwd)


def _problems(problems_path: str, start: int, stop: int):  # -> datasets.Dataset
    from datasets import Dataset

    return Dataset.from_file(problems_path).select(range(start, stop))


class _LazyBackend:
    """The generation backend, started when the first chunk that is not on disk needs it, kept for later chunks."""

    def __init__(self, recipe: Any) -> None:
        self.recipe = recipe
        self.started: Any = None

    def generate(self, requests: Any, sampling: Any) -> Any:
        if self.started is None:
            from builder.generate.backends import make_backend

            # one replica per actor: Ray Data runs model.data_parallel_size of them
            model = self.recipe.model.model_copy(update={"data_parallel_size": 1})
            self.started = make_backend(model, self.recipe.seed)
        return self.started.generate(requests, sampling)

    def close(self) -> None:
        if self.started is not None:
            self.started.close()
            self.started = None


def _generate_chunk(recipe: Any, backend: _LazyBackend, batch: pa.Table, problems_path: str, cache_dir: str) -> pa.Table:
    """One chunk (one row of the chunk plan) -> its candidates, with the chunk columns."""
    from builder.generate.stage import FEATURES, generate_chunks

    out = []
    for item in batch.to_pylist():
        began = time.time()
        problems = _problems(problems_path, item["start"], item["stop"])
        stream = generate_chunks(problems, recipe, cache_dir, backend=backend, keys=[item["key"]])
        try:
            _, records, origin = next(stream)
        finally:
            stream.close()
        size = len(records["candidate_id"])
        table = pa.Table.from_pydict(records, schema=FEATURES.arrow_schema)
        extra = {
            "chunk": [item["chunk"]] * size, "vkey": [item["vkey"]] * size, "resume": [item["resume"]] * size,
            "size": [size] * size, "position": list(range(size)), "origin": [origin] * size, "gen_started": [began] * size,
            "gen_ended": [time.time()] * size,
        }
        for name, values in extra.items():
            table = table.append_column(name, pa.array(values))
        out.append(table)
    return pa.concat_tables(out)


class GenerationActor:
    """One model replica (``num_gpus = model.tensor_parallel_size`` on GPU nodes): chunk in, candidates out.

    The engine's shared-memory files, which vLLM leaves behind even on a normal exit, are recorded as the local
    engine records them (:class:`builder.core.terminal.RunResources`, in ``<work>/ray/generation/<host>-<actor id>/``)
    and removed when the actor ends; an actor starting on a host first removes what killed actors there recorded.
    """

    def __init__(self, recipe: Any, problems_path: str, cache_dir: str, cwd: str, work_dir: str) -> None:
        import ray

        from builder.core.terminal import RunResources

        _enter(cwd)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.recipe = recipe
        self.problems_path, self.cache_dir = problems_path, cache_dir
        self.backend = _LazyBackend(self.recipe)
        records = run_folder(work_dir) / "generation"
        host = socket.gethostname()
        for dead in records.glob(f"{host}-*"):
            RunResources(dead).clean_after_dead_run()
        self.resources = RunResources(records / f"{host}-{ray.get_runtime_context().get_actor_id()}")
        self.resources.start()

    def __call__(self, batch: pa.Table) -> pa.Table:
        try:
            return _generate_chunk(self.recipe, self.backend, batch, self.problems_path, self.cache_dir)
        finally:
            self.resources.update()

    def __del__(self) -> None:
        backend = getattr(self, "backend", None)
        if backend is not None:
            backend.close()
            self.resources.finish()


def generate_task(batch: pa.Table, recipe: Any, problems_path: str, cache_dir: str, cwd: str) -> pa.Table:
    """The same as :class:`GenerationActor`, as a plain task (the ``openai`` backend: nothing to keep warm)."""
    _enter(cwd)
    backend = _LazyBackend(recipe)
    try:
        return _generate_chunk(backend.recipe, backend, batch, problems_path, cache_dir)
    finally:
        backend.close()


def extract_task(batch: pa.Table) -> pa.Table:
    """Reasoning, solution and extraction status of every candidate (:func:`builder.extract.extract_batch`)."""
    from builder.core.schema import EXTRACTION_FEATURES
    from builder.extract import extract_batch

    columns = extract_batch({name: batch.column(name).to_pylist() for name in ("response", "language") if name in batch.column_names})
    for name, feature in EXTRACTION_FEATURES.items():
        if name in batch.column_names:
            batch = batch.drop_columns([name])
        batch = batch.append_column(name, pa.array(columns[name], type=feature.pa_type))
    return batch


class ExecutionActor:
    """One warm sandbox (``num_cpus = 1``): a batch of candidates in, their verdicts written as one shard."""

    def __init__(self, settings: dict[str, Any], problems_path: str, execute_dir: str, features: Any, work_dir: str, token: str, cwd: str) -> None:
        import ray

        from builder.judge import pool

        _enter(cwd)
        check_shared(work_dir, token)
        pool.init_worker(settings, problems_path, os.getppid())  # refuses, as locally, where nothing isolates
        self.execute_dir = Path(execute_dir)
        self.features = features
        self.run = run_folder(work_dir)
        self.actor = ray.get_runtime_context().get_actor_id()
        self.node = node_name()
        self._done: dict[str, dict[str, str]] = {}
        info = {"node": self.node, "pid": os.getpid(), "actor": self.actor, "sandbox": pool.worker_sandbox()}
        for sub in ("actors", "inflight", "deaths"):
            (self.run / sub).mkdir(parents=True, exist_ok=True)
        _write(self.run / "actors" / f"{self.actor}-{os.getpid()}.json", json.dumps(info, sort_keys=True))
        self._count_previous_death()

    # -- deaths -------------------------------------------------------------------------------------------------
    def _inflight(self) -> Path:
        return self.run / "inflight" / self.actor

    def _deaths(self, vkey: str, candidate_id: str) -> Path:
        return self.run / "deaths" / _digest(f"{vkey}\0{candidate_id}")

    def _count_previous_death(self) -> None:
        """A restarted actor: the candidate its previous life was judging gets one death counted against it."""
        try:
            vkey, candidate_id = self._inflight().read_text(encoding="utf-8").split("\n", 1)
        except (OSError, ValueError):
            return
        path = self._deaths(vkey, candidate_id)
        _write(path, str(self._death_count(path) + 1))
        self._inflight().unlink(missing_ok=True)

    @staticmethod
    def _death_count(path: Path) -> int:
        try:
            return int(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return 0

    # -- resuming -----------------------------------------------------------------------------------------------
    def _already(self, vkey: str) -> dict[str, str]:
        """Candidates of a resumed chunk whose verdicts a shard holds already (id -> verdict), read once."""
        if vkey not in self._done:
            done: dict[str, str] = {}
            for part in sorted(parts_folder(self.execute_dir, vkey).glob("[!.]*.arrow")):
                try:
                    table = pa.ipc.open_stream(pa.memory_map(str(part))).read_all()
                except (OSError, pa.ArrowException):
                    continue  # unreadable: judged again
                done.update(zip(table.column("candidate_id").to_pylist(), table.column("verdict").to_pylist()))
            self._done[vkey] = done
        return self._done[vkey]

    # -- judging ------------------------------------------------------------------------------------------------
    def __call__(self, batch: pa.Table) -> pa.Table:
        from builder.judge import pool
        from builder.judge.pool import TASK_COLUMNS
        from builder.judge.stream import verdict_table, write_arrow

        rows = batch.to_pydict()
        out: dict[str, list[Any]] = {name: [] for name in RESULT_SCHEMA.names}
        groups: dict[str, list[int]] = {}
        for i, vkey in enumerate(rows["vkey"]):
            groups.setdefault(vkey, []).append(i)
        for vkey, indices in groups.items():
            already = self._already(vkey) if rows["resume"][indices[0]] else {}
            judged: list[int] = []
            verdicts: list[dict[str, Any]] = []
            for i in indices:
                cid = rows["candidate_id"][i]
                started = ended = time.time()
                if cid in already:
                    verdict, fresh = already[cid], False
                else:
                    task = {c: rows[c][i] for c in TASK_COLUMNS if c in rows}
                    deaths = self._deaths(vkey, cid)
                    if self._death_count(deaths) >= MAX_DEATHS:
                        result = pool.lost_verdict(RuntimeError(f"execution actors died {MAX_DEATHS} times while judging it"))
                    else:
                        _write(self._inflight(), f"{vkey}\n{cid}")
                        try:
                            result, started, ended = pool.judge_task(task)
                        except Exception as exc:  # noqa: BLE001 - judging itself failed: the executor's failure
                            result = pool.lost_verdict(exc)
                    judged.append(i)
                    verdicts.append(result)
                    verdict, fresh = result["verdict"], True
                for name, value in (
                    ("chunk", rows["chunk"][i]), ("vkey", vkey), ("size", rows["size"][i]), ("position", rows["position"][i]), ("candidate_id", cid),
                    ("verdict", verdict), ("judged", fresh), ("node", self.node), ("started", started), ("ended", ended),
                    ("origin", rows["origin"][i]), ("gen_started", rows["gen_started"][i]), ("gen_ended", rows["gen_ended"][i]),
                ):
                    out[name].append(value)
            if judged:
                shard = {name: [rows[name][i] for i in judged] for name in rows}
                folder = parts_folder(self.execute_dir, vkey)
                folder.mkdir(parents=True, exist_ok=True)
                ids = "\n".join(shard["candidate_id"])
                write_arrow(folder / f"{_digest(ids)}.arrow", verdict_table(self.features, shard, verdicts))
        self._inflight().unlink(missing_ok=True)
        return pa.Table.from_pydict(out, schema=RESULT_SCHEMA)
