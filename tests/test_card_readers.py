"""The card and charts as a reader meets them (issue 19, items 8 and 9).

The card names the model (a link for a Hub id, the recipe's words for a local toy), has sections for intended and
out-of-scope uses, personal information and curators (filled from the recipe's ``[dataset]`` table, or saying how to),
an example row per config with long values cut, no raw Python values in the isolation table, no jargon, and mentions
Codeforces rating buckets only when the data has them. The charts: the token chart's legend medians are the table's,
its two groups read apart and its x axis spans the data; the heatmap is left out when it would repeat another chart;
every pass-count bin is labelled.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from builder.core import meta as build_metadata
from builder.core.meta import BuildMeta
from builder.dataset import charts
from builder.dataset.card.examples import ITEMS, SLACK, TEXT, shorten
from builder.dataset.charts import difficulty, pass_counts, style, tokens
from builder.dataset.dist import check_card, render_card, write_dist
from builder.dataset.stats import compute_stats, fmt_float
from fakes.synthetic import synthetic_candidates, synthetic_problems

SANDBOX = {
    "executor": "forkserver", "disabled": [], "namespaces": ["pid", "mount", "net"], "unavailable": {},
    "landlock": None, "isolated": True, "rlimits": ["cpu", "fsize"], "cgroup": "v1 memory+pids+cpu",
}
META: dict[str, Any] = {
    "name": "readers", "seed": 3, "recipe": 'name = "readers"\n', "model": "Qwen/Qwen3-Coder-30B-A3B-Instruct",
    "model_source": "hub", "backend": "vllm", "sampling": {"n": 8, "temperature": 0.6},
    "limits": {"time_limit_s": 4.0, "memory_limit_mb": 512}, "sandbox": SANDBOX,
}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("readers") / "readers"
    problems = synthetic_problems(40, seed=9)
    write_dist(out, synthetic_candidates(problems, 320, seed=9), problems, BuildMeta.model_validate(META))
    return out


def rerender(dist: Path, tmp_path: Path, **changes: Any) -> str:
    """The card of a copy of ``dist`` whose build.json has ``changes`` (``dataset`` entries merged)."""
    copy_dir = tmp_path / dist.name
    shutil.copytree(dist, copy_dir)
    meta = build_metadata.read(copy_dir)
    if "dataset" in changes:
        changes["dataset"] = meta.dataset.model_copy(update=changes["dataset"])
    build_metadata.write(copy_dir, meta.with_(**changes))
    render_card(copy_dir)
    return (copy_dir / "README.md").read_text(encoding="utf-8")


def section(card: str, heading: str) -> str:
    match = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#+ |\Z)", card, re.S | re.M)
    assert match, heading
    return match.group(1)


# --- the card ----------------------------------------------------------------------------------------------------


def test_a_hub_model_is_a_link(dist: Path) -> None:
    card = (dist / "README.md").read_text(encoding="utf-8")
    link = "[`Qwen/Qwen3-Coder-30B-A3B-Instruct`](https://huggingface.co/Qwen/Qwen3-Coder-30B-A3B-Instruct)"
    assert f"candidate responses from {link}" in card
    assert "**The model.** Its model card on the Hub" in card
    assert card.index("**The model.**") < card.index("from datasets import load_dataset")  # read before the code


def test_a_local_model_is_described_by_the_recipe(dist: Path, tmp_path: Path) -> None:
    words = "a 0.68M-parameter toy that memorized its answers"
    card = rerender(dist, tmp_path / "a", model="models/demo", model_source="local", dataset={"model_description": words})
    assert "candidate responses from `models/demo` (a local model folder)" in card
    assert f"**The model.** {words}" in card
    assert "huggingface.co/models/demo" not in card
    bare = rerender(dist, tmp_path / "b", model="models/demo", model_source="local")
    assert "set `model_description` in the recipe's `[dataset]` table" in bare


def test_uses_personal_information_and_curators_sections(dist: Path, tmp_path: Path) -> None:
    card = (dist / "README.md").read_text(encoding="utf-8")
    for heading in ("Uses", "Intended uses", "Out-of-scope use", "Personal and sensitive information", "Curators and contact"):
        assert section(card, heading) is not None
    assert "set `curators` in the recipe's `[dataset]` table" in section(card, "Curators and contact")
    filled = rerender(dist, tmp_path, dataset={
        "intended_uses": "Use A.", "out_of_scope_uses": "Not B.", "personal_information": "None C.",
        "curators": "The D team", "contact": "https://example.org/issues",
    })
    assert section(filled, "Intended uses").strip() == "Use A."
    assert section(filled, "Out-of-scope use").strip() == "Not B."
    assert section(filled, "Personal and sensitive information").strip() == "None C."
    assert section(filled, "Curators and contact").strip().splitlines() == ["- Curators: The D team", "- Contact: https://example.org/issues"]
    assert check_card(tmp_path / dist.name) == []


def test_an_example_row_per_config_with_long_values_cut(dist: Path) -> None:
    card = (dist / "README.md").read_text(encoding="utf-8")
    configs = [p.name for p in sorted(dist.iterdir()) if p.is_dir() and any(p.glob("train-*.parquet"))]
    assert configs
    for config in configs:
        text = section(card, f"`{config}`")
        match = re.search(r"An example row \(the first one; long values cut\):\n\n(`{3,})json\n(.*?)\n\1\n", text, re.S)
        assert match, config
        row = json.loads(match.group(2))
        assert isinstance(row, dict) and row
        for value in _strings(row):
            assert len(value) <= TEXT + SLACK, (config, value[:60])
    assert shorten("x" * (TEXT + SLACK)) == "x" * (TEXT + SLACK)  # never "1 more character"
    assert shorten("x" * (TEXT + 100)) == "x" * TEXT + "… (100 more characters)"
    assert shorten(list(range(ITEMS + 2))) == [*range(ITEMS), "… (2 more items)"]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return []


def test_no_python_values_or_jargon_in_the_card(dist: Path) -> None:
    card = (dist / "README.md").read_text(encoding="utf-8")
    rows = [line for line in card.splitlines() if line.startswith("| sandbox ")]
    assert rows
    for line in rows:
        assert not re.search(r"\[|\]|\{|\}|'|\bNone\b|\bTrue\b|\bFalse\b", line), line
    assert "| sandbox namespaces | pid, mount, net |" in rows
    assert "| sandbox disabled | none |" in rows and "| sandbox isolated | yes |" in rows
    assert "seed fields" not in card


def test_codeforces_buckets_only_when_the_data_has_ratings(dist: Path, tmp_path: Path) -> None:
    card = (dist / "README.md").read_text(encoding="utf-8")
    assert "Codeforces ratings in buckets of 400" in section(card, "Pass rate by difficulty")  # synthetic data has ratings
    copy_dir = tmp_path / "labels"
    shutil.copytree(dist, copy_dir)
    import pyarrow as pa
    import pyarrow.parquet as pq

    for config in ("candidates", "problems", "sft", "dpo", "kto"):
        for f in (copy_dir / config).glob("train-*.parquet"):
            table = pq.read_table(f)
            if "difficulty" in table.column_names:
                labels = pa.array(["easy" if str(v).isdigit() else v for v in table.column("difficulty").to_pylist()], pa.string())
                table = table.set_column(table.column_names.index("difficulty"), "difficulty", labels)
                pq.write_table(table, f)
    render_card(copy_dir)
    relabelled = (copy_dir / "README.md").read_text(encoding="utf-8")
    assert "Codeforces" not in section(relabelled, "Pass rate by difficulty")
    assert "Difficulty as the sources label it." in relabelled
    assert difficulty.difficulty_axis_label(["easy", "hard"]) == "difficulty (as the sources label it)"
    assert "Codeforces" in difficulty.difficulty_axis_label(["800-1199", "easy"])


# --- the charts --------------------------------------------------------------------------------------------------


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures the chart functions save (their axes are inspected)."""
    figures: list[Any] = []
    real = style.save

    def save(fig: Any, path: Path) -> Path:
        figures.append(fig)
        return real(fig, path)

    monkeypatch.setattr(style, "save", save)
    return figures


def _token_stats(median_passed: float) -> dict[str, Any]:
    edges = list(np.linspace(0, 3000, 31))
    passed = [0] * 30
    failed = [0] * 30
    passed[2:5] = [10, 30, 10]
    failed[3:7] = [5, 20, 20, 5]
    return {"tokens": {
        "groups": [
            {"group": "passed", "count": 50, "median": median_passed},
            {"group": "failed", "count": 50, "median": 450.0},
        ],
        "hist": {"edges": edges, "passed": passed, "failed": failed, "clipped": {}},
    }}


def test_token_chart_medians_match_the_table_and_the_axis_fits_the_data(drawn: list[Any], tmp_path: Path) -> None:
    tokens.token_lengths_chart(_token_stats(76.5), tmp_path / "t.png")
    ax = drawn[-1].axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == f"passed: 50 responses, median {fmt_float(76.5)}" == "passed: 50 responses, median 76.5"
    lo, hi = ax.get_xlim()
    assert (lo, hi) == (100.0, 800.0)  # occupied bins 2..6 (200-700) with one bin of margin, not 0-3000
    patches = ax.patches
    fills = [p.get_fill() for p in patches]
    assert True in fills and False in fills  # one group filled, the other an outline
    colors = {tuple(np.round(p.get_edgecolor()[:3], 2)) for p in patches}
    assert len(colors) >= 2


def test_token_chart_on_the_real_statistics_matches_the_card(dist: Path, drawn: list[Any], tmp_path: Path) -> None:
    stats = compute_stats(dist)
    tokens.token_lengths_chart(stats, tmp_path / "t.png")
    labels = [t.get_text() for t in drawn[-1].axes[0].get_legend().get_texts()]
    card = (dist / "README.md").read_text(encoding="utf-8")
    for group in stats["tokens"]["groups"]:
        if group["count"]:
            median = fmt_float(group["median"])
            assert any(label.startswith(group["group"]) and label.endswith(f"median {median}") for label in labels)
            assert re.search(rf"^\| {group['group']} \| [\d,]+ \| {re.escape(median)} \|", card, re.M)


def test_the_heatmap_is_left_out_when_it_repeats_another_chart(dist: Path) -> None:
    stats = compute_stats(dist)
    assert len(stats["heatmap"]["sources"]) > 1
    assert "source_difficulty_heatmap.png" in charts.charts_for(stats)
    one = copy.deepcopy(stats)
    one["heatmap"]["sources"] = one["heatmap"]["sources"][:1]
    assert "source_difficulty_heatmap.png" not in charts.charts_for(one)
    flat = copy.deepcopy(stats)
    flat["heatmap"]["buckets"] = flat["heatmap"]["buckets"][:1]
    assert "source_difficulty_heatmap.png" not in charts.charts_for(flat)


def test_every_pass_count_bin_is_labelled(drawn: list[Any], tmp_path: Path) -> None:
    stats = {"pass_count_distribution": [{"passed": i, "problems": c} for i, c in enumerate([3, 0, 5, 0, 7])],
             "problem_counts": {"with_judged": 15}}
    pass_counts.pass_count_histogram_chart(stats, tmp_path / "p.png")
    ax = drawn[-1].axes[0]
    texts = sorted((round(t.get_position()[0]), t.get_text()) for t in ax.texts)
    assert texts == [(0, "3"), (1, "0"), (2, "5"), (3, "0"), (4, "7")]
    assert all(float(t).is_integer() for t in ax.get_yticks())
