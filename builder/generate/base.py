"""What every generation backend takes and gives back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from builder.core.settings import SamplingSettings


@dataclass(frozen=True)
class Request:
    """One prompt: its chat messages and its seed (the engine derives sample i's seed as ``seed + i``)."""

    messages: list[dict[str, str]]
    seed: int


@dataclass(frozen=True)
class Sample:
    """One generated response."""

    text: str
    finish_reason: str | None  # "stop" or "length" (truncated by max_tokens); the engine's word otherwise
    num_tokens: int | None  # generated token ids (None only where an endpoint does not say)


class Backend(Protocol):
    """Samples ``sampling.n`` responses for every request, in request order and sample order."""

    def generate(self, requests: Sequence[Request], sampling: SamplingSettings) -> list[list[Sample]]: ...

    def close(self) -> None: ...


def sampling_kwargs(sampling: SamplingSettings, seed: int) -> dict[str, Any]:
    """Keyword arguments of ``vllm.SamplingParams`` (and of an OpenAI-style request body) for one request."""
    return {
        "n": sampling.n,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "top_k": sampling.top_k if sampling.top_k > 0 else 0,
        "max_tokens": sampling.max_tokens,
        "seed": seed,
    }
