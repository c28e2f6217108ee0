"""``deepmind/code_contests``: AlphaCode's CodeContests (public, private and generated tests).

Upstream row: ``name`` ("1548_C. The Three Little Pigs"), ``description`` (the full statement, examples included),
``public_tests`` / ``private_tests`` / ``generated_tests`` (each ``{"input": [...], "output": [...]}``), ``source``
and ``difficulty`` (protobuf enum numbers), ``solutions`` / ``incorrect_solutions`` (``{"language": [...],
"solution": [...]}``), ``cf_contest_id``, ``cf_index``, ``cf_points``, ``cf_rating``, ``cf_tags``,
``is_description_translated``, ``untranslated_description``, ``time_limit`` (``{"seconds", "nanos"}`` or null),
``memory_limit_bytes``, ``input_file``, ``output_file``.

Difficulty is the Codeforces rating when there is one, else the enum's label. Problems that read or write named
files (``input_file`` / ``output_file``) are skipped and counted. ``test_sets`` picks the test sets (default
public, private and generated, in that order); ``max_tests`` caps the count. ``solutions`` and
``incorrect_solutions`` (every language, the enum's name as ``language``) go to the solutions side table, the
incorrect ones with ``correct`` false; ``cf_tags`` become the problem's tags.
"""

from __future__ import annotations

from typing import Any

from builder.problems.sources.common import Context, Skip, dedupe_tests, io_text, text

LICENSE = "cc-by-4.0"
ID_COLUMN = "name"
DEFAULT_SPLIT = "train"
TEST_SETS = ("public_tests", "private_tests", "generated_tests")

#: deepmind/code_contests problem.proto enums
SOURCES = {0: "unknown", 1: "codechef", 2: "codeforces", 3: "hackerearth", 4: "codejam", 5: "atcoder", 6: "aizu"}
DIFFICULTIES = {0: "unknown", 1: "easy", 2: "medium", 3: "hard", 4: "harder", 5: "hardest", 6: "external"}
DIFFICULTIES.update({7 + i: letter for i, letter in enumerate("ABCDEFGHIJKLMNOPQRSTUV")})
#: Solution.Language (PYTHON is Python 2)
LANGUAGES = {0: "unknown", 1: "python2", 2: "cpp", 3: "python3", 4: "java"}


def _solutions(block: Any, *, correct: bool, what: str) -> list[dict[str, Any]]:
    if block is None:
        return []
    languages, codes = block.get("language") or [], block.get("solution") or []
    if len(languages) != len(codes):
        raise ValueError(f"{what}: {len(languages)} languages but {len(codes)} solutions")
    return [
        {"correct": correct, "index": i, "language": LANGUAGES.get(int(lang), "unknown"), "code": text(code)}
        for i, (lang, code) in enumerate(zip(languages, codes))
    ]


def _tests(block: Any, what: str) -> list[dict[str, str]]:
    if block is None:
        return []
    inputs, outputs = block.get("input") or [], block.get("output") or []
    if len(inputs) != len(outputs):
        raise ValueError(f"{what}: {len(inputs)} inputs but {len(outputs)} outputs")
    return [{"input": io_text(i, f"{what} input"), "output": io_text(o, f"{what} output")} for i, o in zip(inputs, outputs)]


def to_problem(row: dict[str, Any], index: int, ctx: Context) -> dict[str, Any]:
    name = text(row.get("name")).strip()
    if not name:
        raise ValueError("missing name")
    if text(row.get("input_file")).strip() or text(row.get("output_file")).strip():
        raise Skip("file input/output")
    statement = text(row.get("description"))
    if not statement.strip():
        raise ValueError("empty description")
    tests: list[dict[str, str]] = []
    for key in ctx.options.get("test_sets") or TEST_SETS:
        if key not in TEST_SETS:
            raise ValueError(f"unknown test set {key!r}")
        tests += _tests(row.get(key), key)
    tests = dedupe_tests(tests)
    limit = ctx.options.get("max_tests")
    if limit:
        tests = tests[: int(limit)]
    rating = row.get("cf_rating") or 0
    level = row.get("difficulty")
    time_limit = row.get("time_limit") or None
    seconds = None
    if time_limit:
        seconds = float(time_limit.get("seconds") or 0) + float(time_limit.get("nanos") or 0) / 1e9
    memory = row.get("memory_limit_bytes") or 0
    site = SOURCES.get(int(row.get("source") or 0), "unknown")
    title = name.split(". ", 1)[1] if ". " in name else name
    return {
        "problem_id": name,
        "source": f"code_contests/{site}",
        "difficulty": str(int(rating)) if rating else DIFFICULTIES.get(int(level or 0), "unknown"),
        "title": title,
        "problem": statement,
        "tests": tests,
        "time_limit": seconds or None,
        "memory_limit": int(memory) // (1024 * 1024) or None,
        "test_type": "stdin",
        "tags": [text(t) for t in row.get("cf_tags") or []] or None,
        "license": LICENSE,
        "origin": ctx.origin(index, name),
        "solutions": _solutions(row.get("solutions"), correct=True, what="solutions")
        + _solutions(row.get("incorrect_solutions"), correct=False, what="incorrect_solutions"),
    }
