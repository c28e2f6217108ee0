"""The ``problems`` config: one row per problem with its tests, candidate and pass counts, pass rate, the unbiased
pass@k for k up to n, an empirical difficulty label from the pass rate, and the build's own ``prompt`` for it as
conversational messages: ready for RL (GRPO-style trainers take ``prompt`` as is; :mod:`builder.reward` judges their
completions against ``tests``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, Features, Value

from builder.core import taxonomy as T
from builder.core.languages import LANGUAGES, PYTHON
from builder.core.caching import code_hash, fingerprint
from builder.core.schema import PROBLEM_FEATURES
from builder.core.settings import PromptSettings
from builder.dataset.prompts import STATEMENT_COLUMNS, ProblemPrompts, normalize_line_endings

MESSAGE = {"role": Value("string"), "content": Value("string")}

PROBLEM_STATS_FEATURES = {
    # the language of the row's candidates and prompt (one row per problem and language the build asked for)
    "language": Value("string"),
    "num_tests": Value("int32"),
    "num_candidates": Value("int32"),
    "num_judged": Value("int32"),
    "num_passed": Value("int32"),
    "pass_rate": Value("float64"),
    "pass_at_1": Value("float64"),
    "pass_at_k": [Value("float64")],
    "empirical_difficulty": Value("string"),
    "prompt": [MESSAGE],
}


PROBLEMS_CONFIG_FEATURES = Features({**PROBLEM_FEATURES, **PROBLEM_STATS_FEATURES})


#: Difficulty labels derived from a problem's pass rate over its judged candidates (upper bounds, exclusive).
EMPIRICAL_DIFFICULTY: tuple[tuple[str, str], ...] = (
    ("unjudged", "no judged candidate (none generated, or every one hit a sandbox error)"),
    ("unsolved", "pass rate 0: no candidate passed"),
    ("hard", "0 < pass rate < 1/3"),
    ("medium", "1/3 <= pass rate < 2/3"),
    ("easy", "2/3 <= pass rate < 1"),
    ("solved_all", "pass rate 1: every judged candidate passed"),
)


def empirical_difficulty(num_judged: int, num_passed: int) -> str:
    """The label of :data:`EMPIRICAL_DIFFICULTY` for a problem with ``num_passed`` of ``num_judged`` passing."""
    if num_judged <= 0:
        return "unjudged"
    if num_passed == 0:
        return "unsolved"
    if num_passed == num_judged:
        return "solved_all"
    if 3 * num_passed < num_judged:
        return "hard"
    if 3 * num_passed < 2 * num_judged:
        return "medium"
    return "easy"


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al., 2021): 1 - C(n-c, k) / C(n, k), in the numerically stable product form."""
    if k > n or k < 1:
        raise ValueError(f"pass@k needs 1 <= k <= n (n={n}, k={k})")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def candidate_languages(candidates: Dataset) -> list[str]:
    """The languages of ``candidates`` in the order of :data:`builder.core.languages.LANGUAGES` (Python when none)."""
    if not len(candidates) or "language" not in candidates.column_names:
        return [PYTHON]
    present = {lang or PYTHON for lang in candidates.unique("language")}
    return [lang for lang in LANGUAGES if lang in present] or [PYTHON]


def problems_config(
    candidates: Dataset, problems: Dataset, prompt: PromptSettings | None = None, languages: list[str] | None = None
) -> Dataset:
    """One row per problem: its tests, candidate/judged/pass counts, pass rate, unbiased pass@k, a difficulty label,
    and ``prompt``: the messages of ``prompt`` (the build's; default: the builder's default prompt) for it.

    ``pass_at_k[i]`` is pass@(i+1) over the problem's judged candidates (``sandbox_error`` ones are not judged),
    for k = 1 .. num_judged. Statement columns have normalized line endings; the tests are as given.

    A build in several languages (``languages``: default, the candidates' languages, Python when there are none) has
    one row per problem and language, in problem order then language order: each row counts that language's
    candidates and carries that language's prompt.
    """
    prompt = prompt or PromptSettings()
    prompts = ProblemPrompts(problems, prompt)
    counts: dict[tuple[str, str], list[int]] = {}
    if languages is None:
        languages = candidate_languages(candidates)
    if len(candidates):
        table = candidates.with_format("arrow").select_columns(["problem_id", "verdict", "language"])[:]
        judged = pc.and_(pc.is_valid(table["verdict"]), pc.not_equal(table["verdict"], T.SANDBOX_ERROR))
        passed = pc.equal(table["verdict"], T.PASSED)
        grouped = (
            pa.table({"p": table["problem_id"], "l": pc.fill_null(table["language"], PYTHON),
                      "j": pc.cast(judged, pa.int64()), "c": pc.cast(passed, pa.int64())})
            .group_by(["p", "l"])
            .aggregate([("p", "count"), ("j", "sum"), ("c", "sum")])
        )
        for p, lang, n, j, c in zip(*(grouped[name].to_pylist() for name in ("p", "l", "p_count", "j_sum", "c_sum"))):
            counts[(p, lang)] = [n, j, c]

    def build(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {name: [] for name in PROBLEM_STATS_FEATURES}
        for problem_id, tests, language in zip(batch["problem_id"], batch["tests"], batch["language"]):
            n, j, c = counts.get((problem_id, language), (0, 0, 0))
            out["language"].append(language)
            out["num_tests"].append(len(tests))
            out["num_candidates"].append(n)
            out["num_judged"].append(j)
            out["num_passed"].append(c)
            out["pass_rate"].append(c / j if j else None)
            out["pass_at_1"].append(pass_at_k(j, c, 1) if j else None)
            out["pass_at_k"].append([pass_at_k(j, c, k) for k in range(1, j + 1)])
            out["empirical_difficulty"].append(empirical_difficulty(j, c))
            out["prompt"].append(prompts.messages(problem_id, language))
        for name in STATEMENT_COLUMNS:
            out[name] = [normalize_line_endings(text) for text in batch[name]]
        return out

    problems = problems.select_columns(list(PROBLEM_FEATURES))
    if len(languages) > 1:
        problems = problems.select([i for i in range(len(problems)) for _ in languages])
    problems = problems.add_column("language", [languages[i % len(languages)] for i in range(len(problems))])
    return problems.map(
        build, batched=True, batch_size=1000, features=PROBLEMS_CONFIG_FEATURES, remove_columns=["language"],
        new_fingerprint=fingerprint("problems", problems, candidates, prompt, languages, code_hash(__name__, "builder.dataset.prompts")),
        desc="Building problem rows",
    )


def describe_difficulty_labels() -> list[dict[str, str]]:
    return [{"label": label, "meaning": meaning} for label, meaning in EMPIRICAL_DIFFICULTY]
