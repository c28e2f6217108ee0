"""Every number the dataset card and the charts show, computed from the built parquet files alone.

Only the small columns are read (never responses or tests), and all grouping is done with pyarrow.compute and
numpy on whole columns, so 100,000 candidates take well under a second and a few tens of MB.

``compute_stats(dist_dir)`` returns a JSON-serializable dict; :mod:`charts` and :mod:`dataset_card` take it as is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from builder.core import taxonomy as T

#: Every config a build may write, in the card's order; the required ones are in every build, the others in builds
#: that made them (``sft_tokenized`` needs a tokenizer; builds from before ``kto`` existed lack it).
CONFIGS: tuple[str, ...] = ("sft", "sft_tokenized", "dpo", "kto", "candidates", "problems")
REQUIRED_CONFIGS: tuple[str, ...] = ("sft", "dpo", "candidates", "problems")
SHARD_GLOB = "train-*.parquet"
#: Known difficulty labels, in their natural order (after numeric rating buckets); others sort by name.
LABEL_ORDER: tuple[str, ...] = ("introductory", "easy", "interview", "medium", "competition", "hard", "very_hard")
UNKNOWN = "unknown"
BUCKET_WIDTH = 400
TOKEN_BINS = 30
_RATING = re.compile(r"^\d{3,4}$")


# --- reading ---------------------------------------------------------------------------------------


def shard_files(dist_dir: Path, config: str) -> list[Path]:
    """The parquet shards of one config, in name order."""
    return sorted((Path(dist_dir) / config).glob(SHARD_GLOB))


def present_configs(dist_dir: Path) -> tuple[str, ...]:
    """The configs of a built folder that have parquet files, in :data:`CONFIGS` order."""
    return tuple(c for c in CONFIGS if shard_files(dist_dir, c))


def read_columns(dist_dir: Path, config: str, columns: Sequence[str]) -> pa.Table:
    """Only ``columns`` of every shard of ``config``, concatenated."""
    files = shard_files(dist_dir, config)
    if not files:
        raise FileNotFoundError(f"{Path(dist_dir) / config}: no {SHARD_GLOB} files")
    return pa.concat_tables([pq.read_table(f, columns=list(columns)) for f in files])


def config_sizes(dist_dir: Path, config: str) -> dict[str, int]:
    """Rows, parquet bytes and uncompressed bytes of one config, from the parquet footers alone."""
    rows = download = dataset = 0
    for f in shard_files(dist_dir, config):
        meta = pq.ParquetFile(f).metadata
        rows += meta.num_rows
        download += f.stat().st_size
        dataset += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    return {"rows": rows, "download_size": download, "dataset_size": dataset}


# --- difficulty buckets ----------------------------------------------------------------------------


def difficulty_bucket(difficulty: str | None) -> str:
    """Codeforces-style ratings in buckets of 400 (``"1200-1599"``); any other label as it is."""
    if difficulty is None or difficulty == "":
        return UNKNOWN
    text = difficulty.strip()
    if _RATING.match(text):
        low = int(text) // BUCKET_WIDTH * BUCKET_WIDTH
        return f"{low}-{low + BUCKET_WIDTH - 1}"
    return text


def bucket_sort_key(bucket: str) -> tuple[int, int, str]:
    """Rating buckets first (by rating), then known labels in order, then other labels, ``unknown`` last."""
    match = re.match(r"^(\d+)-\d+$", bucket)
    if match:
        return (0, int(match.group(1)), "")
    if bucket in LABEL_ORDER:
        return (1, LABEL_ORDER.index(bucket), "")
    if bucket == UNKNOWN:
        return (3, 0, "")
    return (2, 0, bucket)


def _bucket_column(values: pa.ChunkedArray) -> pa.Array:
    """Map a difficulty column to bucket names through its distinct values (no per-row Python)."""
    encoded = pc.dictionary_encode(values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values)
    mapped = pa.array([difficulty_bucket(v) for v in encoded.dictionary.to_pylist()], pa.string())
    indices = pc.fill_null(encoded.indices, -1)
    unknown_slot = len(mapped)
    mapped = pa.concat_arrays([mapped, pa.array([UNKNOWN], pa.string())])
    indices = pc.if_else(pc.equal(indices, -1), unknown_slot, indices)
    return pc.take(mapped, indices)


def _fill_unknown(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    return pc.if_else(pc.or_(pc.is_null(arr), pc.equal(arr, "")), UNKNOWN, arr)


# --- pieces ----------------------------------------------------------------------------------------


def _value_counts(values: pa.Array) -> dict[str, int]:
    counts = pc.value_counts(values)
    return {k: int(v) for k, v in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist())}


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _group_rates(keys: pa.Array, judged: np.ndarray, passed: np.ndarray) -> dict[str, tuple[int, int]]:
    """key -> (judged candidates, passed candidates)."""
    table = pa.table({"k": keys, "j": judged.astype(np.int64), "c": passed.astype(np.int64)})
    grouped = table.group_by("k").aggregate([("j", "sum"), ("c", "sum")])
    return {k: (int(j), int(c)) for k, j, c in zip(*(grouped[n].to_pylist() for n in ("k", "j_sum", "c_sum")))}


def _problem_groups(keys: pa.Array, num_passed: np.ndarray, num_judged: np.ndarray) -> dict[str, tuple[int, int]]:
    """key -> (problems, problems with at least one passing candidate)."""
    solved = (num_passed > 0).astype(np.int64)
    table = pa.table({"k": keys, "n": np.ones(len(solved), np.int64), "s": solved})
    grouped = table.group_by("k").aggregate([("n", "sum"), ("s", "sum")])
    return {k: (int(n), int(s)) for k, n, s in zip(*(grouped[c].to_pylist() for c in ("k", "n_sum", "s_sum")))}


def _rate_rows(
    name: str, order: Iterable[str], cand: dict[str, tuple[int, int]], probs: dict[str, tuple[int, int]]
) -> list[dict[str, Any]]:
    rows = []
    for key in order:
        judged, passed = cand.get(key, (0, 0))
        problems, solved = probs.get(key, (0, 0))
        rows.append(
            {
                name: key,
                "problems": problems,
                "solved_problems": solved,
                "solved_share": _share(solved, problems),
                "candidates": judged,
                "passed": passed,
                "pass_rate": _share(passed, judged),
            }
        )
    return rows


def _language_rows(dist_dir: Path, verdict: pa.Array, judged: np.ndarray, passed: np.ndarray) -> list[dict[str, Any]]:
    """Per language of the candidates (builder.core.languages order): candidates, judged, passed, pass rate, and every
    rejection type's count. Candidates without a language (a dataset built before languages) are Python."""
    from builder.core import languages as L

    files = shard_files(dist_dir, "candidates")
    if files and "language" in pq.read_schema(files[0]).names:
        language = pc.fill_null(read_columns(dist_dir, "candidates", ["language"])["language"].combine_chunks(), L.PYTHON)
    else:
        language = pa.array([L.PYTHON] * len(verdict), pa.string())
    names = np.asarray(language.to_pylist(), dtype=object)
    present = set(names.tolist()) or {L.PYTHON}
    rows = []
    for name in [*(x for x in L.LANGUAGES if x in present), *sorted(present - set(L.LANGUAGES))]:
        mask = names == name
        counts = _value_counts(verdict.filter(pa.array(mask))) if mask.any() else {}
        n_judged, n_passed = int(judged[mask].sum()), int(passed[mask].sum())
        rows.append({
            "language": name,
            "display": L.SPECS[name].display if name in L.SPECS else name,
            "candidates": int(mask.sum()),
            "judged": n_judged,
            "passed": n_passed,
            "pass_rate": _share(n_passed, n_judged),
            "sandbox_errors": counts.get(T.SANDBOX_ERROR, 0),
            "rejections": [{"type": t, "count": counts.get(t, 0)} for t in T.REJECTION_TYPES],
        })
    return rows


def _describe(values: np.ndarray) -> dict[str, Any]:
    if len(values) == 0:
        return {"count": 0, "median": None, "mean": None, "p25": None, "p75": None, "max": None}
    p25, median, p75 = np.percentile(values, [25, 50, 75])
    return {
        "count": int(len(values)),
        "median": float(median),
        "mean": float(values.mean()),
        "p25": float(p25),
        "p75": float(p75),
        "max": int(values.max()),
    }


def _token_stats(num_tokens: pa.Array, verdicts: pa.Array) -> dict[str, Any]:
    valid = pc.is_valid(num_tokens)
    total = len(num_tokens)
    counted = int(pc.sum(valid).as_py() or 0)
    out: dict[str, Any] = {"available": counted > 0, "counted": counted, "candidates": total, "groups": [], "hist": None}
    if not counted:
        return out
    tokens = np.asarray(pc.fill_null(num_tokens, 0), dtype=np.int64)
    is_valid = np.asarray(valid, dtype=bool)
    verdict = np.asarray(pc.fill_null(verdicts, ""), dtype=object)
    passed_mask = is_valid & (verdict == T.PASSED)
    failed_mask = is_valid & np.isin(verdict, np.array(T.REJECTION_TYPES, dtype=object))
    groups = {"passed": tokens[passed_mask], "failed": tokens[failed_mask]}
    out["groups"] = [{"group": g, **_describe(v)} for g, v in groups.items()]
    # Histogram up to the 99th percentile of all counted responses; longer ones fall into the last bin.
    both = np.concatenate([v for v in groups.values()])
    upper = float(np.percentile(both, 99)) if len(both) else 1.0
    edges = np.linspace(0, max(upper, 1.0), TOKEN_BINS + 1)
    out["hist"] = {
        "edges": [float(e) for e in edges],
        "clipped": {g: int((v > edges[-1]).sum()) for g, v in groups.items()},
        **{g: [int(c) for c in np.histogram(np.minimum(v, edges[-1]), bins=edges)[0]] for g, v in groups.items()},
    }
    return out


def _pass_at_k_rows(pass_at_k: pa.ChunkedArray | pa.Array, num_judged: np.ndarray) -> list[dict[str, Any]]:
    """Mean unbiased pass@k over the problems with at least k judged candidates, for k = 1, 2, 4, ... and max n."""
    max_n = int(num_judged.max()) if len(num_judged) else 0
    if max_n == 0:
        return []
    ks = sorted({k for k in (1, 2, 4, 8, 16, 32, 64, 128, 256) if k <= max_n} | {max_n})
    arr = pass_at_k.combine_chunks() if isinstance(pass_at_k, pa.ChunkedArray) else pass_at_k
    rows = []
    for k in ks:
        mask = num_judged >= k
        picked = pc.list_element(pc.filter(arr, pa.array(mask)), k - 1)
        values = np.asarray(picked, dtype=np.float64)
        rows.append({"k": k, "problems": int(mask.sum()), "mean": float(values.mean())})
    return rows


# --- the whole ------------------------------------------------------------------------------------


def compute_stats(dist_dir: Path) -> dict[str, Any]:
    """All statistics of a built dataset folder, from its parquet files."""
    dist_dir = Path(dist_dir)
    sizes = {c: config_sizes(dist_dir, c) for c in present_configs(dist_dir)}

    cand = read_columns(dist_dir, "candidates", ["problem_id", "model", "verdict", "num_tokens", "source", "difficulty", "extraction", "finish_reason"])
    verdict = pc.fill_null(cand["verdict"].combine_chunks(), "")
    n_cand = cand.num_rows
    is_passed = np.asarray(pc.equal(verdict, T.PASSED), dtype=bool)
    is_failed = np.asarray(pc.is_in(verdict, pa.array(T.REJECTION_TYPES)), dtype=bool)
    is_judged = is_passed | is_failed
    verdict_counts = _value_counts(verdict)

    n_failed = int(is_failed.sum())
    n_passed = int(is_passed.sum())
    n_sandbox = verdict_counts.get(T.SANDBOX_ERROR, 0)
    rejection_types = [
        {"type": t, "count": verdict_counts.get(t, 0), "share": _share(verdict_counts.get(t, 0), n_failed), "description": T.DESCRIPTIONS[t]}
        for t in T.REJECTION_TYPES
    ]

    dpo = read_columns(dist_dir, "dpo", ["rejection_type", "problem_id"])
    dpo_counts = _value_counts(pc.fill_null(dpo["rejection_type"].combine_chunks(), ""))
    dpo_types = [
        {"type": t, "count": dpo_counts.get(t, 0), "share": _share(dpo_counts.get(t, 0), dpo.num_rows)}
        for t in T.REJECTION_TYPES
    ]
    dpo_problems = len(pc.unique(dpo["problem_id"].combine_chunks())) if dpo.num_rows else 0

    probs = read_columns(dist_dir, "problems", ["problem_id", "source", "difficulty", "license", "num_tests", "num_candidates", "num_judged", "num_passed", "pass_at_k", "empirical_difficulty"])
    num_candidates = np.asarray(probs["num_candidates"], dtype=np.int64)
    num_judged = np.asarray(probs["num_judged"], dtype=np.int64)
    num_passed = np.asarray(probs["num_passed"], dtype=np.int64)
    judged_mask = num_judged > 0
    # a build in several languages has a row per problem and language: problems and tests count once
    _, first_rows = np.unique(np.asarray(probs["problem_id"].to_pylist(), dtype=object), return_index=True)
    problem_counts = {
        "problems": int(len(first_rows)),
        "with_candidates": int((num_candidates > 0).sum()),
        "with_judged": int(judged_mask.sum()),
        "with_passing": int((num_passed > 0).sum()),
        "all_pass": int((judged_mask & (num_passed == num_judged)).sum()),
        "all_fail": int((judged_mask & (num_passed == 0)).sum()),
        "mixed": int(((num_passed > 0) & (num_passed < num_judged)).sum()),
        "tests": int(np.asarray(probs["num_tests"], dtype=np.int64)[first_rows].sum()),
    }
    pass_hist = np.bincount(num_passed[judged_mask], minlength=int(num_judged.max(initial=0)) + 1) if judged_mask.any() else np.array([], np.int64)
    pass_count_distribution = [{"passed": i, "problems": int(c)} for i, c in enumerate(pass_hist)]
    labels = _value_counts(probs["empirical_difficulty"].combine_chunks())
    from builder.dataset.problems import EMPIRICAL_DIFFICULTY

    empirical = [{"label": label, "meaning": meaning, "problems": labels.get(label, 0)} for label, meaning in EMPIRICAL_DIFFICULTY]

    # difficulty buckets and sources
    cand_bucket = _bucket_column(cand["difficulty"])
    cand_source = _fill_unknown(cand["source"])
    prob_bucket = _bucket_column(probs["difficulty"])
    prob_source = _fill_unknown(probs["source"])
    by_bucket_c = _group_rates(cand_bucket, is_judged, is_passed)
    by_bucket_p = _problem_groups(prob_bucket, num_passed, num_judged)
    buckets = sorted(set(by_bucket_c) | set(by_bucket_p), key=bucket_sort_key)
    by_source_c = _group_rates(cand_source, is_judged, is_passed)
    by_source_p = _problem_groups(prob_source, num_passed, num_judged)
    source_order = sorted(set(by_source_c) | set(by_source_p), key=lambda s: (-by_source_c.get(s, (0, 0))[0], -by_source_p.get(s, (0, 0))[0], s))

    pair = pc.binary_join_element_wise(cand_source, cand_bucket, "\x1f")
    cells = _group_rates(pair, is_judged, is_passed)
    heat_rate: list[list[float | None]] = []
    heat_n: list[list[int]] = []
    for s in source_order:
        heat_rate.append([])
        heat_n.append([])
        for b in buckets:
            j, c = cells.get(f"{s}\x1f{b}", (0, 0))
            heat_rate[-1].append(_share(c, j))
            heat_n[-1].append(j)

    models = sorted(m for m in pc.unique(cand["model"].combine_chunks()).to_pylist() if m)
    extraction = _value_counts(pc.fill_null(cand["extraction"].combine_chunks(), UNKNOWN))
    truncated = int(pc.sum(pc.equal(cand["finish_reason"], "length")).as_py() or 0)

    summary = {
        "problems": problem_counts["problems"],
        "tests": problem_counts["tests"],
        "candidates": n_cand,
        "judged": int(is_judged.sum()),
        "passed": n_passed,
        "failed": n_failed,
        "sandbox_errors": n_sandbox,
        "pass_rate": _share(n_passed, int(is_judged.sum())),
        "sft_rows": sizes["sft"]["rows"],
        "dpo_pairs": sizes["dpo"]["rows"],
        "dpo_problems": dpo_problems,
        "models": models,
        "sources": len(source_order),
        "extraction": [{"status": k, "count": extraction[k]} for k in sorted(extraction)],
        "truncated": truncated,
    }
    kto = None
    if "kto" in sizes:
        labels_ = read_columns(dist_dir, "kto", ["label"])["label"]
        desirable = int(pc.sum(labels_).as_py() or 0)
        kto = {"rows": labels_.length(), "desirable": desirable, "undesirable": labels_.length() - desirable}
    license_counts = _value_counts(_fill_unknown(probs["license"]))
    licenses = [{"license": k, "problems": v} for k, v in sorted(license_counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return {
        "configs": sizes,
        "kto": kto,
        "licenses": licenses,
        "summary": summary,
        "rejection_types": rejection_types,
        "dpo_rejection_types": dpo_types,
        "problem_counts": problem_counts,
        "pass_count_distribution": pass_count_distribution,
        "pass_at_k": _pass_at_k_rows(probs["pass_at_k"], num_judged),
        "empirical_difficulty": empirical,
        "tokens": _token_stats(cand["num_tokens"].combine_chunks(), verdict),
        "by_difficulty": _rate_rows("bucket", buckets, by_bucket_c, by_bucket_p),
        "by_source": _rate_rows("source", source_order, by_source_c, by_source_p),
        "by_language": _language_rows(dist_dir, verdict, is_judged, is_passed),
        "heatmap": {"sources": source_order, "buckets": buckets, "pass_rate": heat_rate, "candidates": heat_n},
    }


# --- formatting (the card's number format; tests format independently) ----------------------------


def fmt_int(value: int | None) -> str:
    return "–" if value is None else f"{int(value):,}"


def fmt_pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def fmt_float(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"
