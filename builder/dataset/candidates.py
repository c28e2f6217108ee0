"""The ``candidates`` config, and the candidates every config is built from: normalized (one ``candidate_index`` per
problem, in order), token counts filled where the engine gave none, and the measured columns left out; each
candidate gains its ``reward`` (:func:`rewards`, the one definition :mod:`builder.reward` uses too) and its problem's
``license``.

Measured columns (``max_cpu_s``, ``max_wall_s``, ``peak_memory_mb``) vary from run to run; they are left out of
every published config (rounding would not make them stable: a value near a rounding boundary still flips). Killed
programs' partial output is nulled, and paths of the machine in tracebacks become placeholders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, Features, Value

from builder.core import taxonomy as T
from builder.core.caching import code_hash, fingerprint
from builder.core.meta import BuildMeta
from builder.core.schema import CANDIDATE_FEATURES
from builder.dataset.batching import batch_kwargs
from builder.dataset.pages import releasing

MEASURED_COLUMNS = ("max_cpu_s", "max_wall_s", "peak_memory_mb")


#: Published candidate columns: every candidate column except the run-to-run measurements, then the reward and the
#: problem's licence.
CANDIDATES_CONFIG_FEATURES = Features(
    {
        **{k: v for k, v in CANDIDATE_FEATURES.items() if k not in MEASURED_COLUMNS},
        "reward": Value("float64"),
        "license": Value("string"),
    }
)


def rewards(verdicts: pa.Array | pa.ChunkedArray, pass_rates: pa.Array | pa.ChunkedArray, kind: str) -> pa.Array:
    """The reward of each candidate, as ``[dataset] reward`` defines it (``builder.core.settings.REWARDS``):

    - ``pass_rate``: the share of its problem's tests it passed (``tests_passed / tests_total``; tests skipped after
      a timeout count as failed);
    - ``binary``: 1.0 when it passed every test, else 0.0.

    A ``sandbox_error`` (or a candidate never judged) has no reward: null, never a model failure.
    """
    verdicts = pc.fill_null(pa.chunked_array([verdicts]) if isinstance(verdicts, pa.Array) else verdicts, T.SANDBOX_ERROR)
    if kind == "pass_rate":
        values = pc.cast(pass_rates, pa.float64())
    elif kind == "binary":
        values = pc.cast(pc.equal(verdicts, T.PASSED), pa.float64())
    else:
        raise ValueError(f"unknown reward {kind!r}")
    unjudged = pc.equal(verdicts, T.SANDBOX_ERROR)
    out = pc.if_else(unjudged, pa.scalar(None, pa.float64()), values)
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


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
    if _column(candidates, "language").null_count:  # a corpus from before languages: Python
        candidates = candidates.map(lambda lang: {"language": lang or "python"}, input_columns=["language"], desc="Filling languages")
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
        releasing(count), batched=True, **batch_kwargs(candidates, 256), features=candidates.features, new_fingerprint=f"tokens-{digest}",
        desc="Counting tokens",
    )
    return filled, "tokenizer"


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


def _published(
    table: pa.Table, prefixes: list[tuple[str, str]], problem_ids: pa.Array, licenses: pa.Array, reward: str
) -> pa.Table:
    killed = pc.is_in(table["verdict"], pa.array(KILLED_VERDICTS))
    for name in _TEXT_COLUMNS:
        column = table[name]
        for prefix, placeholder in prefixes:
            column = pc.replace_substring(column, prefix, placeholder)
        column = pc.if_else(killed, pa.scalar(None, pa.string()), column)
        table = table.set_column(table.schema.get_field_index(name), name, column)
    table = table.append_column("reward", rewards(table["verdict"], table["test_pass_rate"], reward))
    return table.append_column("license", pc.take(licenses, pc.index_in(table["problem_id"], value_set=problem_ids)))


def candidates_config(candidates: Dataset, problems: Dataset | None = None, reward: str = "pass_rate") -> Dataset:
    """Every candidate with its verdict and per-test summary, its ``reward`` and its problem's ``license``, in a form
    that is the same on every rebuild.

    Dropped: the run-to-run measurements (``max_cpu_s``, ``max_wall_s``, ``peak_memory_mb``). Nulled: the output
    head and stderr tail of ``timeout`` and ``memory`` candidates (a killed program's partial output depends on
    when it was killed). Machine paths in tracebacks become placeholders (``<stdlib>/threading.py``,
    ``<builder>/builder/sandbox/runner.py``), so the data neither varies with nor reveals the build machine.
    """
    slim = candidates.select_columns([c for c in CANDIDATES_CONFIG_FEATURES if c not in ("reward", "license")])
    prefixes = machine_path_prefixes()
    if problems is not None and len(problems):
        ids_and_licenses = problems.with_format("arrow").select_columns(["problem_id", "license"])[:]
        problem_ids, licenses = ids_and_licenses["problem_id"].combine_chunks(), ids_and_licenses["license"].combine_chunks()
    else:
        problem_ids, licenses = pa.array([], pa.string()), pa.array([], pa.string())
    return slim.with_format("arrow").map(
        releasing(_published), fn_kwargs={"prefixes": prefixes, "problem_ids": problem_ids, "licenses": licenses, "reward": reward},
        batched=True, **batch_kwargs(slim, 10_000), features=CANDIDATES_CONFIG_FEATURES,
        new_fingerprint=fingerprint("candidates", slim, problems, prefixes, reward, code_hash(__name__)),
        desc="Publishing candidates",
    ).with_format(None)
