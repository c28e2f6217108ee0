"""The generation backends a recipe's ``model.backend`` may name, and the module that implements each.

``vllm``: the offline engine in this process (:mod:`builder.generate.vllm_engine`; with ``data_parallel_size > 1``, one
engine per device group in spawned processes, :mod:`builder.generate.data_parallel`). ``openai``: any
OpenAI-compatible chat-completions endpoint (:mod:`builder.generate.openai_api`). Nothing is imported until used.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from builder.core.settings import ModelSettings
    from builder.generate.base import Backend

BACKENDS = ("vllm", "openai")
#: a Hub model id: ``name`` or ``owner/name`` (letters, digits, ``-``, ``_``, ``.``; at most 96 characters each)
_HUB_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


def looks_local(path: str) -> bool:
    """Whether a model path names a local folder rather than a Hub id.

    Local: absolute, ``./``, ``../`` or ``~``, a trailing or second ``/``, a backslash, anything that is not a valid Hub
    id, and ``owner/name`` whose first part is a folder here (``models/demo-typo`` beside ``models/``).
    """
    if path.startswith(("/", ".", "~")) or "\\" in path or path.endswith("/") or not _HUB_ID.match(path):
        return True
    head, sep, _ = path.partition("/")
    return bool(sep) and Path(head).is_dir()


def check_model(model: ModelSettings) -> str:
    """Check ``model.path`` before any engine starts; returns where the model comes from (for the plan).

    A local-looking path must be a model folder (a ``config.json`` in it); a Hub id must be in the local cache when
    ``HF_HUB_OFFLINE`` is set. Raises :class:`~builder.core.errors.UserError` with one line otherwise (no Hub retries).
    """
    from builder.core.errors import UserError

    if model.backend == "openai":
        return f"endpoint {model.base_url} (model {model.served_model_name or model.path})"
    path = model.path
    local = Path(path).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise UserError(f"model.path (--model) {path}: not a model folder (it has no config.json)")
        return f"local folder {path}"
    if looks_local(path):
        raise UserError(f"model.path (--model) {path}: no such model folder")
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(path, "config.json"), str):
            raise UserError(f"model.path (--model) {path}: not in the Hugging Face cache, and HF_HUB_OFFLINE is set")
        return f"Hub model {path} (from the local cache)"
    return f"Hub model {path}"


def make_backend(model: ModelSettings, seed: int) -> Backend:
    """The backend a model's settings ask for (the offline engine starts here: this takes a while)."""
    check_model(model)
    if model.backend == "openai":
        from builder.generate.openai_api import OpenAIBackend

        return OpenAIBackend(model)
    if model.data_parallel_size > 1:
        from builder.generate.data_parallel import DataParallelBackend

        return DataParallelBackend(model, seed)
    from builder.generate.vllm_engine import VLLMBackend

    return VLLMBackend(model, seed)
