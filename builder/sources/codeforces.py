"""``open-r1/codeforces``: Codeforces problems with official tests, generated tests and generated checkers.

Upstream row (configs ``default`` / ``verifiable``, splits ``train`` / ``test``): ``id`` ("2063/F1"),
``contest_id``, ``index``, ``title``, ``time_limit`` (s), ``memory_limit`` (MB), ``description``, ``input_format``,
``output_format``, ``interaction_format`` (set for interactive problems), ``note``, ``examples`` and
``official_tests`` (lists of ``{input, output}``), ``rating``, ``tags``, ``input_mode`` ("stdio" or "file"),
``generated_checker`` (Python, or null), ``executable``, ``generated_tests`` (how many generated tests exist).

Generated tests live beside the data, one parquet file per contest:
``generated_tests/test_cases_{contest_id:04d}.parquet`` with columns ``problem_id``, ``input``, ``output``,
``test_i``. They are read when present (a local copy of the repository, or ``generated_tests=<folder>``), and from
the Hub only when asked (``generated_tests=True``: the full set is about 110 GB). ``max_tests`` caps a problem's
tests (official tests first).

The statement is assembled from title, limits, description, input/output format, examples and note. Interactive
problems and file-I/O problems are skipped and counted. ``generated_checker`` follows open-r1's convention
(``checker.py input.txt correct_output.txt solution_output.txt``, prints 1 to accept); it is wrapped into the
judge's convention (``checker input.txt output.txt answer.txt``, exit 0 accepts) so the judge can run it in the
sandbox unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from builder.sources.common import Context, Skip, dedupe_tests, io_text, is_hub_id, text

LICENSE = "cc-by-4.0"
ID_COLUMN = "id"
DEFAULT_SPLIT = "train"
GENERATED_DIR = "generated_tests"

_ANY_CASE = re.compile(r"\bin any (?:letter )?case\b|\bcase[- ]insensitive\b|\bany register\b", re.IGNORECASE)

#: open-r1's checker (argv: input, correct output, solution output; prints a score) -> judge convention
#: (argv: input, output, answer; exit 0 accepts). Exceptions in the checker propagate (the judge then reports
#: sandbox_error: a broken checker is not the candidate's fault).
CHECKER_WRAPPER = """import contextlib, io, sys
_source = {source!r}
_input, _output, _answer = sys.argv[1:4]
sys.argv = ["checker.py", _input, _answer, _output]
_printed = io.StringIO()
with contextlib.redirect_stdout(_printed):
    try:
        exec(compile(_source, "checker.py", "exec"), {{"__name__": "__main__", "__builtins__": __builtins__}})
    except SystemExit:
        pass
_tokens = _printed.getvalue().split()
try:
    _score = float(_tokens[-1]) if _tokens else 0.0
except ValueError:
    _score = 0.0
sys.exit(0 if _score >= 1.0 - 1e-9 else 1)
"""


def wrap_checker(source: str) -> str:
    """An open-r1 ``generated_checker`` as a program in the judge's checker convention."""
    return CHECKER_WRAPPER.format(source=source)


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


def to_problem(row: dict[str, Any], index: int, ctx: Context) -> dict[str, Any]:
    problem_id = row.get("id")
    if not problem_id:
        raise ValueError("missing id")
    if text(row.get("interaction_format")).strip():
        raise Skip("interactive problem")
    mode = row.get("input_mode") or "stdio"
    if mode != "stdio":
        raise Skip(f"file input/output (input_mode={mode})")
    tests = [
        {"input": io_text(t["input"], "official test input"), "output": io_text(t["output"], "official test output")}
        for t in row.get("official_tests") or []
    ]
    tests += generated_tests(ctx, row)
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
        "license": LICENSE,
        "origin": ctx.origin(index, str(problem_id)),
    }
