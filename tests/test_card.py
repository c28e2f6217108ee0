"""The dataset card: YAML front matter, every number recomputed from the parquet files, `builder card [--check]`."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from datasets import Dataset, Features, load_dataset
import pyarrow.parquet as pq

from builder.cli import cli
from builder.dataset.dist import check_card, render_card, write_dist
from fakes.synthetic import synthetic_candidates, synthetic_problems
from builder.core.taxonomy import DESCRIPTIONS
from builder.core.meta import BuildMeta
from expected_stats import dec, expected, n, pct

#: the fixture's model is models/demo: its tokenizer loads from the checkout, so sft_tokenized is made
CONFIGS = ["sft", "sft_tokenized", "dpo", "kto", "candidates", "problems"]

META: dict[str, Any] = {
    "name": "cardtest",
    "recipe": 'name = "cardtest"\nseed = 11\n\n[sampling]\nn = 8\n\n[dataset]\npretty_name = "Card Test"\nlicense = "CC-BY-4.0"\ndpo_pairs_per_problem = 3\n',
    "recipe_hash": "0" * 64,
    "seed": 11,
    "model": "models/demo",
    "backend": "vllm",
    "sampling": {"n": 8, "temperature": 0.8, "top_p": 0.95, "top_k": -1, "max_tokens": 768},
    "prompt": {"system": "You are an expert competitive programmer.", "user": "Solve the following problem.\n\n{problem}"},
    "limits": {},  # filled in by the fixture: builder.execute.limits_report over the problems (mode cap, 4 s / 512 MB)
    "sandbox": {"executor": "ForkServerSandbox", "level": "namespaces+cgroup+seccomp"},
    "versions": {"builder": "0.1.0", "datasets": "5.2.0", "vllm": "0.32.0", "python": "3.11.7"},
    "sources": [
        {"kind": "local", "path": "data/demo/problems.jsonl", "problems": 140, "quarantined": 3, "license": "CC-BY-4.0"},
        {"kind": "codeforces", "path": "open-r1/codeforces", "problems": 1250, "quarantined": 17, "license": "CC-BY-4.0"},
    ],
    "dataset": {"pretty_name": "Card Test", "license": "CC-BY-4.0", "dpo_pairs_per_problem": 3},
    "problems": {"dedup": True, "merged": 7, "benchmark": "lcb", "threshold": 0.85, "contaminated": 4},
}


FIXTURES = Path(__file__).parent / "fixtures"


def _lcb_verified(tmp: Path) -> tuple[Dataset, Dataset]:
    """Real o1 candidates for real LiveCodeBench problems (tests/fixtures/lcb), really executed and judged."""
    from builder.core.settings import ExecutionSettings
    from builder.core.tables import load_problems
    from builder.verify import verify

    verify(str(FIXTURES / "lcb/problems.jsonl"), str(FIXTURES / "lcb/candidates.jsonl"), tmp / "v.parquet", ExecutionSettings())
    problems, _ = load_problems(str(FIXTURES / "lcb/problems.jsonl"), "train")
    return load_dataset("parquet", data_files=str(tmp / "v.parquet"), split="train"), problems


LIMITS_CONFIG = {"time_limit_s": 4.0, "memory_limit_mb": 512, "limits": "cap"}


def _vary_limits(row: dict[str, Any], i: int) -> dict[str, Any]:
    """Some problems state no time limit, some a memory limit over the cap: every kind of origin occurs."""
    return {"time_limit": None if i % 3 == 0 else row["time_limit"], "memory_limit": 1024 if i % 5 == 0 else row["memory_limit"]}


@pytest.fixture(scope="module", params=["synthetic", pytest.param("lcb", marks=pytest.mark.slow)])
def dist(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from builder.core.settings import ExecutionSettings
    from builder.judge.limits import limits_report

    tmp = tmp_path_factory.mktemp(f"card-{request.param}")
    if request.param == "synthetic":
        problems = synthetic_problems(120, seed=5).map(_vary_limits, with_indices=True)
        candidates = synthetic_candidates(problems.select(range(112)), 1150, seed=5)  # 8 problems without candidates
    else:
        candidates, problems = _lcb_verified(tmp)
    out = tmp / "cardtest"
    write_dist(out, candidates, problems, BuildMeta.model_validate({**META, "limits": limits_report(problems, ExecutionSettings(**LIMITS_CONFIG))}))
    return out


# --- parsing the card ------------------------------------------------------------------------------


def split_card(text: str) -> tuple[dict[str, Any], str]:
    match = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.S)
    assert match, "no YAML front matter"
    return yaml.safe_load(match.group(1)), match.group(2)


def strip_code(body: str) -> str:
    """The body without fenced code blocks (CommonMark: a fence closes on a line of at least as many backticks)."""
    out, fence = [], ""
    for line in body.splitlines(keepends=True):
        run = re.match(r"^(`{3,})", line)
        if not fence and run:
            fence = run.group(1)
        elif fence and re.match(rf"^`{{{len(fence)},}}\s*$", line):
            fence = ""
        elif not fence:
            out.append(line)
    assert not fence, "unclosed code fence"
    return "".join(out)


def sections(body: str) -> dict[str, str]:
    """'## x' and '### y' headings -> their text up to the next heading."""
    parts = re.split(r"^(#{1,3} .+)$", strip_code(body), flags=re.M)
    return {parts[i].lstrip("#").strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def table(section: str) -> list[list[str]]:
    """Rows (without header and rule) of the first markdown table in a section, cells stripped."""
    lines = [line for line in section.splitlines() if line.startswith("|")]
    assert len(lines) >= 2, section
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines[2:]]


def keyed(section: str) -> dict[str, list[str]]:
    return {row[0].replace("`", ""): row[1:] for row in table(section)}


# --- tests -----------------------------------------------------------------------------------------


def test_front_matter_declares_every_config(dist: Path) -> None:
    data, _ = split_card((dist / "README.md").read_text())
    for key in ("pretty_name", "license", "language", "task_categories", "size_categories", "tags", "configs", "dataset_info"):
        assert data.get(key), key
    assert data["pretty_name"] == "Card Test"
    assert data["license"] == "cc-by-4.0"
    e = expected(dist)
    largest = max(e["rows"].values())
    assert data["size_categories"] == (["n<1K"] if largest < 1000 else ["1K<n<10K"] if largest < 10_000 else None)
    configs = {c["config_name"]: c for c in data["configs"]}
    assert list(configs) == CONFIGS
    for name in CONFIGS:
        assert configs[name]["data_files"] == [{"split": "train", "path": f"{name}/train-*.parquet"}]
    info = {i["config_name"]: i for i in data["dataset_info"]}
    for name in CONFIGS:
        files = sorted((dist / name).glob("train-*.parquet"))
        metas = [pq.ParquetFile(f).metadata for f in files]
        assert info[name]["splits"] == [
            {
                "name": "train",
                "num_bytes": sum(m.row_group(i).total_byte_size for m in metas for i in range(m.num_row_groups)),
                "num_examples": e["rows"][name],
            }
        ]
        assert info[name]["download_size"] == sum(f.stat().st_size for f in files)
        schema = Features.from_arrow_schema(pq.read_schema(files[0]))
        assert Features._from_yaml_list(info[name]["features"]) == schema


def test_every_statistics_table_matches_the_parquet_files(dist: Path) -> None:
    e = expected(dist)
    _, body = split_card((dist / "README.md").read_text())
    s = sections(body)

    overview = s["Card Test"]
    assert f"{n(e['candidates'])} candidate responses" in overview and f"to {n(e['problems'])} competitive" in overview
    assert {k: v[0] for k, v in keyed(overview).items()} == {c: n(e["rows"][c]) for c in CONFIGS}

    summary = {k: v[0] for k, v in keyed(s["Summary"]).items()}
    want = {
        "problems": n(e["problems"]),
        "tests": n(e["tests"]),
        "candidates": n(e["candidates"]),
        "judged candidates (all but sandbox errors)": n(e["judged"]),
        "passed": n(e["passed"]),
        "failed (model failures)": n(e["failed"]),
        "sandbox errors (not model failures)": n(e["sandbox_errors"]),
        "candidate pass rate": pct(e["pass_rate"]),
        "SFT rows": n(e["rows"]["sft"]),
        "DPO pairs": n(e["rows"]["dpo"]),
        "problems with DPO pairs": n(e["dpo_problems"]),
        "responses cut at the token limit": n(e["truncated"]),
        **{f"extraction {status}": n(count) for status, count in e["extraction"].items()},
    }
    assert summary == want

    assert f"counted apart ({n(e['sandbox_errors'])})" in s["Rejection types"]
    assert keyed(s["Rejection types"]) == {t: [n(c), pct(sh), DESCRIPTIONS[t]] for t, (c, sh) in e["rejections"].items()}
    assert keyed(s["DPO pairs by rejection type"]) == {t: [n(c), pct(sh)] for t, (c, sh) in e["dpo_rejections"].items()}
    assert {k: v[0] for k, v in keyed(s["Problems"]).items()} == {k: n(v) for k, v in e["problem_counts"].items()}
    assert {k: v[0] for k, v in keyed(s["KTO rows"]).items()} == {
        "desirable (passed)": n(e["kto"]["desirable"]), "undesirable (failed)": n(e["kto"]["undesirable"]), "total": n(e["kto"]["total"]),
    }
    record = json.loads((dist / "build.json").read_text())["tokenized"]
    assert {k: v[0] for k, v in keyed(s["Tokenized SFT"]).items()} == {
        "tokenizer": f"`{record['tokenizer']}`", "rows": n(e["rows"]["sft_tokenized"]),
        "sft rows left out (their tokens do not give back their text exactly)": n(record["left_out"]),
    }
    assert e["rows"]["sft_tokenized"] + record["left_out"] == e["rows"]["sft"]
    assert {int(k): v[0] for k, v in keyed(s["Passing candidates per problem"]).items()} == {
        k: n(v) for k, v in e["pass_count_distribution"].items()
    }
    assert {int(k): v for k, v in keyed(s["pass@k"]).items()} == {k: [n(p), pct(m)] for k, (p, m) in e["pass_at_k"].items()}
    assert {k: v[1] for k, v in keyed(s["Empirical difficulty"]).items()} == {
        label: n(e["empirical_difficulty"][label]) for label in ("unjudged", "unsolved", "hard", "medium", "easy", "solved_all")
    }

    tokens = s["Response length in tokens"]
    if e["tokens_counted"]:
        assert f"Counted for {n(e['tokens_counted'])} of {n(e['candidates'])} candidates," in tokens
        assert keyed(tokens) == {
            g: [n(t["count"]), dec(t["median"]), dec(t["mean"]), dec(t["p25"]), dec(t["p75"]), n(t["max"])] for g, t in e["tokens"].items()
        }
    else:  # a verified corpus without counts and without a local tokenizer: nothing invented
        assert "Token counts are unavailable" in tokens and "|" not in tokens

    def rate_rows(groups: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
        return {
            k: [
                n(v["problems"]), n(v["solved"]), pct(v["solved"] / v["problems"] if v["problems"] else None),
                n(v["candidates"]), n(v["passed"]), pct(v["passed"] / v["candidates"] if v["candidates"] else None),
            ]
            for k, v in groups.items()
        }

    assert keyed(s["Pass rate by difficulty"]) == rate_rows(e["by_difficulty"])
    assert keyed(s["Pass rate by source"]) == rate_rows(e["by_source"])
    assert {k: v[0] for k, v in keyed(s["Licences of the sources"]).items()} == {k: n(v) for k, v in e["licenses"].items()}


def test_build_settings_in_the_card_match_build_json(dist: Path) -> None:
    meta = json.loads((dist / "build.json").read_text())
    _, body = split_card((dist / "README.md").read_text())
    s = sections(body)
    assert table(s["Sources"]) == [
        [src["kind"], f"`{src['path']}`", n(src["problems"]), n(src["quarantined"]), src["license"]] for src in meta["sources"]
    ]
    generation = {k: v[0] for k, v in keyed(s["Generation"]).items()}
    assert generation == {"model": f"`{meta['model']}`", "backend": meta["backend"], **{k: str(v) for k, v in meta["sampling"].items()}}
    limits = meta["limits"]
    shown = lambda kind: ", ".join(f"{n(limits[kind][o])} {o}" for o in ("own", "capped", "defaulted"))  # noqa: E731
    assert {k: v[0] for k, v in keyed(s["Execution and isolation"]).items()} == {
        "limits": "`cap`", "time_limit_s": "4.0", "memory_limit_mb": "512", "problems": n(limits["problems"]),
        "time limits": shown("time"), "memory limits": shown("memory"),
        **{f"sandbox {k}": str(v) for k, v in meta["sandbox"].items()},
    }
    assert "capped at the values above, which also apply where a problem states none" in s["Execution and isolation"]
    made = " ".join(s["How it was made"].split())
    assert (
        "under each problem's own time and memory limits capped at 4 s CPU and 512 MB, which also apply where a problem "
        f"states none (of {n(limits['problems'])} problems, time limits: {shown('time')}; memory limits: {shown('memory')})"
    ) in made
    assert "Capped problems ran under lower limits than their original judge's." in s["Limitations"]
    problems = meta["problems"]
    assert (
        f"were merged into it ({n(problems['merged'])} merged). Problems whose statement embedding is within cosine "
        f"{problems['threshold']:g} of a problem of `{problems['benchmark']}` were dropped ({n(problems['contaminated'])} dropped)."
    ) in made


def test_limit_counts_match_the_problems_config(dist: Path) -> None:
    """build.json's limit counts, recomputed from the published problems' own limits (mode cap, 4 s / 512 MB)."""
    limits = json.loads((dist / "build.json").read_text())["limits"]
    problems = pq.read_table(sorted((dist / "problems").glob("train-*.parquet"))[0], columns=["time_limit", "memory_limit"]).to_pylist()
    want: dict[str, Counter[str]] = {"time": Counter(), "memory": Counter()}
    for row in problems:
        for kind, key, cap in (("time", "time_limit", 4.0), ("memory", "memory_limit", 512)):
            own = row[key]
            want[kind]["defaulted" if not own else "capped" if own > cap else "own"] += 1
    assert limits["problems"] == len(problems)
    for kind in ("time", "memory"):
        assert {o: c for o, c in limits[kind].items() if c} == dict(want[kind])
    assert sum(limits["time"].values()) == sum(limits["memory"].values()) == len(problems)


@pytest.mark.parametrize(
    ("limits", "step", "sentence"),
    [
        ({"mode": "own", "time_limit_s": 10.0, "memory_limit_mb": 1024, "problems": 42,
          "time": {"own": 40, "capped": 0, "defaulted": 2, "overridden": 0}, "memory": {"own": 0, "capped": 0, "defaulted": 42, "overridden": 0}},
         "under each problem's own time and memory limits; 10 s CPU and 1024 MB where a problem states none (of 42 problems, "
         "time limits: 40 own, 0 capped, 2 defaulted; memory limits: 0 own, 0 capped, 42 defaulted).",
         "where a problem states none, the values above apply (counted as defaulted)."),
        ({"mode": "flat", "time_limit_s": 15.0, "memory_limit_mb": 512, "problems": 7,
          "time": {"own": 1, "capped": 0, "defaulted": 2, "overridden": 4}, "memory": {"own": 0, "capped": 0, "defaulted": 7, "overridden": 0}},
         "under 15 s CPU and 512 MB for every problem, whatever limits it states (of 7 problems, time limits: 1 own, "
         "4 overridden, 2 defaulted; memory limits: 0 own, 0 overridden, 7 defaulted).",
         "Every test ran under the values above (CPU seconds and MB), whatever limits its problem states."),
        ({"time_limit_s": 4.0, "memory_limit_mb": 512},  # build.json from before limit modes: capped, no counts
         "under each problem's own time and memory limits capped at 4 s CPU and 512 MB, which also apply where a problem "
         "states none.",
         "capped at the values above, which also apply where a problem states none."),
    ],
    ids=["own", "flat", "before-modes"],
)
def test_card_states_each_limits_mode(dist: Path, tmp_path: Path, limits: dict[str, Any], step: str, sentence: str) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(dist, copy)
    meta = json.loads((copy / "build.json").read_text())
    (copy / "build.json").write_text(json.dumps({**meta, "limits": limits}))
    render_card(copy)
    _, body = split_card((copy / "README.md").read_text())
    s = sections(body)
    assert step in " ".join(s["How it was made"].split())
    assert sentence in s["Execution and isolation"]
    rows = {k: v[0] for k, v in keyed(s["Execution and isolation"]).items()}
    assert rows["time_limit_s"] == str(limits["time_limit_s"]) and rows["memory_limit_mb"] == str(limits["memory_limit_mb"])
    assert rows.get("limits") == (f"`{limits['mode']}`" if "mode" in limits else None)
    if "problems" in limits:
        assert rows["problems"] == n(limits["problems"])
    assert {k: v[0] for k, v in keyed(s["Package versions"]).items()} == meta["versions"]
    assert f"Seed `{meta['seed']}`, recipe sha256 `{meta['recipe_hash']}`" in s["Recipe"]
    text = (dist / "README.md").read_text()
    assert meta["recipe"].rstrip() in text and meta["prompt"]["system"] in text


def test_no_number_in_the_card_is_unaccounted_for(dist: Path) -> None:
    """Every number in the overview and the statistics is one of the independently recomputed values."""
    e = expected(dist)
    meta = json.loads((dist / "build.json").read_text())
    allowed: set[str] = {"0", "1", "2", "3", "9", "400", "1e-6", "2021", "1/3", "2/3", "1.0"}  # template text
    def add(value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                add(k)
                add(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                add(v)
        elif isinstance(value, bool) or value is None:
            return
        elif isinstance(value, int):
            allowed.update({n(value), str(value), dec(float(value))})
        elif isinstance(value, float):
            allowed.update({pct(value), dec(value), str(value)})
    add(e)
    add({k: v for k, v in e["rows"].items()})
    for group in (e["by_difficulty"], e["by_source"]):
        for v in group.values():
            add(v["solved"] / v["problems"] if v["problems"] else None)
            add(v["passed"] / v["candidates"] if v["candidates"] else None)
            allowed.update(re.findall(r"\d+", " ".join(group)))  # bucket names such as 800-1199
    add([meta[k] for k in ("seed",)] + list(meta["sampling"].values()) + [meta["limits"]])
    allowed.update(f"{meta['limits'][k]:g}" for k in ("time_limit_s", "memory_limit_mb"))
    add([src[k] for src in meta["sources"] for k in ("problems", "quarantined")])
    add(meta.get("problems") or {})
    add(meta["tokenized"])
    if meta.get("problems", {}).get("threshold") is not None:
        allowed.add(f"{meta['problems']['threshold']:g}")
    _, body = split_card((dist / "README.md").read_text())
    s = sections(body)
    checked = [s["Card Test"], *(s[h] for h in s if h not in ("Card Test",) and h in _STAT_SECTIONS)]
    for text in checked:
        text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)  # image links
        text = re.sub(r"`[^`]*`", "", text)  # code spans: names such as `no_code`, `pass_at_k[k-1]`
        text = re.sub(r"^\d+\. ", "", text, flags=re.M)  # ordered-list markers
        for token in re.findall(r"(?<![\w.])\d[\d,]*(?:\.\d+)?%?(?:/\d+)?(?:e-\d+)?", text):
            token = token.rstrip(",")
            assert token in allowed, (token, text[:200])


_STAT_SECTIONS = {
    "Summary", "Rejection types", "DPO pairs by rejection type", "Problems", "Passing candidates per problem", "pass@k",
    "Empirical difficulty", "Response length in tokens", "Pass rate by difficulty", "Pass rate by source",
    "Licences of the sources", "Sources", "Generation", "How it was made", "Execution and isolation", "KTO rows",
    "Tokenized SFT",
}


def test_card_links_every_chart_and_fields_of_every_config(dist: Path) -> None:
    text = (dist / "README.md").read_text()
    links = re.findall(r"!\[[^\]]+\]\((assets/[a-z_]+\.png)\)", text)
    assert sorted(links) == sorted(f"assets/{p.name}" for p in (dist / "assets").glob("*.png"))
    tokens_counted = expected(dist)["tokens_counted"] > 0
    from builder.dataset.charts import charts_for
    from builder.dataset.stats import compute_stats

    assert len(links) == len(charts_for(compute_stats(dist)))  # the heatmap only with several sources and buckets
    assert ("Token counts are unavailable" in text) is not tokens_counted
    _, body = split_card(text)
    s = sections(body)
    for name in CONFIGS:
        fields = [row[0].strip("`") for row in table(s[f"`{name}`"] if f"`{name}`" in s else s[name])]
        schema = pq.read_schema(sorted((dist / name).glob("train-*.parquet"))[0])
        assert fields == schema.names
        assert all(row[2] for row in table(s[f"`{name}`"])), f"undocumented field in {name}"
    for needle in ("SFTTrainer", "DPOTrainer", "KTOTrainer", "GRPOTrainer", "ExecutionReward(problems", "## Limitations", "## Citation", "@misc{cardtest"):
        assert needle in text
    for name in CONFIGS:  # a load_dataset example for every config
        assert f'{name} = load_dataset("cardtest", "{name}", split="train")' in text
    assert 'load_dataset("cardtest", "sft_tokenized", split="train")' in text and '.select_columns(["input_ids", "labels"])' in text


def test_builder_card_check_detects_stale_files(dist: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(dist, copy)
    runner = CliRunner()
    ok = runner.invoke(cli, ["card", str(copy), "--check"])
    assert ok.exit_code == 0, ok.output
    assert check_card(copy) == []

    (copy / "README.md").write_text((copy / "README.md").read_text().replace("| candidates |", "| candidatez |", 1))
    (copy / "assets" / "rejection_types.png").unlink()
    (copy / "assets" / "old_chart.png").write_bytes(b"x")
    stale = runner.invoke(cli, ["card", str(copy), "--check"])
    assert stale.exit_code == 1
    assert "README.md is out of date" in stale.output
    assert "assets/rejection_types.png is missing" in stale.output
    assert "assets/old_chart.png is stale" in stale.output

    fixed = runner.invoke(cli, ["card", str(copy)])
    assert fixed.exit_code == 0, fixed.output
    assert check_card(copy) == []
    for rel in ["README.md", *(f"assets/{p.name}" for p in (dist / "assets").glob("*.png"))]:
        assert (copy / rel).read_bytes() == (dist / rel).read_bytes(), rel
    assert not (copy / "assets" / "old_chart.png").exists()


def test_card_follows_the_data_not_the_old_card(dist: Path, tmp_path: Path) -> None:
    """Dropping DPO rows from the parquet files changes the card on the next render: the card is data-driven."""
    copy = tmp_path / "copy"
    shutil.copytree(dist, copy)
    shard = sorted((copy / "dpo").glob("train-*.parquet"))[0]
    table_ = pq.read_table(shard)
    pq.write_table(table_.slice(0, table_.num_rows // 2), shard)
    assert "README.md is out of date" in check_card(copy)
    render_card(copy)
    _, body = split_card((copy / "README.md").read_text())
    assert keyed(sections(body)["Summary"])["DPO pairs"] == [n(table_.num_rows // 2)]


def test_card_errors_are_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["card", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "no such dataset folder" in missing.output
    (tmp_path / "empty").mkdir()
    empty = runner.invoke(cli, ["card", str(tmp_path / "empty")])
    assert empty.exit_code == 2 and "no parquet files" in empty.output
    assert "Traceback" not in missing.output + empty.output


def test_card_without_a_tokenizer_and_with_jsonl_copies(tmp_path: Path) -> None:
    """No tokenizer without a download: no sft_tokenized config, and the card says why; JSONL copies beside the
    Parquet files: the YAML's configs still point at the Parquet files only, every config loads, publish validates."""
    from builder.publish.validate import validate_dist

    problems = synthetic_problems(20, seed=8)
    out = tmp_path / "cardtest"
    meta = {**META, "model": "no-org/no-such-model", "dataset": {**META["dataset"], "formats": ["parquet", "jsonl"]}}
    write_dist(out, synthetic_candidates(problems, 160, seed=8), problems, BuildMeta.model_validate(meta))
    data, body = split_card((out / "README.md").read_text())
    names = [c["config_name"] for c in data["configs"]]
    assert names == ["sft", "dpo", "kto", "candidates", "problems"] and not (out / "sft_tokenized").exists()
    for entry in data["configs"]:
        assert entry["data_files"] == [{"split": "train", "path": f"{entry['config_name']}/train-*.parquet"}]
        jsonl = sorted((out / entry["config_name"]).glob("train-*.jsonl"))
        assert len(jsonl) == len(sorted((out / entry["config_name"]).glob("train-*.parquet"))) == 1
        assert len(load_dataset(str(out), entry["config_name"], split="train")) == len(jsonl[0].read_text().splitlines())
    s = sections(body)
    assert "This build has no `sft_tokenized` config: the tokenizer is not available without a download (`no-org/no-such-model`)." in s["Tokenized SFT"]
    assert "`sft_tokenized`" not in s["Card Test"] and 'data_files="hf://datasets/cardtest/sft/train-*.jsonl"' in body
    assert "SFTTrainer(model=\"no-org" not in body  # no tokenized example without the config
    assert check_card(out) == []
    validation = validate_dist(out)
    assert set(validation.rows) == set(names)
