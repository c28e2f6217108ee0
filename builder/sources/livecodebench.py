"""``livecodebench/code_generation_lite``: LiveCodeBench problems (AtCoder, Codeforces, LeetCode).

Upstream row (JSON lines ``test.jsonl`` ... ``test6.jsonl``, one file per release): ``question_title``,
``question_content``, ``platform``, ``question_id``, ``contest_id``, ``contest_date``, ``starter_code``,
``difficulty`` (easy, medium, hard), ``public_test_cases`` (a JSON list of ``{"input", "output", "testtype"}``),
``private_test_cases`` (the same JSON, or that JSON pickled, zlib-compressed and base64-encoded) and ``metadata``
(JSON; ``func_name`` for LeetCode's functional problems).

``subset`` picks the release like LiveCodeBench's ``version_tag``: ``release_v1`` ... ``release_v6`` (cumulative),
``v1`` ... ``v6`` (one release) or ``release_latest`` (default: every file present). The private tests are unpickled
with an unpickler that refuses every global, so a hostile file cannot run code: only plain data loads. Tests are
kept exactly as upstream has them (public first, then private; no de-duplication), so verdicts match LiveCodeBench's.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import zlib
from pathlib import Path
from typing import Any

from builder.sources.common import Context, as_json, check_json, check_json_lines, text

LICENSE = "cc"
ID_COLUMN = "question_id"
DEFAULT_SPLIT = "test"
FILES = ("test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl", "test5.jsonl", "test6.jsonl")


def release_files(subset: str | None, folder: Path | None = None) -> list[str]:
    """The JSONL files of a release tag (``release_v5``, ``v5``, ``release_latest``)."""
    tag = subset or "release_latest"
    if tag == "release_latest":
        if folder is not None:
            present = [name for name in FILES if (folder / name).exists()]
            if present:
                return present
        return list(FILES)
    if tag.startswith("release_v") and tag[len("release_v"):].isdigit():
        n = int(tag[len("release_v"):])
        if 1 <= n <= len(FILES):
            return list(FILES[:n])
    if tag.startswith("v") and tag[1:].isdigit():
        n = int(tag[1:])
        if 1 <= n <= len(FILES):
            return [FILES[n - 1]]
    raise ValueError(f"unknown LiveCodeBench release {tag!r} (release_v1..release_v6, v1..v6, release_latest)")


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
        "starter_code": text(row.get("starter_code")) or None,
        "license": LICENSE,
        "origin": ctx.origin(index, question_id),
    }
