"""``livecodebench/code_generation_lite``: LiveCodeBench problems (AtCoder, Codeforces, LeetCode).

Upstream row (JSON lines, one file per release: ``test.jsonl``, ``test2.jsonl`` ... ``test6.jsonl``):
``question_title``, ``question_content``, ``platform``, ``question_id``, ``contest_id``, ``contest_date``,
``starter_code``, ``difficulty`` (easy, medium, hard), ``public_test_cases`` (a JSON list of ``{"input", "output",
"testtype"}``), ``private_test_cases`` (the same JSON, or that JSON pickled, zlib-compressed and base64-encoded) and
``metadata`` (JSON; ``func_name`` for LeetCode's functional problems).

Files. The repository keeps a loading script, ``code_generation_lite.py``, which ``datasets`` 5 refuses, so the
JSON-lines files are read directly. ``subset`` is LiveCodeBench's ``release_version`` (``lcb_runner`` passes it to
the script as ``version_tag``), mapped to files as the script's ``ALLOWED_FILES`` does: ``release_vN`` is
cumulative (``test.jsonl`` .. ``testN.jsonl``), ``vN`` one release (``testN.jsonl``; ``test.jsonl`` for v1), ``vA_vB``
the releases A to B, and ``release_latest`` (the default) every release; releases after v6 are recognized from the
files present. The only split is ``test``.

The private tests are unpickled with an unpickler that refuses every global, so a hostile file cannot run code: only
plain data loads. Tests are kept exactly as upstream has them (public first, then private; no de-duplication), so
verdicts match LiveCodeBench's, whose checker compares functional return values exactly (``functional_match =
"exact"``). ``contest_date`` is kept (time-window decontamination, as LiveCodeBench does).
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import re
import zlib
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from builder.problems.sources.common import (
    Context,
    Repo,
    as_json,
    check_json,
    check_json_lines,
    text,
)

LICENSE = "cc"
ID_COLUMN = "question_id"
DEFAULT_SPLIT = "test"
#: releases the upstream's loading script knows (v1 .. v6)
KNOWN_RELEASES = 6
_FILE = re.compile(r"test(\d*)\.jsonl")
_RANGE = re.compile(r"v(\d+)_v(\d+)")


def release_file(n: int) -> str:
    """The file of release ``n``: ``test.jsonl`` for v1, ``testN.jsonl`` after."""
    return "test.jsonl" if n == 1 else f"test{n}.jsonl"


def release_files(subset: str | None, present: Iterable[str] = ()) -> list[str]:
    """The JSON-lines files of a release tag, as ``code_generation_lite.py`` maps them (``present``: the files of the
    repository, for releases published after the script's v6)."""
    numbers = [int(m.group(1) or 1) for m in map(_FILE.fullmatch, present) if m]
    last = max([KNOWN_RELEASES, *numbers])
    tag = subset or "release_latest"
    if tag == "release_latest":
        return [release_file(n) for n in range(1, last + 1)]
    if tag.startswith("release_v") and tag[len("release_v"):].isdigit() and 1 <= int(tag[len("release_v"):]) <= last:
        return [release_file(n) for n in range(1, int(tag[len("release_v"):]) + 1)]
    if tag.startswith("v") and tag[1:].isdigit() and 1 <= int(tag[1:]) <= last:
        return [release_file(int(tag[1:]))]
    span = _RANGE.fullmatch(tag)
    if span and 1 <= int(span.group(1)) < int(span.group(2)) <= last:
        return [release_file(n) for n in range(int(span.group(1)), int(span.group(2)) + 1)]
    raise ValueError(
        f"unknown LiveCodeBench release {tag!r} (release_v1..release_v{last}, release_latest, v1..v{last}, "
        f"vA_vB with A < B)"
    )


def data_files(repo: Repo, subset: str | None, split: str) -> list[str]:
    """The files of a release tag; every one must be in the repository."""
    if split != DEFAULT_SPLIT:
        raise ValueError(f"LiveCodeBench has only the split {DEFAULT_SPLIT!r}, not {split!r}")
    names = release_files(subset, repo.files)
    missing = [name for name in names if name not in repo.files]
    if missing:
        raise ValueError(f"release {subset or 'release_latest'} needs {', '.join(names)}; missing {', '.join(missing)}")
    return names


class _DataOnlyUnpickler(pickle.Unpickler):
    """Plain data only: any class or function reference is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from private_test_cases")


def decode_private(value: Any) -> list[Any]:
    """``private_test_cases`` as a list: plain JSON, or base64(zlib(pickle(JSON string)))."""
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        packed = zlib.decompress(base64.b64decode(value.encode("ascii"), validate=True))
        payload = _DataOnlyUnpickler(io.BytesIO(packed)).load()
        parsed = json.loads(payload) if isinstance(payload, (str, bytes)) else payload
    if not isinstance(parsed, list):
        raise ValueError("private_test_cases must decode to a list")
    return parsed


def encode_private(tests: list[dict[str, str]]) -> str:
    """The compressed encoding LiveCodeBench uses for large private test sets (for fixtures and round trips)."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode("ascii")


def _date(value: Any) -> str | None:
    """``contest_date`` as ISO 8601 text (the JSON reader parses the upstream's text into a timestamp)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return text(value).strip() or None


def to_problem(row: dict[str, Any], index: int, ctx: Context) -> dict[str, Any]:
    question_id = text(row.get("question_id")).strip()
    if not question_id:
        raise ValueError("missing question_id")
    statement = text(row.get("question_content"))
    if not statement.strip():
        raise ValueError("empty question_content")
    public = as_json(row.get("public_test_cases") or "[]", "public_test_cases")
    if not isinstance(public, list):
        raise ValueError("public_test_cases must be a list")
    cases = public + decode_private(row.get("private_test_cases"))
    if not cases:
        raise ValueError("no test cases")
    meta = as_json(row.get("metadata") or "{}", "metadata")
    if not isinstance(meta, dict):
        raise ValueError("metadata must be an object")
    kinds = {case.get("testtype", "stdin") if isinstance(case, dict) else None for case in cases}
    if None in kinds:
        raise ValueError("test cases must be objects")
    if len(kinds) > 1:
        raise ValueError(f"mixed test types {sorted(kinds)}")
    kind = kinds.pop()
    tests = []
    for i, case in enumerate(cases):
        if not isinstance(case.get("input"), str) or not isinstance(case.get("output"), str):
            raise ValueError(f"test {i} needs string input and output")
        if kind == "functional":
            tests.append({"input": check_json_lines(case["input"], f"test {i} input"), "output": check_json(case["output"], f"test {i} output")})
        elif kind == "stdin":
            tests.append({"input": case["input"], "output": case["output"]})
        else:
            raise ValueError(f"unknown testtype {kind!r}")
    fn_name = meta.get("func_name")
    if kind == "functional" and not fn_name:
        raise ValueError("functional tests without metadata.func_name")
    limit = ctx.options.get("max_tests")
    if limit:
        tests = tests[: int(limit)]
    platform = text(row.get("platform")).strip().lower()
    return {
        "problem_id": question_id,
        "source": f"livecodebench/{platform}" if platform else "livecodebench",
        "difficulty": text(row.get("difficulty")).strip().lower() or "unknown",
        "title": text(row.get("question_title")),
        "problem": statement,
        "tests": tests,
        "test_type": "functional" if kind == "functional" else "stdin",
        "fn_name": fn_name if kind == "functional" else None,
        "functional_match": "exact" if kind == "functional" else None,
        "starter_code": text(row.get("starter_code")) or None,
        "contest_date": _date(row.get("contest_date")),
        "license": LICENSE,
        "origin": ctx.origin(index, question_id),
    }
