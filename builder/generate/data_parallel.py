"""Data-parallel ranks: one engine per device group, each in a spawned process with its own visible devices.

Rank r sees devices ``[r * tp, (r + 1) * tp)`` of the parent's ``CUDA_VISIBLE_DEVICES`` (all devices when it is
unset) and runs a :class:`~builder.generate.vllm_engine.VLLMBackend` (tensor parallel over its devices when
``tensor_parallel_size > 1``). A chunk's requests are split into contiguous slices, one per rank, generated at the
same time and put back in order. Each request carries its own seed, so the split does not change what is sampled.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from builder.core.errors import UserError
from builder.core.settings import ModelSettings, SamplingSettings
from builder.generate.base import Request, Sample


def rank_devices(rank: int, tensor_parallel_size: int, visible: Sequence[str]) -> list[str]:
    return list(visible[rank * tensor_parallel_size : (rank + 1) * tensor_parallel_size])


def visible_devices(count: int) -> list[str]:
    """The parent's visible devices (``CUDA_VISIBLE_DEVICES``, else 0..count-1)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is None or env.strip() == "":
        return [str(i) for i in range(count)]
    return [d.strip() for d in env.split(",") if d.strip()]


def _rank_main(rank: int, devices: list[str], model: dict[str, Any], seed: int, conn: Connection) -> None:
    """A rank's process: start the engine on its devices, then serve generate requests until told to stop."""
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
    from builder.generate.vllm_engine import VLLMBackend

    try:
        backend = VLLMBackend(ModelSettings(**model), seed)
    except UserError as exc:
        conn.send(("user_error", exc.format_message()))
        return
    except BaseException as exc:  # noqa: BLE001 - the parent reports it
        conn.send(("error", f"rank {rank}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        return
    conn.send(("ready", None))
    try:
        while True:
            message = conn.recv()
            if message is None:
                break
            requests, sampling = message
            try:
                conn.send(("ok", backend.generate(requests, sampling)))
            except Exception as exc:  # noqa: BLE001
                conn.send(("error", f"rank {rank}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    except EOFError:
        pass
    finally:
        backend.close()


class DataParallelBackend:
    """``data_parallel_size`` engines in spawned processes."""

    def __init__(self, model: ModelSettings, seed: int) -> None:
        size, tp = model.data_parallel_size, model.tensor_parallel_size
        visible = visible_devices(size * tp)
        if len(visible) < size * tp:
            raise UserError(
                f"model.data_parallel_size {size} x model.tensor_parallel_size {tp} needs {size * tp} devices; "
                f"CUDA_VISIBLE_DEVICES lists {len(visible)}"
            )
        rank_model = model.model_copy(update={"data_parallel_size": 1}).model_dump()
        ctx = mp.get_context("spawn")
        self.ranks: list[tuple[Any, Connection]] = []
        try:
            for rank in range(size):
                parent, child = ctx.Pipe()
                proc = ctx.Process(
                    target=_rank_main,
                    args=(rank, rank_devices(rank, tp, visible), rank_model, seed, child),
                    name=f"builder-generate-rank{rank}",
                )
                proc.start()
                child.close()
                self.ranks.append((proc, parent))
            for rank, (_, conn) in enumerate(self.ranks):
                self._receive(rank, conn)
        except BaseException:
            self.close()
            raise

    def _receive(self, rank: int, conn: Connection) -> Any:
        try:
            status, payload = conn.recv()
        except EOFError:
            proc = self.ranks[rank][0]
            proc.join(5)
            raise RuntimeError(f"data-parallel rank {rank} died (exit code {proc.exitcode})") from None
        if status == "user_error":
            raise UserError(payload)
        if status == "error":
            raise RuntimeError(f"data-parallel {payload}")
        return payload

    def generate(self, requests: Sequence[Request], sampling: SamplingSettings) -> list[list[Sample]]:
        size = len(self.ranks)
        bounds = [len(requests) * r // size for r in range(size + 1)]
        busy = []
        for rank, (_, conn) in enumerate(self.ranks):
            part = list(requests[bounds[rank] : bounds[rank + 1]])
            if part:
                conn.send((part, sampling))
                busy.append(rank)
        results: list[list[Sample]] = []
        error: BaseException | None = None
        for rank in busy:  # collect from every busy rank, even after an error, so the pipes stay in step
            try:
                results.extend(self._receive(rank, self.ranks[rank][1]))
            except RuntimeError as exc:
                error = error or exc
        if error is not None:
            raise error
        return results

    def close(self) -> None:
        for proc, conn in self.ranks:
            try:
                conn.send(None)
            except (OSError, ValueError):
                pass
        for proc, conn in self.ranks:
            proc.join(60)
            if proc.is_alive():
                proc.terminate()
                proc.join(10)
            conn.close()
        self.ranks = []
