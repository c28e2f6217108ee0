"""An OpenAI-compatible chat-completions endpoint (``vllm serve``, SGLang, a hosted API) as a generation backend.

Requests are sent with ``httpx`` asynchronously, at most ``model.concurrency`` at a time, each with a timeout; a
timeout, a connection error, HTTP 408/409/429 or a 5xx is retried with exponential backoff (``Retry-After`` is
honoured) up to ``model.max_retries`` times. Other HTTP errors (a bad key, an unknown model) end the build with one
line. The API key is read from the environment variable named by ``model.api_key_env``.

All n samples of a prompt are asked for in one request (``n``, with the request's ``seed``); a server that returns
fewer choices gets one request per missing sample (``n=1``, seed ``seed + i``, as vLLM seeds sample i). A reasoning
field (``reasoning_content`` / ``reasoning``) is put back in front of the answer inside ``<think>`` tags, so
extraction splits it the same way as with the offline engine. Token counts come from the choice's ``token_ids``
(vLLM servers, with ``extra_body = {return_token_ids = true}``), else from ``usage`` when a response holds one
choice; otherwise they stay null (the build fills them with the model's tokenizer when it is local).
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Sequence
from typing import Any

import httpx

from builder.core.errors import UserError
from builder.core.settings import ModelSettings, SamplingSettings
from builder.generate.base import Request, Sample

RETRY_STATUS = frozenset({408, 409, 429})
MAX_BACKOFF_S = 60.0


def backoff_s(attempt: int, retry_after: str | None = None) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): the server's Retry-After, else 0.5 * 2^attempt + jitter."""
    if retry_after:
        try:
            return min(MAX_BACKOFF_S, max(0.0, float(retry_after)))
        except ValueError:
            pass
    base = min(MAX_BACKOFF_S, 0.5 * 2**attempt)
    return base + random.uniform(0, base / 4)


def _error_message(resp: httpx.Response) -> str:
    try:
        data = resp.json()
        err = data.get("error", data) if isinstance(data, dict) else data
        message = err.get("message") if isinstance(err, dict) else err
        text = str(message)
    except ValueError:
        text = resp.text
    return " ".join(text.split())[:300]


class OpenAIBackend:
    def __init__(self, model: ModelSettings) -> None:
        if not model.base_url:
            raise UserError("model.base_url is required for the openai backend")
        self.model = model
        self.base_url = model.base_url.rstrip("/")
        self.headers = {"Content-Type": "application/json"}
        if model.api_key_env:
            key = os.environ.get(model.api_key_env)
            if not key:
                raise UserError(f"the environment variable {model.api_key_env} (model.api_key_env) is not set")
            self.headers["Authorization"] = f"Bearer {key}"
        self.model_name = model.served_model_name or model.path

    def generate(self, requests: Sequence[Request], sampling: SamplingSettings) -> list[list[Sample]]:
        if not requests:
            return []
        return asyncio.run(self._generate_all(requests, sampling))

    def close(self) -> None:
        pass

    async def _generate_all(self, requests: Sequence[Request], sampling: SamplingSettings) -> list[list[Sample]]:
        from tqdm.auto import tqdm

        limits = httpx.Limits(max_connections=self.model.concurrency, max_keepalive_connections=self.model.concurrency)
        timeout = httpx.Timeout(self.model.timeout_s)
        semaphore = asyncio.Semaphore(self.model.concurrency)
        async with httpx.AsyncClient(headers=self.headers, timeout=timeout, limits=limits) as client:
            with tqdm(total=len(requests), desc="Requests", unit="prompt") as bar:

                async def one(request: Request) -> list[Sample]:
                    samples = await self._samples(client, semaphore, request, sampling)
                    bar.update(1)
                    return samples

                return list(await asyncio.gather(*(one(r) for r in requests)))

    def _body(self, request: Request, sampling: SamplingSettings, n: int, seed: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": request.messages,
            "n": n,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "seed": seed,
        }
        if sampling.top_k > 0:  # not part of OpenAI's API: only sent when it is on
            body["top_k"] = sampling.top_k
        body.update(self.model.extra_body)
        return body

    async def _samples(
        self, client: httpx.AsyncClient, semaphore: asyncio.Semaphore, request: Request, sampling: SamplingSettings
    ) -> list[Sample]:
        samples = await self._post(client, semaphore, self._body(request, sampling, sampling.n, request.seed))
        for i in range(len(samples), sampling.n):  # the server ignored n: ask for the rest one by one
            more = await self._post(client, semaphore, self._body(request, sampling, 1, request.seed + i))
            samples.extend(more[:1])
        if len(samples) < sampling.n:
            raise UserError(f"{self.base_url} returned {len(samples)} choices for a request of n={sampling.n}")
        return samples[: sampling.n]

    async def _post(self, client: httpx.AsyncClient, semaphore: asyncio.Semaphore, body: dict[str, Any]) -> list[Sample]:
        url = f"{self.base_url}/chat/completions"
        last = ""
        for attempt in range(self.model.max_retries + 1):
            retry_after = None
            try:
                async with semaphore:
                    resp = await client.post(url, json=body)
            except httpx.TimeoutException:
                last = f"timed out after {self.model.timeout_s:g} s"
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if resp.status_code == 200:
                    return self._parse(resp)
                last = f"HTTP {resp.status_code}: {_error_message(resp)}"
                if resp.status_code not in RETRY_STATUS and resp.status_code < 500:
                    raise UserError(f"{url}: {last}")
                retry_after = resp.headers.get("retry-after")
            if attempt < self.model.max_retries:
                await asyncio.sleep(backoff_s(attempt, retry_after))
        raise UserError(f"{url}: failed after {self.model.max_retries + 1} attempts ({last})")

    def _parse(self, resp: httpx.Response) -> list[Sample]:
        try:
            data = resp.json()
            choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise UserError(f"{self.base_url}: not a chat-completions response: {resp.text[:200]!r}") from None
        usage = data.get("usage") or {}
        samples = []
        for choice in choices:
            message = choice.get("message") or {}
            text = message.get("content") or ""
            reasoning = message.get("reasoning_content") or message.get("reasoning")
            if reasoning:
                text = f"<think>\n{reasoning}\n</think>\n\n{text}"
            token_ids = choice.get("token_ids")
            if isinstance(token_ids, list):
                num_tokens: int | None = len(token_ids)
            elif len(choices) == 1 and isinstance(usage.get("completion_tokens"), int):
                num_tokens = usage["completion_tokens"]
            else:
                num_tokens = None
            samples.append(Sample(text=text, finish_reason=choice.get("finish_reason"), num_tokens=num_tokens))
        return samples
