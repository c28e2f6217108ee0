"""Every setting of a run, declared once: its type, check, default, help and (where it has one) command-line flag.

A recipe (``recipes/*.toml``) is a :class:`Recipe`: one table per section model below. The models are pydantic models
in strict mode (no silent coercion: ``n = 2.5`` or ``workers = true`` are errors), frozen, and refuse unknown keys;
:mod:`builder.core.recipe` turns their validation errors into one line naming the key. The kinds a field accepts come
from the registries (source kinds, sandbox kinds, generation backends), never from a second list here. The same
models are what the stages take: the execution stage runs on :class:`ExecutionSettings`, generation on the recipe's
model, sampling, prompt and generation tables; nothing re-reads the TOML.

A field with ``flag`` in its ``json_schema_extra`` can be overridden from ``builder build`` (the CLI derives the
option, its type and its help from the field).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from builder.core.languages import DEFAULT_SYSTEMS, LANGUAGES
from builder.core.languages import normalize as normalize_language
from builder.core.prompt import DEFAULT_SYSTEM, DEFAULT_USER
from builder.generate.backends import BACKENDS
from builder.problems.sources import KINDS
from builder.sandbox import SANDBOX_KINDS

DTYPES = ("auto", "float32", "bfloat16", "float16")
LIMIT_MODES = ("own", "cap", "flat")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def flag(name: str, description: str, choices: tuple[str, ...] | None = None) -> dict[str, Any]:
    """``Field`` keyword arguments of a setting that ``builder build`` can override with ``name``."""
    extra: dict[str, Any] = {"flag": name}
    if choices:
        extra["choices"] = list(choices)
    return {"description": description, "json_schema_extra": extra}


def choices(values: tuple[str, ...], description: str) -> dict[str, Any]:
    """``Field`` keyword arguments of a setting that takes one of ``values`` (the CLI offers them as a choice)."""
    return {"description": description, "json_schema_extra": {"choices": list(values)}}


class Invalid(ValueError):
    """A check of ours failed; the message is what follows the key in the error line ("must be ...")."""


def _one_of(choices: tuple[str, ...]):  # type: ignore[no-untyped-def]
    def check(value: str) -> str:
        if value not in choices:
            raise Invalid(f"must be one of {', '.join(choices)}")
        return value

    return check


def _nonempty(value: str) -> str:
    if not value.strip():
        raise Invalid("must not be empty")
    return value


NonEmpty = Annotated[str, AfterValidator(_nonempty)]


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SourceSettings(Settings):
    """One ``[[sources]]`` table: an upstream (``builder.problems.sources`` kinds) and what to take from it."""

    kind: Annotated[str, AfterValidator(_one_of(tuple(KINDS)))] = Field(**choices(tuple(KINDS), "upstream format"))
    path: NonEmpty = Field(description="Hub id or local file/folder")
    subset: NonEmpty | None = Field(None, description="subset/config of the upstream")
    split: NonEmpty | None = Field(None, description="split [default: the one the upstream has]")
    limit: int | None = Field(None, ge=1, **flag("--limit", "only the first N problems of the source"))
    #: extra options for the source loader (``builder.problems.sources.load_source(**options)``)
    options: dict[str, Any] = Field(default_factory=dict, description="extra options of the source loader")


class ModelSettings(Settings):
    """``[model]``: the model and its engine (vLLM offline) or endpoint (OpenAI-compatible)."""

    backend: Annotated[str, AfterValidator(_one_of(BACKENDS))] = Field("vllm", **flag("--backend", "the generation backend", BACKENDS))
    path: NonEmpty = Field(**flag("--model", "the model: a Hub id or a local folder"))
    dtype: Annotated[str, AfterValidator(_one_of(DTYPES))] = Field("auto", **choices(DTYPES, "weights dtype"))
    max_model_len: int | None = Field(None, ge=16, description="context length")
    tensor_parallel_size: int = Field(1, ge=1, le=1024, **flag("--tensor-parallel-size", "GPUs one model replica is sharded over"))
    data_parallel_size: int = Field(1, ge=1, le=1024, **flag("--data-parallel-size", "model replicas, one engine each"))
    gpu_memory_utilization: float = Field(0.9, gt=0.0, le=1.0, description="share of GPU memory vLLM may take")
    #: KV cache size in GiB (on CPU the default would take most of the machine's memory)
    kv_cache_memory_gb: float | None = Field(None, gt=0.0, description="KV cache size in GiB")
    enforce_eager: bool = Field(False, description="no CUDA graphs")
    #: other ``vllm.LLM`` keyword arguments, passed as they are
    engine_kwargs: dict[str, Any] = Field(default_factory=dict, description="other vllm.LLM keyword arguments")
    base_url: NonEmpty | None = Field(None, **flag("--base-url", "the endpoint of the openai backend, e.g. http://host:8000/v1"))
    api_key_env: NonEmpty | None = Field(None, description="environment variable holding the endpoint's key")
    served_model_name: NonEmpty | None = Field(None, description="model name the endpoint serves")
    concurrency: int = Field(16, ge=1, le=4096, description="requests in flight")
    timeout_s: float = Field(600.0, gt=0.0, description="seconds per request")
    max_retries: int = Field(5, ge=0, le=100, description="retries of a failed request")
    #: extra JSON fields of every request (e.g. ``{return_token_ids = true}`` for vLLM servers)
    extra_body: dict[str, Any] = Field(default_factory=dict, description="extra JSON fields of every request")

    @model_validator(mode="after")
    def _endpoint(self) -> ModelSettings:
        if self.backend == "openai" and not self.base_url:
            raise Invalid('model.base_url is required when model.backend is "openai"')
        return self


class SamplingSettings(Settings):
    """``[sampling]`` (the seed is the recipe's top-level ``seed``)."""

    n: int = Field(1, ge=1, le=1024, **flag("--n", "samples per problem"))
    temperature: float = Field(1.0, ge=0.0, **flag("--temperature", "sampling temperature"))
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus sampling")
    top_k: int = Field(-1, description="-1 or 0: off")
    max_tokens: int = Field(1024, ge=1, **flag("--max-tokens", "most tokens per response"))

    @field_validator("top_k")
    @classmethod
    def _top_k(cls, value: int) -> int:
        if value < -1:
            raise Invalid("must be -1 or 0 (off) or an integer >= 1")
        return value


def _template(value: str) -> str:
    try:
        value.format(problem="", title="", starter_code="")
    except (KeyError, IndexError, ValueError) as exc:
        raise Invalid(f"must be a template using only {{problem}}, {{title}}, {{starter_code}} (double other braces): {exc}") from None
    return value


class PromptSettings(Settings):
    """``[prompt]``: the system message (an empty string turns it off) and the user template around ``{problem}``."""

    system: str | None = Field(DEFAULT_SYSTEM, description="system message")
    user: Annotated[NonEmpty, AfterValidator(_template)] = Field(DEFAULT_USER, description="user message template")
    system_by_language: dict[str, str] = Field(
        default_factory=dict, description="system message per language (python, cpp, c), instead of system for that "
        "language's prompts; a language without one gets system, or its own default when system is the default"
    )

    @field_validator("system")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("system_by_language")
    @classmethod
    def _known_languages(cls, value: dict[str, str]) -> dict[str, str]:
        out = {}
        for key, text in value.items():
            try:
                out[normalize_language(key)] = text
            except ValueError:
                raise Invalid(f"must name languages among {', '.join(LANGUAGES)}, got {key!r}") from None
        return out

    def system_for(self, language: str) -> str | None:
        """The system message of ``language``'s prompts."""
        language = normalize_language(language)
        if language in self.system_by_language:
            return self.system_by_language[language] or None
        if language != "python" and self.system == DEFAULT_SYSTEM:
            return DEFAULT_SYSTEMS[language]
        return self.system


class ExecutionSettings(Settings):
    """``[execution]``, and everything the execution stage needs: the one execution-settings class.

    Time and memory: ``limits = "own"`` runs each problem under its own limits, the values filling in for problems
    that state none; ``"cap"`` caps the problem's limits at the values; ``"flat"`` uses the values for every problem.
    """

    workers: int = Field(2, ge=1, le=1024, **flag("--workers", "parallel worker processes, one warm sandbox each"))
    time_limit_s: float = Field(
        10.0, gt=0.0, le=3600.0,
        description="CPU seconds per test for problems that state no time limit (limits cap: also the cap; flat: every problem's)",
    )
    time_scale: float = Field(
        1.0, gt=0.0, le=100.0,
        **flag("--time-scale", "multiply every time limit that applies, after the limits mode (a machine slower than the one the problems' limits were set on)"),
    )
    memory_limit_mb: int = Field(
        1024, ge=16, le=1 << 20,
        description="Memory per test, MB, for problems that state no memory limit (limits cap: also the cap; flat: every problem's)",
    )
    limits: Annotated[str, AfterValidator(_one_of(LIMIT_MODES))] = Field(
        "own", **choices(LIMIT_MODES, "own: each problem's own limits; cap: capped at the values; flat: the values for every problem")
    )
    stop_on_timeout: bool = Field(True, description="skip a candidate's remaining tests after a timeout or memory failure")
    allow_unsandboxed: bool = Field(False, **flag("--allow-unsandboxed", "run untrusted code even where no isolation is available"))
    sandbox: Annotated[str, AfterValidator(_one_of(SANDBOX_KINDS))] = Field(
        "auto", **choices(SANDBOX_KINDS, "auto: the strongest isolation here (the fork-server); spawn: a fresh interpreter per test")
    )
    output_limit_mb: int = Field(32, ge=1, le=1 << 14, description="MB of output per test")
    #: extra attempts for a test whose run failed in the executor (sandbox_error)
    retries: int = Field(2, ge=0, le=10, description="attempts after a sandbox_error")


DECONTAMINATION_METHODS = ("ngram", "embedding")


def _as_tuple(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


def _methods(value: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [m for m in value if m not in DECONTAMINATION_METHODS]
    if unknown or not value:
        raise Invalid(f"must list methods among {', '.join(DECONTAMINATION_METHODS)}, got {unknown[0] if unknown else 'none'!r}")
    return value


class ProblemsSettings(Settings):
    """``[problems]``: what the problems stage does after loading the sources (the same stage as ``builder problems``)."""

    dedup: bool = Field(True, description="merge problems whose normalized statements are equal (the first one is kept)")
    near_dedup: bool = Field(True, description="merge near-duplicate statements (MinHash LSH over word 5-grams; the first one is kept, the group recorded)")
    near_dedup_threshold: float = Field(0.7, gt=0.0, le=1.0, description="estimated Jaccard similarity of word 5-grams at which statements are near-duplicates")
    #: benchmark problem sets to decontaminate against (local files or folders, ``NAME=PATH`` names one); none: no
    #: decontamination. A single string is one benchmark.
    benchmark: Annotated[tuple[NonEmpty, ...], BeforeValidator(_as_tuple)] = Field(
        (), strict=False, description="benchmark problem files ([NAME=]PATH: normalized problems, or a LiveCodeBench/HumanEval/MBPP/CodeContests release) to decontaminate against"
    )
    decontamination: Annotated[tuple[str, ...], BeforeValidator(_as_tuple), AfterValidator(_methods)] = Field(
        DECONTAMINATION_METHODS, strict=False, description="decontamination methods, in this order: ngram (word n-gram overlap), embedding (all-MiniLM-L6-v2 cosine)"
    )
    ngram_size: int = Field(13, ge=3, le=64, description="words per n-gram of the n-gram decontamination")
    ngram_threshold: float = Field(0.5, gt=0.0, le=1.0, description="share of a benchmark problem's n-grams at which a problem is dropped")
    threshold: float = Field(0.9, gt=0.0, le=1.0, description="cosine similarity at which a problem is dropped")
    statement_tolerance: bool = Field(True, description="read the float tolerance (absolute, relative or either) from the statement when the source gives none")
    validation: bool = Field(False, description="run reference solutions through the sandbox and judge before generation: tests_broken / tests_weak")
    references: int = Field(3, ge=1, le=1000, description="reference solutions per problem that validation runs, at most (correct and incorrect ones each)")


def _languages(value: tuple[str, ...]) -> tuple[str, ...]:
    names = []
    for item in value:
        try:
            names.append(normalize_language(item))
        except ValueError:
            raise Invalid(f"must list languages among {', '.join(LANGUAGES)}, got {item!r}") from None
    if not names:
        raise Invalid("must name at least one language")
    if len(set(names)) != len(names):
        raise Invalid("must not repeat a language")
    return tuple(names)


class GenerationSettings(Settings):
    """``[generation]``."""

    chunk_size: int = Field(64, ge=1, le=1 << 20, **flag("--chunk-size", "problems per cached generation chunk"))
    languages: Annotated[tuple[str, ...], BeforeValidator(_as_tuple), AfterValidator(_languages)] = Field(
        ("python",), strict=False, description="languages the candidates are written in: python, cpp (C++17), c (C17); every "
        "problem gets n samples in each, each from its language's prompt"
    )


FORMATS = ("parquet", "jsonl")
KTO_BALANCES = ("global", "problem", "none")
REWARDS = ("pass_rate", "binary")


def _formats(value: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [f for f in value if f not in FORMATS]
    if unknown:
        raise Invalid(f"must list formats among {', '.join(FORMATS)}")
    if "parquet" not in value:
        raise Invalid('must include "parquet" (the configs load from it; "jsonl" adds copies beside it)')
    if len(set(value)) != len(value):
        raise Invalid("must not repeat a format")
    return value


class DatasetSettings(Settings):
    """``[dataset]``: what the configs and the card are made of."""

    dpo_pairs_per_problem: int = Field(2, ge=0, le=1000, description="DPO pairs per problem at most")
    kto_balance: Annotated[str, AfterValidator(_one_of(KTO_BALANCES))] = Field(
        "global", **choices(KTO_BALANCES, "kto rows: global: as many desirable as undesirable rows overall (the larger side "
                            "sampled with the seed); problem: as many of each per problem; none: every judged candidate")
    )
    reward: Annotated[str, AfterValidator(_one_of(REWARDS))] = Field(
        "pass_rate", **choices(REWARDS, "the reward of a candidate (its `reward` column, builder.reward's default): pass_rate: "
                               "tests passed / tests; binary: 1 when it passes every test, else 0")
    )
    tokenized: bool | None = Field(
        None, description="the sft_tokenized config: true: always (an error when the tokenizer cannot be loaded); false: "
        "never; unset: when the tokenizer loads without a download (a local folder or the Hugging Face cache)"
    )
    tokenizer: NonEmpty | None = Field(None, description="the tokenizer of the sft_tokenized config, a Hub id or a local folder [default: the model's]")
    formats: Annotated[tuple[str, ...], AfterValidator(_formats)] = Field(
        ("parquet",), strict=False, description='file formats of the configs: "parquet", plus "jsonl" for JSON Lines copies beside the Parquet files'
    )
    pretty_name: NonEmpty | None = Field(None, description="the card's title")
    license: NonEmpty | None = Field(None, description="the dataset's licence on the Hub")
    repo_id: NonEmpty | None = Field(None, description="the Hub repository the card is written for")
    # the card's prose a recipe can give (Markdown); unset: the card says what the builder knows, or asks for it
    model_description: NonEmpty | None = Field(None, description="the card's sentence about the model: what it is, how it was trained")
    intended_uses: NonEmpty | None = Field(None, description="the card's 'Intended uses' section")
    out_of_scope_uses: NonEmpty | None = Field(None, description="the card's 'Out-of-scope use' section")
    personal_information: NonEmpty | None = Field(None, description="the card's 'Personal and sensitive information' section")
    curators: NonEmpty | None = Field(None, description="who made the dataset, for the card's 'Curators and contact' section")
    contact: NonEmpty | None = Field(None, description="where to report problems or ask questions (a URL or an address)")


ENGINES = ("local", "ray")


class EngineSettings(Settings):
    """``[engine]``: where the stages run (not what they make: the same recipe gives the same dataset on either).

    ``local``: this process (generation) and its worker processes (execution). ``ray``: Ray Data operators on a Ray
    cluster (:mod:`builder.ray_engine`): generation as an actor pool of the vLLM backend (``model.data_parallel_size``
    replicas, ``model.tensor_parallel_size`` GPUs each; the openai backend as plain tasks), execution as an actor pool
    of sandboxes (one CPU each); the work folder must be on a path every node sees.
    """

    kind: Annotated[str, AfterValidator(_one_of(ENGINES))] = Field(
        "local", **flag("--engine", "where the stages run: local (this machine) or ray (a Ray cluster, as Ray Data operators)", ENGINES)
    )
    address: NonEmpty | None = Field(
        None, **flag("--address", "engine ray: the cluster, auto (the one `ray start` made) or ray://HOST:10001; unset: a Ray instance of this build's own")
    )
    execution_actors: int | None = Field(
        None, ge=1, le=1 << 20, description="engine ray: execution actors, one warm sandbox and one CPU each; unset: from 1 to the cluster's CPUs, as Ray Data scales the pool"
    )
    batch_size: int = Field(16, ge=1, le=1 << 16, description="engine ray: candidates per execution task (one verdict shard each)")
    generation_cpus: float | None = Field(
        None, ge=0.0, le=1024.0,
        description="engine ray: CPUs each generation actor or task reserves; unset: 1 for a vllm actor, 0 for an openai task (it waits on the network)",
    )
    generation_tasks: int = Field(4, ge=1, le=4096, description="engine ray with the openai backend: chunks requested at once, one Ray task each")

    def generation_cpus_for(self, backend: str) -> float:
        """What each generation actor (vllm) or task (openai) reserves. An openai task reserves no CPU by default: it
        only waits on its endpoint, and a CPU held by it is one a fixed-size execution pool can wait on forever."""
        if self.generation_cpus is not None:
            return self.generation_cpus
        return 1.0 if backend == "vllm" else 0.0


def _name(value: str) -> str:
    if not _NAME.match(value):
        raise Invalid("must be letters, digits, '.', '_' or '-' (it names a folder)")
    return value


class Recipe(Settings):
    """A whole recipe. ``text`` (the TOML it was read from, or the effective recipe after overrides) and ``path`` are
    not settings: they are recorded with the build."""

    name: Annotated[str, AfterValidator(_name)] = Field(**flag("--name", "the dataset's name: the dist/<name>/ folder"))
    seed: int = Field(0, ge=0, le=2**63 - 1, **flag("--seed", "the seed of every sampled request and of the DPO pairing"))
    sources: tuple[SourceSettings, ...] = Field(min_length=1, strict=False, description="one or more [[sources]] tables")
    model: ModelSettings
    problems: ProblemsSettings = Field(default_factory=ProblemsSettings)
    sampling: SamplingSettings = Field(default_factory=SamplingSettings)
    prompt: PromptSettings = Field(default_factory=PromptSettings)
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    dataset: DatasetSettings = Field(default_factory=DatasetSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    _text: str = PrivateAttr("")
    _path: str = PrivateAttr("")

    def __eq__(self, other: object) -> bool:  # the settings decide, not where they were read from
        return isinstance(other, Recipe) and self.model_dump() == other.model_dump()

    def __hash__(self) -> int:
        return hash(repr(self.model_dump()))

    @property
    def text(self) -> str:
        return self._text

    @property
    def path(self) -> str:
        return self._path

    @property
    def sha256(self) -> str:
        import hashlib

        return hashlib.sha256(self._text.encode("utf-8")).hexdigest()


SECTIONS: dict[str, type[Settings]] = {
    "model": ModelSettings,
    "problems": ProblemsSettings,
    "sampling": SamplingSettings,
    "prompt": PromptSettings,
    "execution": ExecutionSettings,
    "generation": GenerationSettings,
    "dataset": DatasetSettings,
    "engine": EngineSettings,
}
