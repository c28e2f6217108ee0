"""``open-r1/codeforces``: Codeforces problems with official tests, generated tests and generated checkers.

Upstream row (configs ``default`` / ``verifiable``, splits ``train`` / ``test``): ``id`` ("2063/F1"),
``contest_id``, ``contest_start`` (Unix time), ``index``, ``title``, ``time_limit`` (s), ``memory_limit`` (MB),
``description``, ``input_format``, ``output_format``, ``interaction_format`` (set for interactive problems), ``note``,
``examples`` and ``official_tests`` (lists of ``{input, output}``), ``official_tests_complete``, ``editorial``,
``rating``, ``tags``, ``input_mode`` ("stdio" or "file"), ``generated_checker`` (Python, or null), ``executable``,
``generated_tests`` (how many generated tests exist).

Generated tests live beside the data, one parquet file per contest:
``generated_tests/test_cases_{contest_id:04d}.parquet`` with columns ``problem_id``, ``input``, ``output``,
``test_i``. They are read when present (a local copy of the repository, or ``generated_tests=<folder>``), and from
the Hub only when asked (``generated_tests=True``: the full set is about 110 GB). ``max_tests`` caps a problem's
tests (official tests first).

Which problems are kept. open-r1 calls a problem verifiable when it is ``executable`` and its official tests are
complete or generated tests exist (the ``verifiable`` config); scoring runs the official tests plus the generated
ones (open-r1 ``cf_scoring.py``). Problems whose official tests are incomplete (only the first tests of the
Codeforces test set) would accept wrong solutions when judged on them alone, so a problem with
``official_tests_complete`` false and no generated tests at hand is skipped and counted, unless
``incomplete_tests=True``; so is a problem open-r1 marks not ``executable``. ``official_tests_complete`` is kept
in the problem. Interactive problems and file-I/O problems are skipped and counted too.

The statement is assembled from title, limits, description, input/output format, examples and note; ``tags``,
``editorial`` and ``contest_start`` (as ``contest_date``, ISO 8601 UTC) are kept. ``generated_checker`` follows
open-r1's convention (``checker.py input.txt correct_output.txt solution_output.txt``, prints its verdict); it is
wrapped into the judge's convention (``checker input.txt output.txt answer.txt``, exit 0 accepts) by
:mod:`builder.problems.sources.openr1_checker`, which accepts exactly what open-r1's runner accepts.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from builder.core.tables import is_hub_id
from builder.problems.sources.common import Context, Skip, dedupe_tests, io_text, text

LICENSE = "cc-by-4.0"
ID_COLUMN = "id"
DEFAULT_SPLIT = "train"
GENERATED_DIR = "generated_tests"

_ANY_CASE = re.compile(r"\bin any (?:letter )?case\b|\bcase[- ]insensitive\b|\bany register\b", re.IGNORECASE)


@functools.cache
def _wrapper() -> str:
    return (Path(__file__).parent / "openr1_checker.py").read_text(encoding="utf-8")


def wrap_checker(source: str) -> str:
    """An open-r1 ``generated_checker`` as a program in the judge's checker convention."""
    return f"CHECKER_SOURCE = {source!r}\n" + _wrapper()


def statement(row: dict[str, Any]) -> str:
    parts = [text(row.get("title")).strip()]
    limits = []
    if row.get("time_limit"):
        limits.append(f"time limit per test: {float(row['time_limit']):g} seconds")
    if row.get("memory_limit"):
        limits.append(f"memory limit per test: {float(row['memory_limit']):g} megabytes")
    if limits:
        parts.append("\n".join(limits))
    parts.append(text(row.get("description")).strip())
    for heading, key in (("Input", "input_format"), ("Output", "output_format")):
        body = text(row.get(key)).strip()
        if body:
            parts.append(f"## {heading}\n\n{body}")
    examples = row.get("examples") or []
    if examples:
        blocks = []
        for example in examples:
            blocks.append(
                f"Input\n```\n{io_text(example['input'], 'example input').rstrip()}\n```\n"
                f"Output\n```\n{io_text(example['output'], 'example output').rstrip()}\n```"
            )
        parts.append("## Examples\n\n" + "\n\n".join(blocks))
    note = text(row.get("note")).strip()
    if note:
        parts.append(f"## Note\n\n{note}")
    return "\n\n".join(p for p in parts if p)


def _generated_file(ctx: Context, contest_id: Any) -> Path | None:
    """The contest's generated-tests parquet, if available without a large download (or when asked for)."""
    option = ctx.options.get("generated_tests")
    if option is False:
        return None
    name = f"test_cases_{int(contest_id):04d}.parquet"
    if isinstance(option, (str, Path)):
        candidate = Path(option) / name
        return candidate if candidate.exists() else None
    local = Path(ctx.path)
    if local.is_dir():
        candidate = local / GENERATED_DIR / name
        return candidate if candidate.exists() else None
    if option is True and is_hub_id(ctx.path):
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError

        try:
            return Path(hf_hub_download(ctx.path, f"{GENERATED_DIR}/{name}", repo_type="dataset"))
        except EntryNotFoundError:
            return None
    return None


def generated_tests(ctx: Context, row: dict[str, Any]) -> list[dict[str, str]]:
    if not row.get("generated_tests"):
        return []
    path = _generated_file(ctx, row["contest_id"])
    if path is None:
        return []
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["problem_id", "input", "output", "test_i"], filters=[("problem_id", "==", row["id"])])
    rows = sorted(table.to_pylist(), key=lambda r: int(r.get("test_i") or 0))
    return [{"input": io_text(r["input"], "generated input"), "output": io_text(r["output"], "generated output")} for r in rows]


def _contest_date(value: Any) -> str | None:
    """``contest_start`` (Unix seconds) as ISO 8601 UTC."""
    if value in (None, ""):
        return None
    return datetime.fromtimestamp(int(value), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tags(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(t, str) for t in value):
        raise TypeError("tags must be a list of strings")
    return list(value) or None


def to_problem(row: dict[str, Any], index: int, ctx: Context) -> dict[str, Any]:
    problem_id = row.get("id")
    if not problem_id:
        raise ValueError("missing id")
    if text(row.get("interaction_format")).strip():
        raise Skip("interactive problem")
    mode = row.get("input_mode") or "stdio"
    if mode != "stdio":
        raise Skip(f"file input/output (input_mode={mode})")
    if row.get("executable") is False:
        raise Skip("not executable (open-r1 could not run its tests)")
    tests = [
        {"input": io_text(t["input"], "official test input"), "output": io_text(t["output"], "official test output")}
        for t in row.get("official_tests") or []
    ]
    generated = generated_tests(ctx, row)
    complete = row.get("official_tests_complete")
    if complete is False and not generated and not ctx.options.get("incomplete_tests"):
        raise Skip("official tests incomplete and no generated tests (generated_tests=true fetches them)")
    tests += generated
    if not tests:  # the statement's examples are tests too
        tests = [
            {"input": io_text(t["input"], "example input"), "output": io_text(t["output"], "example output")}
            for t in row.get("examples") or []
        ]
    tests = dedupe_tests(tests)
    limit = ctx.options.get("max_tests")
    if limit:
        tests = tests[: int(limit)]
    checker = row.get("generated_checker")
    rating = row.get("rating")
    formats = text(row.get("output_format")) + "\n" + text(row.get("description"))
    return {
        "problem_id": str(problem_id),
        "source": "codeforces",
        "difficulty": str(int(rating)) if rating else "unknown",
        "title": text(row.get("title")),
        "problem": statement(row),
        "tests": tests,
        "time_limit": float(row["time_limit"]) if row.get("time_limit") else None,
        "memory_limit": int(float(row["memory_limit"])) if row.get("memory_limit") else None,
        "checker": wrap_checker(checker) if isinstance(checker, str) and checker.strip() else None,
        "case_insensitive": bool(_ANY_CASE.search(formats)),
        "test_type": "stdin",
        "official_tests_complete": complete,
        "contest_date": _contest_date(row.get("contest_start")),
        "tags": _tags(row.get("tags")),
        "editorial": text(row.get("editorial")) or None,
        "license": LICENSE,
        "origin": ctx.origin(index, str(problem_id)),
    }
