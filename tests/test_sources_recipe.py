"""recipes/opencode-sft.toml: the seed recipe parses and names only source kinds and options the loaders accept."""

from __future__ import annotations

from pathlib import Path

from builder.core.recipe import load_recipe
from builder.problems.sources import KINDS, OPTIONS

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "opencode-sft.toml"


def test_opencode_sft_recipe() -> None:
    recipe = load_recipe(str(RECIPE))
    assert recipe.name == "opencode-sft"
    kinds = [(s.kind, s.path, s.subset) for s in recipe.sources]
    assert kinds[0] == ("codeforces", "open-r1/codeforces", "verifiable")
    assert {k for k, _, _ in kinds} == {"codeforces", "deepcoder"}
    assert {s for k, _, s in kinds if k == "deepcoder"} == {"primeintellect", "taco", "lcbv5"}
    for source in recipe.sources:
        assert source.kind in KINDS and set(source.options) <= OPTIONS
        assert source.path == KINDS[source.kind][1]
    assert "Qwen3-Coder" in recipe.model.path
    assert (recipe.sampling.temperature, recipe.sampling.top_p, recipe.sampling.max_tokens) == (0.6, 0.95, 10000)
    assert (recipe.execution.time_limit_s, recipe.execution.memory_limit_mb) == (15.0, 512)
    assert recipe.model.max_model_len >= recipe.sampling.max_tokens + 2048
    assert "{starter_code}" in recipe.prompt.user  # functional problems show their starter code
