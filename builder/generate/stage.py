"""The generation stage: problems -> candidates, chunk by chunk, each chunk cached on disk.

``generate_stage`` is a ``datasets.map(batched=True, batch_size=chunk_size)`` over the problems, in this process.
For every chunk it renders the prompts (``builder.core.prompt.build_messages``), computes the chunk's key
(:func:`builder.generate.keys.chunk_key`) and either reads the finished chunk back from
``<cache_dir>/<key>.parquet`` or generates it: one backend call for the whole chunk, all n samples of a prompt in
one request, each prompt with its own seed. The engine starts only when the first chunk that is not on disk needs
it, so a re-run of a finished build starts no engine at all.

Candidate records: ``candidate_id = f"{problem_id}_{index}"``, ``problem_id``, ``candidate_index``, ``language``,
``model``, ``response``, ``finish_reason`` ("stop", or "length" for a response cut by ``max_tokens``) and
``num_tokens`` (the engine's generated token ids). The reasoning split is added by
:func:`builder.extract.extract_stage`.

**Languages** (``generation.languages``, :mod:`builder.core.languages`): every problem gets one prompt per language
(its system message from :meth:`builder.core.settings.PromptSettings.system_for`) and ``n`` samples of each; the
candidates of the k-th language are numbered ``k * n .. k * n + n - 1``, so a Python-only build keeps its numbering.
A Python prompt's seed is derived from the recipe seed and the problem id, another language's also from its name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset, Features

from builder.core.caching import fingerprint
from builder.core.languages import PYTHON
from builder.core.prompt import build_messages
from builder.core.schema import GENERATION_FEATURES
from builder.core.settings import Recipe
from builder.generate.backends import make_backend
from builder.generate.base import Backend, Request, Sample
from builder.generate.cache import ChunkCache
from builder.generate.keys import backend_identity, chunk_key, prompt_hash, request_seed

FEATURES = Features(GENERATION_FEATURES)
_PROMPT_COLUMNS = ("problem_id", "problem", "title", "starter_code")


@dataclass
class GenerationReport:
    """What one run of the stage did."""

    chunks: int = 0
    generated: int = 0  # chunks the engine generated
    cached: int = 0  # chunks read back from disk
    candidates: int = 0
    keys: list[str] = field(default_factory=list)


def _messages(recipe: Recipe, row: Mapping[str, Any], language: str = PYTHON) -> list[dict[str, str]]:
    return build_messages(row, recipe.prompt.system_for(language), recipe.prompt.user)


def _seed(recipe: Recipe, problem_id: str, language: str) -> int:
    return request_seed(recipe.seed, problem_id if language == PYTHON else f"{problem_id}\0{language}")


def _rows(batch: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    n = len(batch["problem_id"])
    return [{k: batch[k][i] for k in batch if k in _PROMPT_COLUMNS} for i in range(n)]


def plan_chunks(problems: Dataset, recipe: Recipe) -> list[str]:
    """The key of every chunk, in order (chunk i holds problems ``[i * chunk_size, (i + 1) * chunk_size)``)."""
    identity = backend_identity(recipe.model)
    columns = [c for c in _PROMPT_COLUMNS if c in problems.column_names]
    keys = []
    for batch in problems.select_columns(columns).iter(batch_size=recipe.generation.chunk_size):
        rows = _rows(batch)
        ids = [(r["problem_id"], lang, prompt_hash(_messages(recipe, r, lang))) for r in rows for lang in recipe.generation.languages]
        keys.append(chunk_key(identity, recipe.sampling, recipe.prompt, recipe.seed, ids))
    return keys


def samples_to_records(
    problem_ids: Sequence[str], outputs: Sequence[Sequence[Sample]], model: str, n: int,
    languages: Sequence[str] = (PYTHON,),
) -> dict[str, list[Any]]:
    """Candidate columns for a chunk's outputs (problem order, then language order, then sample order): ``outputs``
    holds one result per problem and language."""
    if len(outputs) != len(problem_ids) * len(languages):
        raise RuntimeError(f"the backend returned {len(outputs)} results for {len(problem_ids) * len(languages)} prompts")
    records: dict[str, list[Any]] = {name: [] for name in FEATURES}
    prompts = [(pid, k, lang) for pid in problem_ids for k, lang in enumerate(languages)]
    for (pid, k, language), samples in zip(prompts, outputs):
        if len(samples) != n:
            raise RuntimeError(f"the backend returned {len(samples)} samples for problem {pid}, expected {n}")
        for i, sample in enumerate(samples):
            index = k * n + i
            records["candidate_id"].append(f"{pid}_{index}")
            records["problem_id"].append(pid)
            records["candidate_index"].append(index)
            records["language"].append(language)
            records["model"].append(model)
            records["response"].append(sample.text)
            records["finish_reason"].append(sample.finish_reason)
            records["num_tokens"].append(sample.num_tokens)
    return records


class _ChunkGenerator:
    """The ``datasets.map`` function: one call per chunk of problems."""

    def __init__(
        self,
        recipe: Recipe,
        keys: list[str],
        cache: ChunkCache,
        factory: Callable[[], Backend],
        report: GenerationReport,
    ) -> None:
        self.recipe = recipe
        self.keys = keys
        self.cache = cache
        self.factory = factory
        self.started: Backend | None = None
        self.report = report

    def backend(self) -> Backend:
        if self.started is None:
            self.started = self.factory()
        return self.started

    def __call__(self, batch: dict[str, list[Any]], indices: list[int]) -> dict[str, list[Any]]:
        chunk = indices[0] // self.recipe.generation.chunk_size
        return self.chunk(self.keys[chunk], batch)[0]

    def chunk(self, key: str, batch: Mapping[str, list[Any]]) -> tuple[dict[str, list[Any]], str]:
        """One chunk's candidate records, read back or generated, and which ("cached" or "generated")."""
        ids = list(batch["problem_id"])
        languages = self.recipe.generation.languages
        expected = len(ids) * self.recipe.sampling.n * len(languages)
        records = self.cache.load(key)
        if records is not None and len(records["candidate_id"]) == expected:
            self.cache.log("cached", key, len(ids), expected)
            self.report.cached += 1
            origin = "cached"
        else:
            requests = [
                Request(messages=_messages(self.recipe, row, lang), seed=_seed(self.recipe, row["problem_id"], lang))
                for row in _rows(batch)
                for lang in languages
            ]
            outputs = self.backend().generate(requests, self.recipe.sampling)
            records = samples_to_records(ids, outputs, self.recipe.model.path, self.recipe.sampling.n, languages)
            self.cache.save(key, records)
            self.cache.log("generated", key, len(ids), expected)
            self.report.generated += 1
            origin = "generated"
        self.report.candidates += expected
        return records, origin


def _factory(recipe: Recipe, backend: Backend | Callable[[], Backend] | None) -> tuple[Callable[[], Backend], bool]:
    """How to get the backend, and whether the stage owns (and closes) it."""
    if backend is None:
        return (lambda: make_backend(recipe.model, recipe.seed)), True
    if hasattr(backend, "generate"):
        started = backend
        return (lambda: started), False  # type: ignore[return-value]
    return backend, True  # type: ignore[return-value]


def generate_chunks(
    problems: Dataset,
    recipe: Recipe,
    cache_dir: str | Path,
    *,
    backend: Backend | Callable[[], Backend] | None = None,
    report: GenerationReport | None = None,
    keys: list[str] | None = None,
) -> Iterator[tuple[str, dict[str, list[Any]], str]]:
    """The streaming form of :func:`generate_stage`: ``(chunk key, candidate records, "generated" | "cached")`` for
    every chunk in order, each as soon as it exists, so the next stage can start on it while the engine generates
    the following one. The same chunks, keys and cache as :func:`generate_stage`; ``keys``: :func:`plan_chunks` of
    the same problems and recipe, when the caller has it already."""
    cache = ChunkCache(Path(cache_dir), FEATURES)
    report = report if report is not None else GenerationReport()
    keys = plan_chunks(problems, recipe) if keys is None else keys
    report.chunks, report.keys = len(keys), keys
    factory, owned = _factory(recipe, backend)
    fn = _ChunkGenerator(recipe, keys, cache, factory, report)
    columns = [c for c in _PROMPT_COLUMNS if c in problems.column_names]
    try:
        for key, batch in zip(keys, problems.select_columns(columns).iter(batch_size=recipe.generation.chunk_size)):
            records, origin = fn.chunk(key, batch)
            yield key, records, origin
    finally:
        if owned and fn.started is not None:
            fn.started.close()


def generate_stage(
    problems: Dataset,
    recipe: Recipe,
    cache_dir: str | Path,
    *,
    backend: Backend | Callable[[], Backend] | None = None,
    report: GenerationReport | None = None,
) -> Dataset:
    """Candidates for every problem (``GENERATION_FEATURES``), in problem order then sample order.

    The recipe's model, sampling, prompt, seed and ``generation.chunk_size`` decide it. ``backend`` is a started
    backend (kept open) or a factory; by default :func:`builder.generate.backends.make_backend` is called when the
    first chunk that is not cached needs it, and the backend it made is closed at the end.
    """
    cache_dir = Path(cache_dir)
    cache = ChunkCache(cache_dir, FEATURES)
    report = report if report is not None else GenerationReport()
    keys = plan_chunks(problems, recipe)
    report.chunks, report.keys = len(keys), keys
    factory, owned = _factory(recipe, backend)
    fn = _ChunkGenerator(recipe, keys, cache, factory, report)
    columns = [c for c in _PROMPT_COLUMNS if c in problems.column_names]
    key = fingerprint("generate", recipe.model, recipe.sampling, recipe.prompt, recipe.seed, recipe.generation, keys)
    try:
        return problems.select_columns(columns).map(
            fn,
            batched=True,
            batch_size=recipe.generation.chunk_size,
            with_indices=True,
            remove_columns=columns,
            features=FEATURES,
            new_fingerprint=key,
            cache_file_name=str(cache_dir / "candidates.arrow"),
            load_from_cache_file=False,
            desc="Generating candidates",
        )
    finally:
        if owned and fn.started is not None:
            fn.started.close()
