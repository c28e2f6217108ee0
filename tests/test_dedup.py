"""Deduplication across sources: normalized statement hash, first occurrence in source order kept, merges counted."""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset

from builder.problems.dedup import dedup_problems, normalize_statement, statement_hash
from builder.core.schema import PROBLEM_FEATURES
from builder.problems.stage import collect_problems
from builder.core.settings import ProblemsSettings, SourceSettings

FIXTURES = Path(__file__).parent / "fixtures"


def _problems(rows: list[tuple[str, str, str]]) -> Dataset:
    base = {k: None for k in PROBLEM_FEATURES}
    return Dataset.from_list(
        [{**base, "problem_id": pid, "source": src, "problem": text, "tests": [{"input": "", "output": "1"}],
          "case_insensitive": False, "test_type": "stdin"} for pid, src, text in rows],
        features=PROBLEM_FEATURES,
    )


def test_normalization_ignores_latex_case_punctuation_and_spacing() -> None:
    variants = [
        "Given $n$ integers $a_i$ ($1 \\le a_i \\le 10^9$), print the \\textbf{maximum}.",
        "given  $$$n$$$ integers $$$a_i$$$ ($$$1 \\leq a_i \\leq 10^9$$$), print the maximum",
        "Given n integers a_i (1 ≤ a_i ≤ 10^9), print the\nmaximum!",
        "GIVEN n INTEGERS a_i (1 <= a_i <= 10^9), PRINT THE MAXIMUM.",
    ]
    assert len({normalize_statement(v) for v in variants}) == 1
    assert normalize_statement(variants[0]) == "given n integers a i 1 le a i le 10 9 print the maximum"
    assert statement_hash(variants[0]) != statement_hash("Given n integers, print the minimum.")
    assert statement_hash("") is None and statement_hash("$ \\, $") is None


def test_first_in_source_order_wins_and_merges_are_counted() -> None:
    first = _problems([("cf/1", "codeforces", "Print the sum of $a$ and $b$."), ("cf/2", "codeforces", "Sort the array.")])
    second = _problems([
        ("taco/7", "taco/codeforces", "print the sum of a and b"),
        ("taco/8", "taco/codeforces", "Reverse the string."),
        ("taco/9", "taco/codeforces", "Sort   the array!"),
        ("taco/10", "taco/codeforces", ""),
        ("taco/11", "taco/codeforces", ""),  # empty statements are never merged
    ])
    result = dedup_problems([first, second])
    assert result.problems["problem_id"] == ["cf/1", "cf/2", "taco/8", "taco/10", "taco/11"]
    assert result.merged == 2
    assert result.pairs == {"codeforces <- taco/codeforces": 2}
    reasons = dict(zip(result.duplicates["row_id"], result.duplicates["reason"]))
    assert reasons == {
        "taco/7": "duplicate of cf/1 (codeforces): same normalized statement",
        "taco/9": "duplicate of cf/2 (codeforces): same normalized statement",
    }
    assert "merged 2 duplicates" in result.summary()


def test_no_duplicates_keeps_everything() -> None:
    problems = _problems([("a", "s", "one"), ("b", "s", "two")])
    result = dedup_problems(problems)
    assert len(result.problems) == 2 and result.merged == 0 and len(result.duplicates) == 0


def test_collect_merges_the_same_problems_from_two_sources(tmp_path: Path) -> None:
    """The lcb fixture as normalized problems and again as LiveCodeBench rows under other ids: the copies merge."""
    import json
    import sys

    sys.path.insert(0, str(FIXTURES / "sources"))
    from make_fixtures import lcb_upstream_rows

    problems = [json.loads(line) for line in (FIXTURES / "lcb" / "problems.jsonl").read_text().splitlines()]
    rows = lcb_upstream_rows([{**p, "problem_id": "copy-" + p["problem_id"]} for p in problems])
    upstream = tmp_path / "test5.jsonl"
    upstream.write_text("".join(json.dumps(r) + "\n" for r in rows))
    collected = collect_problems([
        SourceSettings(kind="local", path=str(FIXTURES / "lcb" / "problems.jsonl")),
        SourceSettings(kind="livecodebench", path=str(upstream)),
    ])
    assert len(collected.problems) == 12 and collected.merged == 12
    assert set(collected.problems["source"]) == {"atcoder"}  # the first source's copies are kept
    assert collected.merged_pairs == {"atcoder <- livecodebench/atcoder": 12}
    assert len(collected.quarantine) == 12
    assert [m.kind for m in collected.source_records()] == ["local", "livecodebench"]
    assert collected.record().dedup is True and collected.record().merged == 12


def test_collect_without_dedup_still_keeps_ids_unique(tmp_path: Path) -> None:
    path = str(FIXTURES / "lcb" / "problems.jsonl")
    collected = collect_problems(
        [SourceSettings(kind="local", path=path), SourceSettings(kind="local", path=path, limit=5)], ProblemsSettings(dedup=False)
    )
    assert len(collected.problems) == 12 and len(set(collected.problems["problem_id"])) == 12
    assert len(collected.quarantine) == 5
    assert set(collected.quarantine["reason"]) == {"duplicate problem_id: an earlier source than sources[1] has it"}


def test_empty_input_is_no_error() -> None:
    """An empty table (a source limited to 0 rows) used to fail with ``Column '_statement_hash' doesn't exist``."""
    result = dedup_problems(Dataset.from_dict({k: [] for k in PROBLEM_FEATURES}, features=PROBLEM_FEATURES))
    assert len(result.problems) == 0 and result.merged == 0 and len(result.duplicates) == 0
    collected = collect_problems([SourceSettings(kind="local", path=str(FIXTURES / "lcb" / "problems.jsonl"), options={"limit": 0})])
    assert len(collected.problems) == 0 and len(collected.solutions) == 0


def test_collect_keeps_the_solutions_of_kept_problems_only(tmp_path: Path) -> None:
    """A problem merged into an earlier copy leaves its reference solutions behind with it."""
    import sys

    sys.path.insert(0, str(FIXTURES / "sources"))
    from make_fixtures import FOLDERS

    taco = str(FOLDERS["taco"] / "ALL" / "train-00000-of-00001.parquet")
    alone = collect_problems([SourceSettings(kind="taco", path=taco)])
    assert alone.solutions["problem_id"] == ["taco/train/0", "taco/train/0"]
    local = tmp_path / "first.jsonl"
    product = next(p for p in alone.problems if p["problem_id"] == "taco/train/0")
    local.write_text(__import__("json").dumps({**product, "problem_id": "mine/0"}) + "\n")
    merged = collect_problems([SourceSettings(kind="local", path=str(local)), SourceSettings(kind="taco", path=taco)])
    assert "taco/train/0" not in merged.problems["problem_id"] and len(merged.solutions) == 0


# --- near-duplicates: MinHash LSH -----------------------------------------------------------------------------------

REWORDINGS = [("Find", "Determine"), ("Print", "Output"), ("positive integers", "positive whole numbers"), ("satisfy", "meet")]


def _reworded(text: str) -> str:
    for old, new in REWORDINGS:
        text = text.replace(old, new)
    return text


def _lcb() -> list[dict]:
    import json

    return [json.loads(line) for line in (FIXTURES / "lcb" / "problems.jsonl").read_text().splitlines()]


def test_reworded_near_duplicate_merged_unrelated_kept() -> None:
    from builder.problems.dedup import near_dedup_problems

    lcb = _lcb()
    target = lcb[2]  # abc373_c; the rewording leaves 94% of its word 5-grams
    copy = _reworded(target["problem"])
    assert copy != target["problem"] and statement_hash(copy) != statement_hash(target["problem"])  # the exact hash misses it
    rows = [(p["problem_id"], "atcoder", p["problem"]) for p in lcb] + [("copy-1", "mirror", copy), ("other", "mirror", "Sort the array and print it.")]
    result = near_dedup_problems(_problems(rows), threshold=0.7)
    assert result.merged == 1 and result.groups == 1
    kept = {r["problem_id"]: r for r in result.problems}
    assert "copy-1" not in kept and "other" in kept and len(kept) == len(lcb) + 1
    assert kept[target["problem_id"]]["near_duplicates"] == ["copy-1"]
    assert all(r["near_duplicates"] is None for pid, r in kept.items() if pid != target["problem_id"])
    (reason,) = result.duplicates["reason"]
    assert reason.startswith(f"near-duplicate of {target['problem_id']} (atcoder): estimated Jaccard 0.9") and reason.endswith(">= 0.7 of word 5-grams")
    assert dict(result.pairs) == {"atcoder <- mirror": 1}


def test_near_duplicate_threshold_decides() -> None:
    from builder.problems.dedup import near_dedup_problems

    lcb = _lcb()
    rows = [("a", "x", lcb[2]["problem"]), ("b", "y", _reworded(lcb[2]["problem"]))]
    assert near_dedup_problems(_problems(rows), threshold=0.7).merged == 1
    assert near_dedup_problems(_problems(rows), threshold=0.99).merged == 0


def test_distinct_problems_of_one_contest_family_stay_apart() -> None:
    """The lcb fixture's 12 AtCoder problems share the platform's boilerplate, not their statements."""
    from builder.problems.dedup import near_dedup_problems

    result = near_dedup_problems(_problems([(p["problem_id"], "atcoder", p["problem"]) for p in _lcb()]))
    assert result.merged == 0 and len(result.problems) == 12


def test_collect_counts_near_duplicates_in_the_record(tmp_path: Path) -> None:
    import json

    lcb = _lcb()
    mirror = tmp_path / "mirror.jsonl"
    mirror.write_text("".join(json.dumps({**p, "problem_id": "m-" + p["problem_id"], "problem": _reworded(p["problem"])}) + "\n" for p in lcb[1:4]))
    collected = collect_problems([
        SourceSettings(kind="local", path=str(FIXTURES / "lcb" / "problems.jsonl")), SourceSettings(kind="local", path=str(mirror)),
    ])
    record = collected.record()
    assert (record.near_dedup, record.near_dedup_threshold, record.near_merged, record.near_groups) == (True, 0.7, 3, 3)
    assert len(collected.problems) == 12 and sum(len(r["near_duplicates"] or []) for r in collected.problems) == 3
    off = collect_problems([
        SourceSettings(kind="local", path=str(FIXTURES / "lcb" / "problems.jsonl")), SourceSettings(kind="local", path=str(mirror)),
    ], ProblemsSettings(near_dedup=False))
    assert len(off.problems) == 15 and off.record().near_merged == 0
