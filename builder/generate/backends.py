"""The generation backends a recipe's ``model.backend`` may name, and the module that implements each.

``vllm``: the offline engine in this process (:mod:`builder.generate.vllm_engine`; with ``data_parallel_size > 1``, one
engine per device group in spawned processes, :mod:`builder.generate.data_parallel`). ``openai``: any
OpenAI-compatible chat-completions endpoint (:mod:`builder.generate.openai_api`). Nothing is imported until used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from builder.core.settings import ModelSettings
    from builder.generate.base import Backend

BACKENDS = ("vllm", "openai")


def make_backend(model: ModelSettings, seed: int) -> Backend:
    """The backend a model's settings ask for (the offline engine starts here: this takes a while)."""
    if model.backend == "openai":
        from builder.generate.openai_api import OpenAIBackend

        return OpenAIBackend(model)
    if model.data_parallel_size > 1:
        from builder.generate.data_parallel import DataParallelBackend

        return DataParallelBackend(model, seed)
    from builder.generate.vllm_engine import VLLMBackend

    return VLLMBackend(model, seed)
