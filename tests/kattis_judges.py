"""The kattis pack's problems with their real judges attached (used by the tests and bench/bench_compiled.py).

``different`` is judged by its custom output validator (Kattis protocol: ``validate input answer feedback/ < output``,
exit 42/43) and ``guess`` interactively by its interactor (the same validator protocol over pipes), both compiled
from the upstream C++ sources in ``<pack>/validators/`` with their ``validate.h``. ``hello`` and ``oddecho`` keep the
default token comparison (problemtools' default validator is token-based too).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

JUDGES = {
    "kattis-different": ("checker", "different/output_validators/different_validator"),
    "kattis-guess": ("interactor", "guess/output_validator/guess_validator"),
}

#: folder label -> the verdicts consistent with it (a run_time_error submission may run out of memory first:
#: hello's memory_limit.cc allocates 512 MiB under hello's 512 MB limit)
EXPECTED = {
    "accepted": {"passed"},
    "wrong_answer": {"wa", "empty_output", "no_stdin"},
    "time_limit_exceeded": {"timeout"},
    "run_time_error": {"runtime_error", "logic_error", "memory"},
}


def problems_with_judges(pack: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (pack / "problems.jsonl").open(encoding="utf-8")]
    for row in rows:
        if row["problem_id"] not in JUDGES:
            continue
        role, folder = JUDGES[row["problem_id"]]
        source = pack / "validators" / folder
        row[role] = (source / "validate.cc").read_text(encoding="utf-8")
        row[f"{role}_language"] = "cpp"
        row[f"{role}_protocol"] = "kattis"
        row["judge_files"] = [{"name": "validate.h", "content": (source / "validate.h").read_text(encoding="utf-8")}]
    return rows


def write_problems(pack: Path, out: Path) -> Path:
    with out.open("w", encoding="utf-8") as fh:
        for row in problems_with_judges(pack):
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return out
