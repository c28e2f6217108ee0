"""tests/slow_tests.txt names tests that exist: a renamed or removed test must leave the list too."""

from __future__ import annotations

import re

from conftest import ROOT, SLOW_TESTS, slow_test_ids


def test_every_listed_slow_test_is_defined_in_its_file() -> None:
    ids = slow_test_ids()
    assert ids, f"{SLOW_TESTS} lists nothing"
    stale = []
    for node in sorted(ids):
        path, _, name = node.partition("::")
        function = re.sub(r"\[.*\]$", "", name)
        source = ROOT / path
        if not source.is_file() or not re.search(rf"^\s*(async\s+)?def {re.escape(function)}\(", source.read_text(encoding="utf-8"), re.M):
            stale.append(node)
    assert not stale, f"listed in {SLOW_TESTS.name} but not defined: {stale}"


def test_listed_tests_collected_in_this_run_are_marked_slow(request) -> None:  # type: ignore[no-untyped-def]
    """Under ``just test`` every listed test is collected and must carry the mark (``just test-fast`` deselects them)."""
    listed = slow_test_ids()
    collected = [item for item in request.session.items if item.nodeid in listed]
    assert all(item.get_closest_marker("slow") is not None for item in collected)
    assert request.node.get_closest_marker("slow") is None  # this test is not listed
