"""The published configs: ``sft`` and ``dpo`` built here, ``kto`` (:mod:`builder.dataset.kto`), ``candidates``
(:mod:`builder.dataset.candidates`) and ``problems`` (:mod:`builder.dataset.problems`); :func:`build_config` makes
each a ``datasets.Dataset``. ``sft_tokenized`` (:mod:`builder.dataset.tokenized`) is made from ``sft`` by
:func:`builder.dataset.dist.write_dist`, which records its tokenizer in ``build.json``.

Every row carries its problem's ``license`` (from its source) and join keys: ``problem_id`` and the candidate's id
(``candidate_id``; ``chosen_id`` / ``rejected_id`` in ``dpo``), so any config joins back to ``candidates`` and
``problems``. Statements have normalized line endings (:mod:`builder.dataset.prompts`).

Inputs are the judged candidates (``builder.core.schema.CANDIDATE_FEATURES``) and the problems
(``PROBLEM_FEATURES``). Every function here is deterministic: the same inputs and seed give the same rows in the
same order, so the parquet files written from them are byte-identical.

Measured columns (``max_cpu_s``, ``max_wall_s``, ``peak_memory_mb``) vary from run to run; they are left out of
every published config (rounding would not make them stable: a value near a rounding boundary still flips).
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from typing import Any

from datasets import Dataset, Features, Value

from builder.core import taxonomy as T
from builder.core.languages import PYTHON
from builder.core.languages import normalize as normalize_language
from builder.core.caching import code_hash, fingerprint
from builder.core.meta import BuildMeta
from builder.dataset.batching import batch_kwargs, flattened
from builder.dataset.pages import releasing
from builder.dataset.candidates import CANDIDATES_CONFIG_FEATURES, candidates_config
from builder.dataset.kto import KTO_FEATURES, kto_config
from builder.dataset.problems import MESSAGE, PROBLEMS_CONFIG_FEATURES, problems_config
from builder.dataset.prompts import ProblemPrompts, response_text

SFT_FEATURES = Features(
    {
        "id": Value("string"),
        "problem": Value("string"),
        "response": Value("string"),
        "solution": Value("string"),
        "test_pass_rate": Value("float64"),
        "tests_passed": Value("int32"),
        "tests_total": Value("int32"),
        "source": Value("string"),
        "difficulty": Value("string"),
        "language": Value("string"),
        "problem_id": Value("string"),
        "candidate_id": Value("string"),
        "license": Value("string"),
        "messages": [MESSAGE],
    }
)

DPO_FEATURES = Features(
    {
        "prompt": [MESSAGE],
        "chosen": [MESSAGE],
        "rejected": [MESSAGE],
        "problem_id": Value("string"),
        "rejection_type": Value("string"),
        "chosen_id": Value("string"),
        "rejected_id": Value("string"),
        "chosen_pass_rate": Value("float64"),
        "rejected_pass_rate": Value("float64"),
        "source": Value("string"),
        "difficulty": Value("string"),
        "language": Value("string"),
        "license": Value("string"),
    }
)


def sft_config(candidates: Dataset, problems: Dataset, meta: BuildMeta) -> Dataset:
    """Passing candidates in the seed dataset's fields, join keys and licence, plus TRL conversational ``messages``."""
    index = ProblemPrompts(problems, meta.prompt)
    passed = candidates.filter(
        lambda verdicts: [v == T.PASSED for v in verdicts], input_columns=["verdict"], batched=True,
        desc="Selecting SFT rows",
    )

    def build(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {name: [] for name in SFT_FEATURES}
        for i, problem_id in enumerate(batch["problem_id"]):
            language = normalize_language(batch["language"][i])
            response = response_text(batch["response"][i], batch["solution"][i], language)
            out["id"].append(f"{problem_id}_sft_{batch['candidate_index'][i]}")
            out["problem"].append(index.statement(problem_id))
            out["response"].append(response)
            out["problem_id"].append(problem_id)
            out["candidate_id"].append(batch["candidate_id"][i])
            out["license"].append(index.license(problem_id))
            out["language"].append(language)
            out["messages"].append([*index.messages(problem_id, language), {"role": "assistant", "content": response}])
            for name in ("solution", "test_pass_rate", "tests_passed", "tests_total", "source", "difficulty"):
                out[name].append(batch[name][i])
        return out

    return passed.map(
        releasing(build), batched=True, **batch_kwargs(passed, 500), features=SFT_FEATURES, remove_columns=passed.column_names,
        new_fingerprint=fingerprint("sft", passed, problems, meta.prompt, code_hash(__name__, "builder.dataset.prompts")), desc="Building SFT rows",
    )


def _rng(seed: int, problem_id: str, language: str = PYTHON) -> random.Random:
    key = problem_id if language == PYTHON else f"{problem_id}\x00{language}"
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def choose_pairs(
    passed: Sequence[int], failed: Sequence[tuple[int, str]], k: int, rng: random.Random
) -> list[tuple[int, int]]:
    """Up to ``k`` distinct (chosen, rejected) row pairs for one problem.

    Rejected candidates are taken round-robin over the rejection types (types and the candidates within each type
    in an order drawn from ``rng``), so the first pairs cover as many types as possible; chosen candidates rotate
    over a shuffled order, so no candidate is reused while another is unused.
    """
    if not passed or not failed or k <= 0:
        return []
    by_type: dict[str, list[int]] = {}
    for row, verdict in failed:
        by_type.setdefault(verdict, []).append(row)
    types = sorted(by_type, key=T.REJECTION_TYPES.index)
    rng.shuffle(types)
    queues = []
    for t in types:
        rows = list(by_type[t])
        rng.shuffle(rows)
        queues.append(rows)
    rejected: list[int] = []
    depth = 0
    while len(rejected) < len(failed):
        rejected.extend(q[depth] for q in queues if depth < len(q))
        depth += 1
    chosen = list(passed)
    rng.shuffle(chosen)
    # Pair i takes rejected[i mod F] and chosen[(i + i // lcm(F, P)) mod P]: both sides rotate, and over F * P
    # pairs every (chosen, rejected) combination comes exactly once (block b holds the pairs with c - r = b mod gcd).
    n_f, n_p = len(rejected), len(chosen)
    period = math.lcm(n_f, n_p)
    return [(chosen[(i + i // period) % n_p], rejected[i % n_f]) for i in range(min(k, n_f * n_p))]


def dpo_pair_rows(candidates: Dataset, seed: int, k: int) -> tuple[list[int], list[int]]:
    """Row indices (chosen, rejected) of every DPO pair, grouped by problem (and language: both answers of a pair
    answer the same prompt) in first-appearance order."""
    if len(candidates) == 0:
        return [], []
    table = candidates.with_format("arrow").select_columns(["problem_id", "verdict", "language"])[:]
    problem_ids = table["problem_id"].to_pylist()
    verdicts = table["verdict"].to_pylist()
    languages = [normalize_language(x) for x in table["language"].to_pylist()]
    groups: dict[tuple[str, str], tuple[list[int], list[tuple[int, str]]]] = {}
    for row, (problem_id, verdict, language) in enumerate(zip(problem_ids, verdicts, languages)):
        passed, failed = groups.setdefault((problem_id, language), ([], []))
        if verdict == T.PASSED:
            passed.append(row)
        elif T.is_model_failure(verdict):  # never sandbox_error
            failed.append((row, verdict))
    chosen_rows: list[int] = []
    rejected_rows: list[int] = []
    for (problem_id, language), (passed, failed) in groups.items():
        for chosen, rejected in choose_pairs(passed, failed, k, _rng(seed, problem_id, language)):
            chosen_rows.append(chosen)
            rejected_rows.append(rejected)
    return chosen_rows, rejected_rows


def dpo_config(candidates: Dataset, problems: Dataset, meta: BuildMeta) -> Dataset:
    """Preference pairs in TRL's explicit-prompt format (chosen passes every test, rejected is a model failure)."""
    seed = meta.seed
    k = meta.dataset.dpo_pairs_per_problem
    index = ProblemPrompts(problems, meta.prompt)
    chosen_rows, rejected_rows = dpo_pair_rows(candidates, seed, k)
    cols = ["candidate_id", "problem_id", "response", "solution", "verdict", "test_pass_rate", "source", "difficulty", "language"]
    slim = candidates.select_columns(cols)
    chosen = slim.select(chosen_rows)
    rejected = slim.select(rejected_rows).rename_columns({c: f"r_{c}" for c in cols})
    from datasets import concatenate_datasets

    paired = concatenate_datasets([flattened(chosen), flattened(rejected)], axis=1)

    def build(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {name: [] for name in DPO_FEATURES}
        for i, problem_id in enumerate(batch["problem_id"]):
            language = normalize_language(batch["language"][i])
            out["prompt"].append(index.messages(problem_id, language))
            out["chosen"].append([{"role": "assistant", "content": response_text(batch["response"][i], batch["solution"][i], language)}])
            out["rejected"].append(
                [{"role": "assistant", "content": response_text(batch["r_response"][i], batch["r_solution"][i], language)}]
            )
            out["problem_id"].append(problem_id)
            out["rejection_type"].append(batch["r_verdict"][i])
            out["chosen_id"].append(batch["candidate_id"][i])
            out["rejected_id"].append(batch["r_candidate_id"][i])
            out["chosen_pass_rate"].append(batch["test_pass_rate"][i])
            out["rejected_pass_rate"].append(batch["r_test_pass_rate"][i])
            out["source"].append(batch["source"][i])
            out["difficulty"].append(batch["difficulty"][i])
            out["language"].append(language)
            out["license"].append(index.license(problem_id))
        return out

    return paired.map(
        releasing(build), batched=True, **batch_kwargs(paired, 500), features=DPO_FEATURES, remove_columns=paired.column_names,
        new_fingerprint=fingerprint("dpo", paired, problems, meta.prompt, seed, k, code_hash(__name__, "builder.dataset.prompts")), desc="Building DPO pairs",
    )


#: the configs :func:`build_config` makes, in the order they are written (``sft_tokenized`` is made from ``sft``)
ASSEMBLED: tuple[str, ...] = ("sft", "dpo", "kto", "candidates", "problems")


def build_config(name: str, candidates: Dataset, problems: Dataset, meta: BuildMeta) -> Dataset:
    """One config of :data:`ASSEMBLED` (``candidates`` must already be normalized). One at a time: a config written
    and dropped before the next is made keeps only one table's pages in memory."""
    builders = {
        "sft": (lambda: sft_config(candidates, problems, meta), SFT_FEATURES),
        "dpo": (lambda: dpo_config(candidates, problems, meta), DPO_FEATURES),
        "kto": (lambda: kto_config(candidates, problems, meta), KTO_FEATURES),
        "candidates": (lambda: candidates_config(candidates, problems, meta.dataset.reward), CANDIDATES_CONFIG_FEATURES),
        "problems": (lambda: problems_config(candidates, problems, meta.prompt), PROBLEMS_CONFIG_FEATURES),
    }
    make, features = builders[name]
    ds = make()
    return ds if len(ds) else _empty(features)  # an empty map result loses its columns: give it its schema back


def _empty(features: Features) -> Dataset:
    return Dataset.from_dict({name: [] for name in features}, features=features)


__all__ = ["ASSEMBLED", "DPO_FEATURES", "SFT_FEATURES", "build_config", "choose_pairs", "dpo_config", "response_text", "sft_config"]
