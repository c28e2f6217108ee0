"""Seeds and cache keys: everything that decides what a chunk's candidates are, and nothing else.

A request's seed depends only on the recipe seed and the problem id, so a problem's samples do not depend on how the
problems are chunked or batched. A chunk's key covers the model (and, for a local model folder, its files), the engine
options that change what is sampled, the sampling parameters, the prompt, the seed and the chunk's problems (ids and
hashes of their rendered prompts): change any of them and the chunk is generated again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from builder.core.settings import ModelSettings, PromptSettings, SamplingSettings

#: Bump when the records a chunk holds change shape or meaning.
FORMAT_VERSION = 1
#: Seeds stay below 2**31 with room for ``seed + i`` (vLLM's per-sample seeds); OpenAI servers take int32-ish seeds.
_SEED_SPACE = 2**31 - 2**20
#: Weight files up to this size are hashed whole; larger ones are identified by size and modification time.
_HASH_WHOLE_BYTES = 1 << 30


def request_seed(seed: int, problem_id: str) -> int:
    """The seed of one problem's request, from the recipe seed and the problem id alone."""
    digest = hashlib.sha256(f"{seed}\0{problem_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % _SEED_SPACE


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@lru_cache(maxsize=32)
def _folder_fingerprint(folder: str, stamp: tuple[tuple[str, int, int], ...]) -> str:
    h = hashlib.sha256()
    for name, size, mtime_ns in stamp:
        path = Path(folder) / name
        h.update(name.encode() + b"\0")
        if size <= _HASH_WHOLE_BYTES:
            h.update(_sha256_file(path).encode())
        else:
            h.update(f"{size}:{mtime_ns}".encode())
    return h.hexdigest()


def model_fingerprint(path: str) -> str | None:
    """A fingerprint of a local model folder's files (config, tokenizer, weights); None for a Hub id."""
    folder = Path(path)
    if not folder.is_dir():
        return None
    stamp = tuple(
        sorted(
            (p.name, p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.iterdir()
            if p.is_file() and not p.name.startswith(".")
        )
    )
    return _folder_fingerprint(str(folder.resolve()), stamp)


def backend_identity(model: ModelSettings) -> dict[str, Any]:
    """The model and the engine options that change what is sampled (not where or how fast)."""
    identity: dict[str, Any] = {"backend": model.backend, "model": model.path, "files": model_fingerprint(model.path)}
    if model.backend == "vllm":
        identity.update(
            dtype=model.dtype,
            max_model_len=model.max_model_len,
            tensor_parallel_size=model.tensor_parallel_size,
            enforce_eager=model.enforce_eager,
            engine_kwargs=model.engine_kwargs,
        )
    else:
        identity.update(base_url=model.base_url, served_model_name=model.served_model_name, extra_body=model.extra_body)
    return identity


def prompt_hash(messages: Sequence[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(list(messages), sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def chunk_key(
    identity: dict[str, Any],
    sampling: SamplingSettings,
    prompt: PromptSettings,
    seed: int,
    problems: Sequence[tuple[str, str]],
) -> str:
    """The cache key of one chunk; ``problems`` is ``[(problem_id, prompt_hash), ...]`` in chunk order."""
    payload = {
        "format": FORMAT_VERSION,
        "backend": identity,
        "sampling": sampling.model_dump(),
        "prompt": prompt.model_dump(),
        "seed": seed,
        "problems": [list(p) for p in problems],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
