"""Acceptance of the extractor on real responses: the `extraction` pack (MapCoder and LiveCodeBench responses with
the upstream tool's own extraction) and the `lcb` pack's candidates (LCB's extraction in `solution`).

The upstream extraction is a reference, not ground truth. Each row is classified: ``match`` (equal modulo
surrounding whitespace), or one of the deliberate, mechanically checked disagreements:

- ``reference_not_dedented``: the block is indented (inside a Markdown list); upstream kept the indentation, so its
  code does not compile (IndentationError); ours is the same code dedented, and compiles.
- ``fragment_resolved``: upstream took a last block that cannot run alone (it uses names only an earlier block
  defines: ``threading.Thread(target=main).start()``, or a demo ``print(solve(2, 4))``); ours, which compiles and
  defines those names, is the earlier program (plus the fragment when the program only defines things).
- ``nested_fence``: a doubled ```` ```python ```` opener and closer, where LCB found nothing; ours compiles.

Anything else is a ``miss`` and fails the test. Run with ``-s`` to see the numbers.
"""

from __future__ import annotations

import ast
import builtins
import json
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from builder.extract import extract_response

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "extraction" / "responses.jsonl"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PACK = SHARED / "extraction" / "responses.jsonl"
LCB = SHARED / "lcb" / "candidates.jsonl"

DISAGREEMENTS = ("reference_not_dedented", "fragment_resolved", "nested_fence")


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _compiles(code: str) -> bool:
    try:
        compile(code, "<candidate>", "exec")
    except (SyntaxError, ValueError):
        return False
    return True


def _layout_free(code: str) -> str:
    """Code without its common indentation and trailing spaces (the block's Markdown layout)."""
    return "\n".join(line.rstrip() for line in textwrap.dedent(code).splitlines()).strip()


def _free_and_bound(code: str) -> tuple[set[str], set[str]]:
    tree = ast.parse(code)
    loaded, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return loaded - bound - set(dir(builtins)), bound


def classify(response: str | None, reference: str | None, code: str | None) -> str:
    """``match`` or the (checked) kind of a deliberate disagreement with the upstream extraction; else ``miss``."""
    raw, reference = reference or "", (reference or "").strip() or None
    if code == reference:
        return "match"
    if code is None or not _compiles(code):
        return "miss"
    if reference is None:
        lines = [line.strip() for line in (response or "").splitlines()]
        doubled = any(a.startswith("```") and a == b and len(a) > 3 for a, b in zip(lines, lines[1:], strict=False))
        return "nested_fence" if doubled else "miss"
    if not _compiles(reference):
        return "reference_not_dedented" if _layout_free(raw) == _layout_free(code) else "miss"
    free, _ = _free_and_bound(reference)
    _, ours = _free_and_bound(code)
    if free and free <= ours and extract_response(response, resolve_fragments=False).code == reference:
        return "fragment_resolved"
    return "miss"


def _check_pack(rows: list[dict]) -> tuple[Counter[str], float, float]:
    kinds: Counter[str] = Counter()
    compat = 0
    for row in rows:
        code = extract_response(row["response"]).code
        kind = classify(row["response"], row["expected_code"], code)
        assert kind != "miss", f"{row['response_id']}: extracted {code!r:.200}, expected {row['expected_code']!r:.200}"
        kinds[kind] += 1
        reference = (row["expected_code"] or "").strip() or None
        compat += extract_response(row["response"], resolve_fragments=False).code == reference
    n = len(rows)
    print(
        f"\n{n} rows: {kinds['match']} equal ({kinds['match'] / n:.2%}); with resolve_fragments=False {compat} "
        f"({compat / n:.2%}); deliberate disagreements: {dict((k, kinds[k]) for k in DISAGREEMENTS if kinds[k])}"
    )
    return kinds, kinds["match"] / n, compat / n


def test_fixture_subset_agrees_or_disagrees_for_a_checked_reason() -> None:
    kinds, _, _ = _check_pack(_rows(FIXTURE))
    assert all(kinds[k] > 0 for k in DISAGREEMENTS)  # the subset keeps every kind of disagreement testable
    assert kinds["match"] >= 30


def test_fixture_lcb_edge_cases() -> None:
    rows = {r["response_id"]: r for r in _rows(FIXTURE)}
    for rid in ("lcb/o1-mini-2024-09-12_abc359_e", "lcb/o1-mini-2024-09-12_arc189_a"):
        assert extract_response(rows[rid]["response"]).status == "no_code"
    nested = extract_response(rows["lcb/o1-mini-2024-09-12_abc384_g"]["response"])
    assert nested.code is not None and nested.code.startswith("import sys\nimport numpy as np")
    assert nested.code.endswith('if __name__ == "__main__":\n    main()')
    for rid in ("lcb/o1-preview-2024-09-12_abc384_e", "lcb/o1-preview-2024-09-12_arc184_d"):
        code = extract_response(rows[rid]["response"]).code
        assert code is not None and code.startswith("# YOUR CODE HERE\n") and "def main():" in code
        assert code.endswith("threading.Thread(target=main).start()")


@pytest.mark.shared
@pytest.mark.skipif(not PACK.exists(), reason="needs ../shared/data/extraction")
def test_extraction_pack() -> None:
    rows = _rows(PACK)
    kinds, rate, compat = _check_pack(rows)
    assert compat >= 0.99  # the upstream tools' own rule, reproduced
    assert rate >= 0.98  # the rest are the deliberate disagreements checked above
    assert kinds["nested_fence"] == 1
    # Modulo whitespace (surrounding, and the Markdown indentation upstream kept), the default extraction agrees on
    # >= 99% of rows; the rest are the three LCB edge cases the pack's README says a better extractor may differ on.
    layout_equal = sum(
        _layout_free(extract_response(r["response"]).code or "") == _layout_free(r["expected_code"] or "") for r in rows
    )
    print(f"modulo whitespace and indentation: {layout_equal}/{len(rows)} ({layout_equal / len(rows):.2%})")
    assert layout_equal / len(rows) >= 0.99


@pytest.mark.shared
@pytest.mark.skipif(not LCB.exists(), reason="needs ../shared/data/lcb")
def test_lcb_candidates_agree_with_lcb_extraction() -> None:
    rows = _rows(LCB)
    kinds = Counter(classify(r["response"], r["solution"], extract_response(r["response"]).code) for r in rows)
    print(f"\nlcb candidates: {len(rows)}, {dict(kinds)}")
    assert kinds["miss"] == 0
    assert kinds["match"] / len(rows) >= 0.99
