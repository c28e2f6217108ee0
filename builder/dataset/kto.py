"""The ``kto`` config: TRL's unpaired preference format, one row per judged candidate.

``prompt`` (the build's messages for the problem), ``completion`` (one assistant message: the response) and
``label`` (True: it passed every test, the desirable kind; False: a model failure), plus join keys, the verdict, the
reward and the licence. A ``sandbox_error`` is never a row: it says nothing about the response.

TRL's KTO works best with about as many desirable as undesirable rows (its paper and docs recommend a ratio near
1:1, or the loss weights to make up for it). ``[dataset] kto_balance`` says how the rows are kept:

- ``global`` (default): every row of the smaller side, and as many of the larger side, in an order drawn from the
  seed (a hash of seed and candidate id, so the choice does not depend on the row order);
- ``problem``: per problem, as many desirable as undesirable rows, drawn the same way: only problems with both;
- ``none``: every judged candidate.

Kept rows stay in candidate order, so the config is deterministic.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

import pyarrow as pa
from datasets import Dataset, Features, Value

from builder.core import taxonomy as T
from builder.core.caching import code_hash, fingerprint
from builder.core.meta import BuildMeta
from builder.dataset.batching import batch_kwargs, flattened
from builder.dataset.pages import releasing
from builder.dataset.candidates import rewards
from builder.dataset.problems import MESSAGE
from builder.dataset.prompts import ProblemPrompts, response_text

KTO_FEATURES = Features(
    {
        "prompt": [MESSAGE],
        "completion": [MESSAGE],
        "label": Value("bool"),
        "problem_id": Value("string"),
        "candidate_id": Value("string"),
        "verdict": Value("string"),
        "reward": Value("float64"),
        "source": Value("string"),
        "difficulty": Value("string"),
        "language": Value("string"),
        "license": Value("string"),
    }
)


def _order_key(seed: int, candidate_id: str) -> bytes:
    return hashlib.sha256(f"{seed}:kto:{candidate_id}".encode("utf-8", "surrogatepass")).digest()


def _balanced(desirable: list[tuple[bytes, int]], undesirable: list[tuple[bytes, int]]) -> list[int]:
    """All rows of the smaller side and the same number of the larger side, first in seeded order."""
    keep = min(len(desirable), len(undesirable))
    return [row for _, row in sorted(desirable)[:keep]] + [row for _, row in sorted(undesirable)[:keep]]


def kto_rows(candidates: Dataset, seed: int, balance: str) -> list[int]:
    """Row indices of ``candidates`` that become ``kto`` rows, in candidate order."""
    if len(candidates) == 0:
        return []
    table = candidates.with_format("arrow").select_columns(["problem_id", "candidate_id", "verdict"])[:]
    sides: dict[str, tuple[list[tuple[bytes, int]], list[tuple[bytes, int]]]] = defaultdict(lambda: ([], []))
    everything: tuple[list[tuple[bytes, int]], list[tuple[bytes, int]]] = ([], [])
    for row, (problem_id, candidate_id, verdict) in enumerate(
        zip(*(table[c].to_pylist() for c in ("problem_id", "candidate_id", "verdict")))
    ):
        if verdict == T.PASSED:
            side = 0
        elif verdict is not None and T.is_model_failure(verdict):  # never sandbox_error
            side = 1
        else:
            continue
        item = (_order_key(seed, candidate_id or str(row)), row)
        sides[problem_id][side].append(item)
        everything[side].append(item)
    if balance == "none":
        kept = [row for _, row in everything[0] + everything[1]]
    elif balance == "global":
        kept = _balanced(*everything)
    elif balance == "problem":
        kept = [row for desirable, undesirable in sides.values() for row in _balanced(desirable, undesirable)]
    else:
        raise ValueError(f"unknown kto_balance {balance!r}")
    return sorted(kept)


def kto_config(candidates: Dataset, problems: Dataset, meta: BuildMeta) -> Dataset:
    """Judged candidates in TRL's unpaired preference format, balanced as ``meta.dataset.kto_balance`` says."""
    settings = meta.dataset
    index = ProblemPrompts(problems, meta.prompt)
    rows = kto_rows(candidates, meta.seed, settings.kto_balance)
    cols = ["candidate_id", "problem_id", "response", "solution", "verdict", "test_pass_rate", "source", "difficulty", "language"]
    picked = flattened(candidates.select_columns(cols).select(rows))

    def build(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {name: [] for name in KTO_FEATURES}
        reward = rewards(pa.array(batch["verdict"], pa.string()), pa.array(batch["test_pass_rate"], pa.float64()), settings.reward)
        for i, problem_id in enumerate(batch["problem_id"]):
            language = batch["language"][i] or "python"
            out["prompt"].append(index.messages(problem_id, language))
            out["completion"].append([{"role": "assistant", "content": response_text(batch["response"][i], batch["solution"][i], language)}])
            out["language"].append(language)
            out["label"].append(batch["verdict"][i] == T.PASSED)
            out["license"].append(index.license(problem_id))
            for name in ("problem_id", "candidate_id", "verdict", "source", "difficulty"):
                out[name].append(batch[name][i])
        out["reward"] = reward.to_pylist()
        return out

    return picked.map(
        releasing(build), batched=True, **batch_kwargs(picked, 500), features=KTO_FEATURES, remove_columns=picked.column_names,
        new_fingerprint=fingerprint(
            "kto", picked, problems, meta.prompt, meta.seed, settings.kto_balance, settings.reward,
            code_hash(__name__, "builder.dataset.prompts", "builder.dataset.candidates"),
        ),
        desc="Building KTO rows",
    )
