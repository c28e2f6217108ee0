"""Realistic synthetic judged candidates and problems, for tests and benchmarks of assembly, statistics and the card.

Nothing here is executed: the verdict columns are drawn from a seeded generator with plausible rates (pass rate
falling with difficulty, wrong answers the most common rejection, a rare sandbox error). The output has exactly
``CANDIDATE_FEATURES`` / ``PROBLEM_FEATURES``, so it can stand in for the judged candidates of the execution stage.
"""

from __future__ import annotations

import numpy as np
from datasets import Dataset

from builder.core import taxonomy as T
from builder.core.schema import CANDIDATE_FEATURES, PROBLEM_FEATURES

_WORDS = (
    "we need to count the number of pairs so sort the array first then use two pointers and keep a running sum "
    "modulo prime because the answer can be large note that each query asks for a prefix which suggests a "
    "fenwick tree or segment tree the graph is a tree so run a dfs from the root and compute subtree sizes"
).split()
_FAIL_WEIGHTS = {
    T.WA: 45,
    T.LOGIC_ERROR: 14,
    T.TIMEOUT: 12,
    T.NO_CODE: 9,
    T.RUNTIME_ERROR: 7,
    T.SYNTAX_ERROR: 4,
    T.EMPTY_OUTPUT: 4,
    T.NO_STDIN: 3,
    T.MEMORY: 2,
}
_LABEL_PASS = {"easy": 0.75, "medium": 0.45, "hard": 0.15, "unknown": 0.4}
_EXCEPTION = {T.LOGIC_ERROR: "IndexError", T.RUNTIME_ERROR: "RuntimeError", T.MEMORY: "MemoryError"}


def _difficulty(rng: np.random.Generator, source: str) -> str:
    if source == "codeforces":
        return str(int(rng.integers(8, 36)) * 100)
    if source == "local":
        return "unknown"
    return str(rng.choice(["easy", "medium", "hard"]))


def _pass_probability(difficulty: str) -> float:
    if difficulty.isdigit():
        return float(np.clip(0.9 - (int(difficulty) - 800) / 2700 * 0.85, 0.03, 0.95))
    return _LABEL_PASS.get(difficulty, 0.4)


def synthetic_problems(num_problems: int, seed: int = 0) -> Dataset:
    """``num_problems`` problems over four sources, with 1-8 small tests each."""
    rng = np.random.default_rng(seed)
    sources = rng.choice(["codeforces", "atcoder", "leetcode", "local"], size=num_problems, p=[0.5, 0.3, 0.12, 0.08])
    rows = []
    for i, source in enumerate(sources):
        n_tests = int(rng.integers(1, 9))
        rows.append(
            {
                "problem_id": f"p{i:05d}",
                "source": str(source),
                "difficulty": _difficulty(rng, str(source)),
                "title": f"Problem {i}",
                "problem": f"Given n integers, print their sum modulo {1000 + i}.\n\nInput\nn, then n integers.\n",
                "tests": [{"input": f"{t + 1}\n" + " ".join(["7"] * (t + 1)) + "\n", "output": f"{7 * (t + 1)}\n"} for t in range(n_tests)],
                "time_limit": 2.0,
                "memory_limit": 256,
                "float_tolerance": None,
                "checker": None,
                "case_insensitive": False,
                "test_type": "stdin",
                "fn_name": None,
                "starter_code": None,
                "license": "CC-BY-4.0" if source != "local" else "MIT",
                "origin": f"synthetic@{seed}#{i}",
            }
        )
    return Dataset.from_list([{**dict.fromkeys(PROBLEM_FEATURES), **row} for row in rows], features=PROBLEM_FEATURES)


def synthetic_candidates(problems: Dataset, num_candidates: int, seed: int = 0, model: str = "demo-model") -> Dataset:
    """``num_candidates`` judged candidates spread evenly over ``problems`` (first problems get one more)."""
    rng = np.random.default_rng(seed + 1)
    table = problems.select_columns(["problem_id", "difficulty", "source", "tests"]).to_dict()
    n_problems = len(problems)
    per_problem = np.full(n_problems, num_candidates // n_problems)
    per_problem[: num_candidates % n_problems] += 1
    fail_types = list(_FAIL_WEIGHTS)
    weights = np.array(list(_FAIL_WEIGHTS.values()), dtype=float)
    weights /= weights.sum()
    columns: dict[str, list] = {name: [] for name in CANDIDATE_FEATURES}
    for p in range(n_problems):
        problem_id, difficulty, source = table["problem_id"][p], table["difficulty"][p], table["source"][p]
        n_tests = len(table["tests"][p])
        skill = float(np.clip(_pass_probability(difficulty) + rng.normal(0, 0.15), 0.0, 1.0))
        for c in range(int(per_problem[p])):
            roll = rng.random()
            if roll < 0.002:
                verdict = T.SANDBOX_ERROR
            elif roll < 0.002 + skill * 0.998:
                verdict = T.PASSED
            else:
                verdict = str(fail_types[rng.choice(len(fail_types), p=weights)])
            words = int(rng.lognormal(5.3, 0.6))
            reasoning = " ".join(_WORDS[j] for j in rng.integers(0, len(_WORDS), size=words))
            code = "import sys\nn, *a = map(int, sys.stdin.read().split())\nprint(sum(a))\n"
            if verdict == T.NO_CODE:
                response, solution, extraction = reasoning, None, T.NO_CODE
            else:
                response = f"{reasoning}\n\n```python\n{code}```\n"
                solution, extraction = code, "extracted"
            if verdict == T.PASSED:
                passed, first = n_tests, -1
                verdicts = [T.PASSED] * n_tests
            elif verdict in (T.NO_CODE,):
                passed, first, verdicts = 0, -1, []
            else:
                passed = int(rng.integers(0, n_tests)) if verdict != T.SYNTAX_ERROR else 0
                first = passed
                tail = ["skipped"] * (n_tests - passed - 1) if verdict in (T.TIMEOUT, T.MEMORY, T.SYNTAX_ERROR) else [T.PASSED] * (n_tests - passed - 1)
                verdicts = [T.PASSED] * passed + [verdict] + tail
                passed = verdicts.count(T.PASSED)
            columns["candidate_id"].append(f"{problem_id}_{c}")
            columns["problem_id"].append(problem_id)
            columns["candidate_index"].append(c)
            columns["language"].append("python")
            columns["model"].append(model)
            columns["response"].append(response)
            columns["finish_reason"].append("length" if verdict == T.NO_CODE and rng.random() < 0.5 else "stop")
            columns["num_tokens"].append(max(1, int(len(response) / 3.7)))
            columns["reasoning"].append(reasoning)
            columns["solution"].append(solution)
            columns["extraction"].append(extraction)
            columns["verdict"].append(verdict)
            columns["tests_passed"].append(passed)
            columns["tests_total"].append(n_tests)
            columns["test_pass_rate"].append(passed / n_tests)
            columns["test_verdicts"].append(verdicts)
            columns["first_failed_test"].append(first)
            failing = first >= 0
            columns["failed_expected_head"].append(table["tests"][p][first]["output"] if failing else None)
            columns["failed_actual_head"].append(("0\n" if verdict == T.WA else "") if failing else None)
            columns["failed_stderr_tail"].append(f"{_EXCEPTION[verdict]}: boom" if verdict in _EXCEPTION else ("" if failing else None))
            columns["exception"].append(_EXCEPTION.get(verdict))
            columns["max_cpu_s"].append(float(rng.random()))
            columns["max_wall_s"].append(float(rng.random()) + 0.01)
            columns["peak_memory_mb"].append(float(rng.integers(9, 200)))
            columns["source"].append(source)
            columns["difficulty"].append(difficulty)
    return Dataset.from_dict(columns, features=CANDIDATE_FEATURES)
