"""The card's Problem checks: decontamination per benchmark and method, tolerances read from statements, and the
reference-solution validation table per source with the judge's false-negative rate (Wilson 95% interval), from
build.json's problems record; a build without those steps keeps its card as it was."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any


from builder.core.meta import BuildMeta, ProblemsRecord
from builder.dataset.card.render import problem_checks, problems_phrase
from builder.dataset.dist import render_card, write_dist
from builder.problems.validate import wilson_interval
from fakes.synthetic import synthetic_candidates, synthetic_problems

RECORD: dict[str, Any] = {
    "dedup": True, "merged": 3, "near_dedup": True, "near_dedup_threshold": 0.7, "near_merged": 5, "near_groups": 4,
    "benchmark": "lcb, HumanEval", "threshold": 0.9, "contaminated": 9, "ngram_size": 13,
    "decontamination": [
        {"benchmark": "lcb", "problems": 498, "method": "ngram", "threshold": 0.5, "removed": 6},
        {"benchmark": "lcb", "problems": 498, "method": "embedding", "threshold": 0.9, "removed": 2},
        {"benchmark": "HumanEval", "problems": 164, "method": "ngram", "threshold": 0.5, "removed": 0},
        {"benchmark": "HumanEval", "problems": 164, "method": "embedding", "threshold": 0.9, "removed": 1},
    ],
    "tolerance_from_statement": 9, "tolerance_kinds": {"absolute": 1, "either": 8},
    "validation": {
        "references": 3,
        "sources": [
            {"source": "atcoder", "problems": 489, "with_references": 329, "validated": 329, "broken": 0, "weak_checked": 0,
             "weak": 0, "correct_run": 514, "correct_rejected": 0, "incorrect_run": 0, "incorrect_passed": 0, "unjudged": 0},
            {"source": "code_contests/codeforces", "problems": 40, "with_references": 38, "validated": 37, "broken": 4,
             "weak_checked": 30, "weak": 6, "correct_run": 100, "correct_rejected": 12, "incorrect_run": 80,
             "incorrect_passed": 9, "unjudged": 1},
        ],
        "rejected_verdicts": {"wa": 9, "timeout": 3},
    },
}


def test_problem_checks_numbers() -> None:
    checks = problem_checks(ProblemsRecord.model_validate(RECORD))
    assert checks is not None
    assert [(r["benchmark"], r["method"].split(" ")[0], r["threshold"], r["removed"]) for r in checks["decontamination"]] == [
        ("lcb", "word", "0.5", "6"), ("lcb", "embedding", "0.9", "2"), ("HumanEval", "word", "0.5", "0"), ("HumanEval", "embedding", "0.9", "1"),
    ]
    v = checks["validation"]
    assert [(r["source"], r["validated"], r["broken"], r["weak"]) for r in v["rows"]] == [("atcoder", "329", "0", "0"), ("code_contests/codeforces", "37", "4", "6")]
    total = wilson_interval(12, 614)
    assert total is not None
    assert v["total"]["correct_run"] == "614" and v["total"]["correct_rejected"] == "12"
    assert v["total"]["fnr"] == f"{total[0]:.1%} ({total[1]:.1%}–{total[2]:.1%})"
    assert v["rows"][0]["fnr"] == "0.0% (0.0%–0.7%)"
    assert "`wa` 9, `timeout` 3" in v["sentence"]
    assert checks["tolerance"].startswith("9 problems whose source gives no float tolerance") and "1 absolute, 8 either" in checks["tolerance"]
    phrase = problems_phrase(ProblemsRecord.model_validate(RECORD))
    assert "(5 merged into 4 groups" in phrase and "sharing at least 0.5 of a benchmark problem's word 13-grams" in phrase
    assert "(9 dropped; see Problem checks)" in phrase and "9 problems took their float tolerance from their statement" in phrase


def test_legacy_and_empty_records_have_no_checks_section() -> None:
    assert problem_checks(None) is None
    legacy = ProblemsRecord.model_validate({"dedup": True, "merged": 7, "benchmark": "lcb", "threshold": 0.85, "contaminated": 4})
    assert problem_checks(legacy) is None
    assert "within cosine 0.85 of a problem of `lcb` were dropped (4 dropped)" in problems_phrase(legacy)


def _meta(record: dict[str, Any] | None) -> BuildMeta:
    meta: dict[str, Any] = {
        "name": "checks", "recipe": 'name = "checks"\n', "recipe_hash": "0" * 64, "seed": 1, "model": "models/demo", "backend": "vllm",
        "sampling": {"n": 4, "temperature": 1.0, "top_p": 1.0, "top_k": -1, "max_tokens": 64},
        "sandbox": {"executor": "ForkServerSandbox"}, "versions": {"builder": "0.1.0"},
        "sources": [{"kind": "local", "path": "p.jsonl", "problems": 30, "quarantined": 0, "license": "MIT"}],
        "dataset": {"pretty_name": "Checks", "license": "MIT", "tokenized": False},
    }
    if record is not None:
        meta["problems"] = record
    return BuildMeta.model_validate(meta)


def test_card_of_a_build_with_validation(tmp_path: Path) -> None:
    problems = synthetic_problems(30, seed=3)
    out = tmp_path / "checks"
    write_dist(out, synthetic_candidates(problems, 120, seed=3), problems, _meta(RECORD))
    text = (out / "README.md").read_text(encoding="utf-8")
    section = text.split("### Problem checks", 1)[1].split("\n### ", 1)[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in section.splitlines() if line.startswith("| ")]
    assert ["`lcb`", "498", "word 13-gram overlap (share of the benchmark problem's)", "0.5", "6"] in rows
    assert ["`HumanEval`", "164", "embedding cosine (all-MiniLM-L6-v2)", "0.9", "1"] in rows
    validation = {r[0]: r for r in rows if len(r) == 10}
    assert validation["atcoder"][1:] == ["489", "329", "329", "0", "0", "0", "514", "0", "0.0% (0.0%–0.7%)"]
    assert validation["**all**"][4] == "4" and validation["**all**"][8] == "12"
    assert re.search(r"The judge rejected 12 of the 614 correct reference solutions it ran: a false-negative rate of 2\.0% \(1\.1%–3\.4%\)", section)
    assert "up to 3 correct and 3 incorrect reference solutions per problem" in section
    assert "Tolerances: 9 problems whose source gives no float tolerance" in section
    assert json.loads((out / "build.json").read_text())["problems"]["validation"]["references"] == 3
    # a build without the new steps: no section, and the card renders again to the same bytes
    plain = tmp_path / "plain"
    write_dist(plain, synthetic_candidates(problems, 120, seed=3), problems, _meta({"dedup": True, "merged": 0}))
    plain_text = (plain / "README.md").read_text(encoding="utf-8")
    assert "### Problem checks" not in plain_text
    render_card(out)
    assert (out / "README.md").read_text(encoding="utf-8") == text
