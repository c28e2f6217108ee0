"""Recipes: a TOML file -> frozen dataclasses, validated with one clear line per mistake.

Every table and key is checked: an unknown key, a wrong type or an out-of-range value raises
:class:`builder.core.errors.UserError` naming the key (``recipes/x.toml: sampling.n must be an integer >= 1, got 0``).
Command-line overrides go through :func:`apply_overrides`, which re-validates and returns one note per flag
(``note: --n overrides recipe value 8 -> 2``).

Relative paths (sources, local models) are taken relative to the current directory, as ``just build`` runs from the
repository root.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from builder.core.errors import UserError
from builder.core.prompt import DEFAULT_SYSTEM, DEFAULT_USER

SOURCE_KINDS = ("local", "codeforces", "deepcoder", "taco", "apps", "code_contests", "livecodebench", "kodcode")
BACKENDS = ("vllm", "openai")
DTYPES = ("auto", "float32", "bfloat16", "float16")
SANDBOXES = ("auto", "forkserver", "spawn")
LIMIT_MODES = ("own", "cap", "flat")  # builder.execute.LIMIT_MODES (not imported: recipes load without the executor)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class SourceSpec:
    kind: str
    path: str
    subset: str | None = None
    split: str = "train"
    limit: int | None = None
    #: extra options for the source loader (``builder.problems.sources.load_source(**options)``)
    options: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ModelSpec:
    backend: str = "vllm"
    path: str = ""
    # offline engine (vllm.LLM)
    dtype: str = "auto"
    max_model_len: int | None = None
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    #: KV cache size in GiB (on CPU the default would take most of the machine's memory)
    kv_cache_memory_gb: float | None = None
    enforce_eager: bool = False
    #: other ``vllm.LLM`` keyword arguments, passed as they are
    engine_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    # OpenAI-compatible endpoint
    base_url: str | None = None
    api_key_env: str | None = None
    served_model_name: str | None = None
    concurrency: int = 16
    timeout_s: float = 600.0
    max_retries: int = 5
    #: extra JSON fields of every request (e.g. ``{return_token_ids = true}`` for vLLM servers)
    extra_body: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class SamplingSpec:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    max_tokens: int = 1024


@dataclass(frozen=True)
class PromptSpec:
    system: str | None = DEFAULT_SYSTEM
    user: str = DEFAULT_USER


@dataclass(frozen=True)
class ExecutionSpec:
    """``[execution]``: how candidates run.

    ``limits`` says how each problem's own time and memory limits combine with ``time_limit_s`` (CPU seconds per
    test) and ``memory_limit_mb`` (MB per test): ``"own"`` (default) runs every problem under its own limits and uses
    the values only for problems that state none; ``"cap"`` caps the problems' own limits at the values (which also
    fill in); ``"flat"`` uses the values for every problem, ignoring the problems' own.
    """

    workers: int = 2
    time_limit_s: float = 10.0
    memory_limit_mb: int = 1024
    limits: str = "own"
    stop_on_timeout: bool = True
    allow_unsandboxed: bool = False
    sandbox: str = "auto"


@dataclass(frozen=True)
class GenerationSpec:
    chunk_size: int = 64


@dataclass(frozen=True)
class DatasetSpec:
    dpo_pairs_per_problem: int = 2
    pretty_name: str | None = None
    license: str | None = None
    repo_id: str | None = None


@dataclass(frozen=True)
class Recipe:
    name: str
    seed: int
    sources: tuple[SourceSpec, ...]
    model: ModelSpec
    sampling: SamplingSpec
    prompt: PromptSpec
    execution: ExecutionSpec
    generation: GenerationSpec
    dataset: DatasetSpec
    #: the TOML text the recipe was read from (with overrides: the effective recipe, see :func:`apply_overrides`)
    text: str = field(default="", compare=False, repr=False)
    #: where it was read from, as given
    path: str = field(default="", compare=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


# --- validation helpers ------------------------------------------------------------------------------


class _Table:
    """One TOML table being read: every key must be consumed, the rest is reported as unknown."""

    def __init__(self, where: str, data: Any, prefix: str) -> None:
        self.where = where
        self.prefix = prefix
        if not isinstance(data, Mapping):
            raise UserError(f"{where}: {prefix.rstrip('.') or 'the recipe'} must be a table")
        self.data = dict(data)
        self.seen: set[str] = set()

    def fail(self, key: str, message: str) -> UserError:
        return UserError(f"{self.where}: {self.prefix}{key} {message}")

    def get(self, key: str, default: Any, check: Callable[[Any], Any]) -> Any:
        self.seen.add(key)
        if key not in self.data:
            return default
        try:
            return check(self.data[key])
        except _Bad as bad:
            raise self.fail(key, f"{bad}, got {self.data[key]!r}") from None

    def required(self, key: str, check: Callable[[Any], Any]) -> Any:
        if key not in self.data:
            raise self.fail(key, "is required")
        return self.get(key, None, check)

    def finish(self, hints: Mapping[str, str] | None = None) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            key = unknown[0]
            hint = (hints or {}).get(key, "")
            allowed = ", ".join(sorted(self.seen))
            raise UserError(f"{self.where}: unknown key {self.prefix}{key}{hint} (allowed: {allowed})")


class _Bad(Exception):
    pass


def _int(lo: int | None = None, hi: int | None = None) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise _Bad("must be an integer")
        if lo is not None and v < lo:
            raise _Bad(f"must be an integer >= {lo}")
        if hi is not None and v > hi:
            raise _Bad(f"must be an integer <= {hi}")
        return v

    return check


def _float(lo: float | None = None, hi: float | None = None, *, open_lo: bool = False) -> Callable[[Any], float]:
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _Bad("must be a number")
        v = float(v)
        if lo is not None and (v <= lo if open_lo else v < lo):
            raise _Bad(f"must be a number {'>' if open_lo else '>='} {lo:g}")
        if hi is not None and v > hi:
            raise _Bad(f"must be a number <= {hi:g}")
        return v

    return check


def _str(*, nonempty: bool = True, choices: tuple[str, ...] | None = None, pattern: re.Pattern[str] | None = None) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if not isinstance(v, str):
            raise _Bad("must be a string")
        if nonempty and not v.strip():
            raise _Bad("must not be empty")
        if choices is not None and v not in choices:
            raise _Bad(f"must be one of {', '.join(choices)}")
        if pattern is not None and not pattern.match(v):
            raise _Bad("must be letters, digits, '.', '_' or '-' (it names a folder)")
        return v

    return check


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise _Bad("must be true or false")
    return v


def _dict(v: Any) -> dict[str, Any]:
    if not isinstance(v, Mapping):
        raise _Bad("must be a table")
    return dict(v)


def _user_template(v: Any) -> str:
    text = _str()(v)
    try:
        text.format(problem="", title="", starter_code="")
    except (KeyError, IndexError, ValueError) as exc:
        raise _Bad(f"must be a template using only {{problem}}, {{title}}, {{starter_code}} (double other braces): {exc}") from None
    return text


# --- parsing ------------------------------------------------------------------------------------------


def _parse_source(where: str, i: int, data: Any) -> SourceSpec:
    t = _Table(where, data, f"sources[{i}].")
    spec = SourceSpec(
        kind=t.required("kind", _str(choices=SOURCE_KINDS)),
        path=t.required("path", _str()),
        subset=t.get("subset", None, _str()),
        split=t.get("split", "train", _str()),
        limit=t.get("limit", None, _int(1)),
        options=t.get("options", {}, _dict),
    )
    t.finish()
    return spec


def _parse_model(where: str, data: Any) -> ModelSpec:
    t = _Table(where, data, "model.")
    d = ModelSpec()
    spec = ModelSpec(
        backend=t.get("backend", d.backend, _str(choices=BACKENDS)),
        path=t.required("path", _str()),
        dtype=t.get("dtype", d.dtype, _str(choices=DTYPES)),
        max_model_len=t.get("max_model_len", d.max_model_len, _int(16)),
        tensor_parallel_size=t.get("tensor_parallel_size", d.tensor_parallel_size, _int(1, 1024)),
        data_parallel_size=t.get("data_parallel_size", d.data_parallel_size, _int(1, 1024)),
        gpu_memory_utilization=t.get("gpu_memory_utilization", d.gpu_memory_utilization, _float(0.0, 1.0, open_lo=True)),
        kv_cache_memory_gb=t.get("kv_cache_memory_gb", d.kv_cache_memory_gb, _float(0.0, open_lo=True)),
        enforce_eager=t.get("enforce_eager", d.enforce_eager, _bool),
        engine_kwargs=t.get("engine_kwargs", {}, _dict),
        base_url=t.get("base_url", d.base_url, _str()),
        api_key_env=t.get("api_key_env", d.api_key_env, _str()),
        served_model_name=t.get("served_model_name", d.served_model_name, _str()),
        concurrency=t.get("concurrency", d.concurrency, _int(1, 4096)),
        timeout_s=t.get("timeout_s", d.timeout_s, _float(0.0, open_lo=True)),
        max_retries=t.get("max_retries", d.max_retries, _int(0, 100)),
        extra_body=t.get("extra_body", {}, _dict),
    )
    t.finish()
    return spec


def _parse_sampling(where: str, data: Any) -> SamplingSpec:
    t = _Table(where, data, "sampling.")
    d = SamplingSpec()
    spec = SamplingSpec(
        n=t.get("n", d.n, _int(1, 1024)),
        temperature=t.get("temperature", d.temperature, _float(0.0)),
        top_p=t.get("top_p", d.top_p, _float(0.0, 1.0, open_lo=True)),
        top_k=t.get("top_k", d.top_k, _top_k),
        max_tokens=t.get("max_tokens", d.max_tokens, _int(1)),
    )
    t.finish({"seed": " (the seed is the recipe's top-level `seed`)"})
    return spec


def _top_k(v: Any) -> int:
    k = _int()(v)
    if k < -1:
        raise _Bad("must be -1 or 0 (off) or an integer >= 1")
    return k


def _parse_prompt(where: str, data: Any) -> PromptSpec:
    t = _Table(where, data, "prompt.")
    system = t.get("system", DEFAULT_SYSTEM, _str(nonempty=False))
    spec = PromptSpec(system=system or None, user=t.get("user", DEFAULT_USER, _user_template))
    t.finish()
    return spec


def _parse_execution(where: str, data: Any) -> ExecutionSpec:
    t = _Table(where, data, "execution.")
    d = ExecutionSpec()
    spec = ExecutionSpec(
        workers=t.get("workers", d.workers, _int(1, 1024)),
        time_limit_s=t.get("time_limit_s", d.time_limit_s, _float(0.0, 3600.0, open_lo=True)),
        memory_limit_mb=t.get("memory_limit_mb", d.memory_limit_mb, _int(16, 1 << 20)),
        limits=t.get("limits", d.limits, _str(choices=LIMIT_MODES)),
        stop_on_timeout=t.get("stop_on_timeout", d.stop_on_timeout, _bool),
        allow_unsandboxed=t.get("allow_unsandboxed", d.allow_unsandboxed, _bool),
        sandbox=t.get("sandbox", d.sandbox, _str(choices=SANDBOXES)),
    )
    t.finish()
    return spec


def _parse_generation(where: str, data: Any) -> GenerationSpec:
    t = _Table(where, data, "generation.")
    spec = GenerationSpec(chunk_size=t.get("chunk_size", GenerationSpec().chunk_size, _int(1, 1 << 20)))
    t.finish()
    return spec


def _parse_dataset(where: str, data: Any) -> DatasetSpec:
    t = _Table(where, data, "dataset.")
    d = DatasetSpec()
    spec = DatasetSpec(
        dpo_pairs_per_problem=t.get("dpo_pairs_per_problem", d.dpo_pairs_per_problem, _int(0, 1000)),
        pretty_name=t.get("pretty_name", d.pretty_name, _str()),
        license=t.get("license", d.license, _str()),
        repo_id=t.get("repo_id", d.repo_id, _str()),
    )
    t.finish()
    return spec


def parse_recipe(data: Mapping[str, Any], *, where: str = "recipe", text: str = "", path: str = "") -> Recipe:
    """Validate a parsed TOML document and build the :class:`Recipe`."""
    t = _Table(where, data, "")
    name = t.required("name", _str(pattern=_NAME))
    seed = t.get("seed", 0, _int(0, 2**63 - 1))
    t.seen.add("sources")
    raw_sources = t.data.get("sources")
    if raw_sources is None:
        raise UserError(f"{where}: at least one [[sources]] table is required")
    if not isinstance(raw_sources, list) or not raw_sources:
        raise UserError(f"{where}: sources must be one or more [[sources]] tables")
    sources = tuple(_parse_source(where, i, s) for i, s in enumerate(raw_sources))
    t.seen.add("model")
    if "model" not in t.data:
        raise UserError(f"{where}: the [model] table is required (model.path at least)")
    model = _parse_model(where, t.data["model"])
    sections: dict[str, Any] = {}
    for key, parse in (
        ("sampling", _parse_sampling),
        ("prompt", _parse_prompt),
        ("execution", _parse_execution),
        ("generation", _parse_generation),
        ("dataset", _parse_dataset),
    ):
        t.seen.add(key)
        sections[key] = parse(where, t.data.get(key, {}))
    t.finish()
    if model.backend == "openai" and not model.base_url:
        raise UserError(f"{where}: model.base_url is required when model.backend is \"openai\"")
    return Recipe(name=name, seed=seed, sources=sources, model=model, text=text, path=path, **sections)


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe file."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"no such recipe: {path}")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: invalid TOML: {exc}") from None
    return parse_recipe(data, where=str(path), text=text, path=str(path))


# --- overrides ----------------------------------------------------------------------------------------

#: override key -> (command-line flag, section or "" for top level, field)
OVERRIDES: dict[str, tuple[str, str, str]] = {
    "name": ("--name", "", "name"),
    "seed": ("--seed", "", "seed"),
    "model": ("--model", "model", "path"),
    "backend": ("--backend", "model", "backend"),
    "base_url": ("--base-url", "model", "base_url"),
    "tensor_parallel_size": ("--tensor-parallel-size", "model", "tensor_parallel_size"),
    "data_parallel_size": ("--data-parallel-size", "model", "data_parallel_size"),
    "n": ("--n", "sampling", "n"),
    "temperature": ("--temperature", "sampling", "temperature"),
    "max_tokens": ("--max-tokens", "sampling", "max_tokens"),
    "chunk_size": ("--chunk-size", "generation", "chunk_size"),
    "workers": ("--workers", "execution", "workers"),
    "limit": ("--limit", "sources", "limit"),
}


def _to_dict(recipe: Recipe) -> dict[str, Any]:
    out: dict[str, Any] = {"name": recipe.name, "seed": recipe.seed, "sources": []}
    for s in recipe.sources:
        out["sources"].append({f.name: getattr(s, f.name) for f in fields(s) if getattr(s, f.name) not in (None, {})})
    for section in ("model", "sampling", "prompt", "execution", "generation", "dataset"):
        obj = getattr(recipe, section)
        out[section] = {f.name: getattr(obj, f.name) for f in fields(obj) if getattr(obj, f.name) not in (None, {})}
    if recipe.prompt.system is None:
        out["prompt"]["system"] = ""
    return out


def apply_overrides(recipe: Recipe, overrides: Mapping[str, Any]) -> tuple[Recipe, list[str]]:
    """The recipe with command-line values applied (``None`` values are ignored), and one note per override.

    The returned recipe's ``text`` is the effective recipe as TOML (a header names the overrides), so the build's
    metadata records exactly what ran.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return recipe, []
    data = _to_dict(recipe)
    notes: list[str] = []
    for key, value in given.items():
        if key not in OVERRIDES:
            raise ValueError(f"unknown override {key}")
        flag, section, name = OVERRIDES[key]
        if section == "":
            old = data.get(name)
            data[name] = value
        elif section == "sources":
            olds = [src.get(name) for src in data["sources"]]
            old = olds[0] if len(set(map(repr, olds))) == 1 else olds
            for src in data["sources"]:
                src[name] = value
        else:
            old = data[section].get(name)
            data[section][name] = value
        shown = "(not set)" if old is None else _show(old)
        notes.append(f"note: {flag} overrides recipe value {shown} -> {_show(value)}")
    header = f"# {recipe.path or 'recipe'} with command-line overrides: " + ", ".join(
        f"{OVERRIDES[k][0]} {_show(v)}" for k, v in given.items()
    )
    text = header + "\n" + to_toml(data)
    return parse_recipe(data, where=f"{recipe.path or 'recipe'} (with overrides)", text=text, path=recipe.path), notes


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# --- a small TOML writer (recipes only hold strings, numbers, booleans, lists and tables) --------------


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def to_toml(data: Mapping[str, Any]) -> str:
    """TOML text for a recipe dictionary (top-level scalars, ``[[sources]]``, then one table per section)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, (Mapping, list))]
    for src in data.get("sources", []):
        lines += ["", "[[sources]]"] + [f"{k} = {_toml_value(v)}" for k, v in src.items()]
    for key, table in data.items():
        if isinstance(table, Mapping):
            lines += ["", f"[{key}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"

