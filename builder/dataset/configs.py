"""The published configs: ``sft``, ``dpo``, ``candidates`` and ``problems``, each a ``datasets.Dataset``.

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
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, Features, Value

from builder.core import taxonomy as T
from builder.core.caching import code_hash, fingerprint
from builder.core.meta import BuildMeta
from builder.core.prompt import build_messages
from builder.core.schema import CANDIDATE_FEATURES, PROBLEM_FEATURES

MESSAGE = {"role": Value("string"), "content": Value("string")}
MEASURED_COLUMNS = ("max_cpu_s", "max_wall_s", "peak_memory_mb")

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
    }
)

#: Published candidate columns: every candidate column except the run-to-run measurements.
CANDIDATES_CONFIG_FEATURES = Features({k: v for k, v in CANDIDATE_FEATURES.items() if k not in MEASURED_COLUMNS})

PROBLEM_STATS_FEATURES = {
    "num_tests": Value("int32"),
    "num_candidates": Value("int32"),
    "num_judged": Value("int32"),
    "num_passed": Value("int32"),
    "pass_rate": Value("float64"),
    "pass_at_1": Value("float64"),
    "pass_at_k": [Value("float64")],
    "empirical_difficulty": Value("string"),
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


# --- candidate normalization -----------------------------------------------------------------------


def _column(ds: Dataset, name: str) -> pa.ChunkedArray:
    return ds.with_format("arrow").select_columns([name])[:][name] if len(ds) else pa.chunked_array([], pa.string())


def _rank_within_group(groups: np.ndarray) -> np.ndarray:
    """0-based position of each row among the rows with the same group code, in row order."""
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.r_[0, np.flatnonzero(sorted_groups[1:] != sorted_groups[:-1]) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(groups)]))
    ranks = np.empty(len(groups), dtype=np.int64)
    ranks[order] = np.arange(len(groups)) - run_start
    return ranks


def normalize_candidates(candidates: Dataset) -> Dataset:
    """Candidates with exactly the columns of ``CANDIDATE_FEATURES`` and unique per-problem ``candidate_index``.

    A verified corpus may lack ``candidate_index`` (or give every candidate of a problem the same one). When
    (problem_id, candidate_index) is not unique, every candidate is renumbered by its order within its problem.
    """
    missing = [c for c in ("candidate_id", "problem_id", "verdict") if c not in candidates.column_names]
    if missing:
        from builder.core.errors import UserError

        raise UserError(f"candidates lack column(s) {', '.join(missing)}: run them through `builder verify` first")
    for name, feature in CANDIDATE_FEATURES.items():
        if name not in candidates.column_names:
            candidates = candidates.add_column(name, [None] * len(candidates), feature=feature)
    candidates = candidates.select_columns(list(CANDIDATE_FEATURES))
    if candidates.features != CANDIDATE_FEATURES:
        candidates = candidates.cast(CANDIDATE_FEATURES)
    if len(candidates) == 0:
        return candidates
    table = candidates.with_format("arrow").select_columns(["problem_id", "candidate_index"])[:]
    codes = np.asarray(pc.dictionary_encode(table["problem_id"]).combine_chunks().indices, dtype=np.int64)
    index = table["candidate_index"]
    keys = pa.table({"p": codes, "i": index}).group_by(["p", "i"]).aggregate([("p", "count")])
    if index.null_count == 0 and keys.num_rows == len(candidates):
        return candidates
    ranks = _rank_within_group(codes).astype(np.int32)
    return candidates.remove_columns("candidate_index").add_column(
        "candidate_index", ranks.tolist(), feature=Value("int32")
    ).select_columns(list(CANDIDATE_FEATURES))


def _local_tokenizer_path(meta: BuildMeta) -> Path | None:
    for value in (meta.tokenizer, meta.model):
        if value:
            path = Path(value)
            if path.is_dir() and any((path / f).exists() for f in ("tokenizer.json", "tokenizer_config.json")):
                return path
    return None


def fill_token_counts(candidates: Dataset, meta: BuildMeta) -> tuple[Dataset, str]:
    """Fill null ``num_tokens`` by tokenizing the response with the generation model's local tokenizer.

    Returns the candidates and where the counts come from: ``"generation"`` (all present), ``"tokenizer"`` (some
    filled with the local tokenizer named by ``meta.tokenizer`` or ``meta.model``) or ``"unavailable"`` (null
    counts and no local tokenizer: they stay null, nothing is invented).
    """
    if len(candidates) == 0 or _column(candidates, "num_tokens").null_count == 0:
        return candidates, "generation"
    path = _local_tokenizer_path(meta)
    if path is None:
        return candidates, "unavailable"
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)

    def count(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        texts = [r if r is not None else (s or "") for r, s in zip(batch["response"], batch["solution"])]
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
        return {"num_tokens": [n if n is not None else len(t) for n, t in zip(batch["num_tokens"], ids)]}

    digest = fingerprint("tokens", candidates, str(path.resolve()), length=16)
    filled = candidates.map(
        count, batched=True, batch_size=256, features=candidates.features, new_fingerprint=f"tokens-{digest}",
        desc="Counting tokens",
    )
    return filled, "tokenizer"


# --- configs ---------------------------------------------------------------------------------------


class _ProblemIndex:
    """Problem rows by id (only the columns prompts need), for building messages."""

    def __init__(self, problems: Dataset) -> None:
        cols = [c for c in ("problem_id", "problem", "title", "starter_code") if c in problems.column_names]
        table = problems.with_format("arrow").select_columns(cols)[:] if len(problems) else None
        self.rows: dict[str, dict[str, Any]] = {}
        if table is not None:
            for row in table.to_pylist():
                self.rows[row["problem_id"]] = row

    def get(self, problem_id: str) -> dict[str, Any]:
        return self.rows.get(problem_id, {"problem_id": problem_id, "problem": ""})


def response_text(response: str | None, solution: str | None) -> str:
    """The assistant text of a candidate: its raw response; a bare solution becomes one fenced Python block."""
    if response is not None:
        return response
    return f"```python\n{(solution or '').rstrip()}\n```"


def sft_config(candidates: Dataset, problems: Dataset, meta: BuildMeta) -> Dataset:
    """Passing candidates in the seed dataset's fields plus TRL conversational ``messages``."""
    system, user = meta.prompt.system, meta.prompt.user
    index = _ProblemIndex(problems)
    passed = candidates.filter(
        lambda verdicts: [v == T.PASSED for v in verdicts], input_columns=["verdict"], batched=True,
        desc="Selecting SFT rows",
    )

    def build(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {name: [] for name in SFT_FEATURES}
        for i, problem_id in enumerate(batch["problem_id"]):
            problem = index.get(problem_id)
            response = response_text(batch["response"][i], batch["solution"][i])
            out["id"].append(f"{problem_id}_sft_{batch['candidate_index'][i]}")
            out["problem"].append(problem.get("problem") or "")
            out["response"].append(response)
            out["messages"].append(
                [*build_messages(problem, system, user), {"role": "assistant", "content": response}]
            )
            for name in ("solution", "test_pass_rate", "tests_passed", "tests_total", "source", "difficulty"):
                out[name].append(batch[name][i])
        return out

    return passed.map(
        build, batched=True, batch_size=500, features=SFT_FEATURES, remove_columns=passed.column_names,
        new_fingerprint=fingerprint("sft", passed, problems, system, user, code_hash(__name__)), desc="Building SFT rows",
    )


def _rng(seed: int, problem_id: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}:{problem_id}".encode()).digest()
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
    """Row indices (chosen, rejected) of every DPO pair, grouped by problem in first-appearance order."""
    if len(candidates) == 0:
        return [], []
    table = candidates.with_format("arrow").select_columns(["problem_id", "verdict"])[:]
    problem_ids = table["problem_id"].to_pylist()
    verdicts = table["verdict"].to_pylist()
    groups: dict[str, tuple[list[int], list[tuple[int, str]]]] = {}
    for row, (problem_id, verdict) in enumerate(zip(problem_ids, verdicts)):
        passed, failed = groups.setdefault(problem_id, ([], []))
        if verdict == T.PASSED:
            passed.append(row)
        elif T.is_model_failure(verdict):  # never sandbox_error
            failed.append((row, verdict))
    chosen_rows: list[int] = []
    rejected_rows: list[int] = []
    for problem_id, (passed, failed) in groups.items():
        for chosen, rejected in choose_pairs(passed, failed, k, _rng(seed, problem_id)):
            chosen_rows.append(chosen)
            rejected_rows.append(rejected)
    return chosen_rows, rejected_rows


def dpo_config(candidates: Dataset, problems: Dataset, meta: BuildMeta) -> Dataset:
    """Preference pairs in TRL's explicit-prompt format (chosen passes every test, rejected is a model failure)."""
    seed = meta.seed
    k = meta.dataset.dpo_pairs_per_problem
    system, user = meta.prompt.system, meta.prompt.user
    index = _ProblemIndex(problems)
    chosen_rows, rejected_rows = dpo_pair_rows(candidates, seed, k)
    cols = ["candidate_id", "problem_id", "response", "solution", "verdict", "test_pass_rate", "source", "difficulty"]
    slim = candidates.select_columns(cols)
    chosen = slim.select(chosen_rows)
    rejected = slim.select(rejected_rows).rename_columns({c: f"r_{c}" for c in cols})
    from datasets import concatenate_datasets

    paired = concatenate_datasets([chosen.flatten_indices(), rejected.flatten_indices()], axis=1)

    def build(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {name: [] for name in DPO_FEATURES}
        for i, problem_id in enumerate(batch["problem_id"]):
            out["prompt"].append(build_messages(index.get(problem_id), system, user))
            out["chosen"].append([{"role": "assistant", "content": response_text(batch["response"][i], batch["solution"][i])}])
            out["rejected"].append(
                [{"role": "assistant", "content": response_text(batch["r_response"][i], batch["r_solution"][i])}]
            )
            out["problem_id"].append(problem_id)
            out["rejection_type"].append(batch["r_verdict"][i])
            out["chosen_id"].append(batch["candidate_id"][i])
            out["rejected_id"].append(batch["r_candidate_id"][i])
            out["chosen_pass_rate"].append(batch["test_pass_rate"][i])
            out["rejected_pass_rate"].append(batch["r_test_pass_rate"][i])
            out["source"].append(batch["source"][i])
            out["difficulty"].append(batch["difficulty"][i])
        return out

    return paired.map(
        build, batched=True, batch_size=500, features=DPO_FEATURES, remove_columns=paired.column_names,
        new_fingerprint=fingerprint("dpo", paired, problems, system, user, seed, k, code_hash(__name__)), desc="Building DPO pairs",
    )


#: Verdicts whose program was killed mid-run: what it had printed depends on when the kill landed.
KILLED_VERDICTS = (T.TIMEOUT, T.MEMORY)
_TEXT_COLUMNS = ("failed_actual_head", "failed_stderr_tail")


def machine_path_prefixes() -> list[tuple[str, str]]:
    """(absolute prefix, placeholder) pairs, longest first, that tracebacks of this machine contain."""
    import sys
    import sysconfig

    import builder

    repo = str(Path(builder.__file__).resolve().parents[1])
    pairs = {
        sysconfig.get_paths()["purelib"]: "<site-packages>",
        sysconfig.get_paths()["platlib"]: "<site-packages>",
        sysconfig.get_paths()["stdlib"]: "<stdlib>",
        sysconfig.get_paths()["platstdlib"]: "<stdlib>",
        sys.base_prefix: "<python>",
        sys.prefix: "<python>",
        repo: "<builder>",
    }
    return sorted(((k.rstrip("/"), v) for k, v in pairs.items() if k and k != "/"), key=lambda kv: -len(kv[0]))


def _published_text(table: pa.Table, prefixes: list[tuple[str, str]]) -> pa.Table:
    killed = pc.is_in(table["verdict"], pa.array(KILLED_VERDICTS))
    for name in _TEXT_COLUMNS:
        column = table[name]
        for prefix, placeholder in prefixes:
            column = pc.replace_substring(column, prefix, placeholder)
        column = pc.if_else(killed, pa.scalar(None, pa.string()), column)
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return table


def candidates_config(candidates: Dataset) -> Dataset:
    """Every candidate with its verdict and per-test summary, in a form that is the same on every rebuild.

    Dropped: the run-to-run measurements (``max_cpu_s``, ``max_wall_s``, ``peak_memory_mb``). Nulled: the output
    head and stderr tail of ``timeout`` and ``memory`` candidates (a killed program's partial output depends on
    when it was killed). Machine paths in tracebacks become placeholders (``<stdlib>/threading.py``,
    ``<builder>/builder/sandbox/runner.py``), so the data neither varies with nor reveals the build machine.
    """
    slim = candidates.select_columns(list(CANDIDATES_CONFIG_FEATURES))
    prefixes = machine_path_prefixes()
    return slim.with_format("arrow").map(
        _published_text, fn_kwargs={"prefixes": prefixes}, batched=True, batch_size=10_000,
        features=CANDIDATES_CONFIG_FEATURES, new_fingerprint=fingerprint("candidates", slim, prefixes, code_hash(__name__)),
        desc="Publishing candidates",
    ).with_format(None)


def problems_config(candidates: Dataset, problems: Dataset) -> Dataset:
    """One row per problem: its tests, candidate/judged/pass counts, pass rate, unbiased pass@k, a difficulty label.

    ``pass_at_k[i]`` is pass@(i+1) over the problem's judged candidates (``sandbox_error`` ones are not judged),
    for k = 1 .. num_judged.
    """
    counts: dict[str, list[int]] = {}
    if len(candidates):
        table = candidates.with_format("arrow").select_columns(["problem_id", "verdict"])[:]
        judged = pc.and_(pc.is_valid(table["verdict"]), pc.not_equal(table["verdict"], T.SANDBOX_ERROR))
        passed = pc.equal(table["verdict"], T.PASSED)
        grouped = (
            pa.table({"p": table["problem_id"], "j": pc.cast(judged, pa.int64()), "c": pc.cast(passed, pa.int64())})
            .group_by("p")
            .aggregate([("p", "count"), ("j", "sum"), ("c", "sum")])
        )
        for p, n, j, c in zip(*(grouped[name].to_pylist() for name in ("p", "p_count", "j_sum", "c_sum"))):
            counts[p] = [n, j, c]

    def build(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {name: [] for name in PROBLEM_STATS_FEATURES}
        for problem_id, tests in zip(batch["problem_id"], batch["tests"]):
            n, j, c = counts.get(problem_id, (0, 0, 0))
            out["num_tests"].append(len(tests))
            out["num_candidates"].append(n)
            out["num_judged"].append(j)
            out["num_passed"].append(c)
            out["pass_rate"].append(c / j if j else None)
            out["pass_at_1"].append(pass_at_k(j, c, 1) if j else None)
            out["pass_at_k"].append([pass_at_k(j, c, k) for k in range(1, j + 1)])
            out["empirical_difficulty"].append(empirical_difficulty(j, c))
        return out

    problems = problems.select_columns(list(PROBLEM_FEATURES))
    return problems.map(
        build, batched=True, batch_size=1000, features=PROBLEMS_CONFIG_FEATURES,
        new_fingerprint=fingerprint("problems", problems, candidates, code_hash(__name__)),
        desc="Building problem rows",
    )


def assemble(candidates: Dataset, problems: Dataset, meta: BuildMeta) -> dict[str, Dataset]:
    """All four configs, keyed by config name (``candidates`` must already be normalized)."""
    configs = {
        "sft": (sft_config(candidates, problems, meta), SFT_FEATURES),
        "dpo": (dpo_config(candidates, problems, meta), DPO_FEATURES),
        "candidates": (candidates_config(candidates), CANDIDATES_CONFIG_FEATURES),
        "problems": (problems_config(candidates, problems), PROBLEMS_CONFIG_FEATURES),
    }
    # an empty map result loses its columns: give empty configs their schema back
    return {name: ds if len(ds) else _empty(features) for name, (ds, features) in configs.items()}


def _empty(features: Features) -> Dataset:
    return Dataset.from_dict({name: [] for name in features}, features=features)


def describe_difficulty_labels() -> list[dict[str, str]]:
    return [{"label": label, "meaning": meaning} for label, meaning in EMPIRICAL_DIFFICULTY]


__all__ = [
    "CANDIDATES_CONFIG_FEATURES",
    "DPO_FEATURES",
    "PROBLEMS_CONFIG_FEATURES",
    "SFT_FEATURES",
    "assemble",
    "choose_pairs",
    "empirical_difficulty",
    "fill_token_counts",
    "normalize_candidates",
    "pass_at_k",
]
