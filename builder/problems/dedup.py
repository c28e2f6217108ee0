"""Deduplication of problems across sources: an exact normalized-statement hash, then MinHash LSH near-duplicates.

The same problem often reaches a build through several upstreams (a Codeforces problem is in open-r1/codeforces,
CodeContests, TACO and DeepCoder), each formatting its statement a little differently. The hash is taken over the
statement lower-cased, with LaTeX markup and punctuation removed and whitespace collapsed, so ``$a_i \\le 10^9$``,
``$$$a_i \\leq 10^9$$$`` and ``a_i ≤ 10^9`` hash alike. The first occurrence in source order is kept; the others are
returned as quarantine rows (``duplicate of <id>``) and counted per pair of sources.

**Near-duplicates** (:func:`near_dedup_problems`) are statements reworded a little: the same normalized words,
shingled into word 5-grams, get a MinHash signature (``datasketch``, 128 permutations, the ``affine32`` scheme,
seed 1); an LSH index tuned to the Jaccard threshold finds the earlier problems each one may repeat, and the estimated
Jaccard similarity of the two signatures decides. Problems are taken in source order: one with no earlier kept problem
at or above the threshold is kept (it starts a group); one with such a problem joins that problem's group (the
earliest) and is returned as a quarantine row naming it. The kept problem records its group in ``near_duplicates``
(the ids merged into it). On the lcb pack, distinct problems stay below 0.64 (the closest pairs are the easy and hard
versions of one task, whose statements differ only in constraints), so the default threshold is 0.7.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from datasets import Dataset, Features, Sequence as ListOf, Value, concatenate_datasets

from builder.core.caching import code_hash, fingerprint
from builder.core.schema import QUARANTINE_FEATURES

HASH_COLUMN = "_statement_hash"

_SYMBOLS = {
    "≤": " le ", "≥": " ge ", "≠": " ne ", "×": " times ", "·": " cdot ", "…": " ldots ", "−": "-",
    "<=": " le ", ">=": " ge ", "!=": " ne ",
}
_COMMANDS = {"leq": "le", "le": "le", "geq": "ge", "ge": "ge", "neq": "ne", "ne": "ne", "dots": "ldots",
             "cdots": "ldots", "ldots": "ldots", "cdot": "cdot", "times": "times"}
_WRAPPERS = re.compile(r"\\(?:text\w*|math\w*|operatorname|emph|bf|it|rm|tt|boldsymbol)\s*\{([^{}]*)\}")
_COMMAND = re.compile(r"\\([A-Za-z]+)")
_PUNCT = re.compile(r"[^\w\s]|_")
_SPACE = re.compile(r"\s+")


def normalize_statement(text: str) -> str:
    """Lower-case words of a statement without LaTeX noise, punctuation or extra whitespace."""
    text = unicodedata.normalize("NFKC", text or "")
    for symbol, word in _SYMBOLS.items():
        text = text.replace(symbol, word)
    for _ in range(3):  # nested wrappers: \textbf{\texttt{x}}
        text = _WRAPPERS.sub(r"\1", text)
    text = _COMMAND.sub(lambda m: " " + _COMMANDS.get(m.group(1), m.group(1)) + " ", text)
    text = text.replace("$", " ").lower()
    text = _PUNCT.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def statement_hash(text: str) -> str | None:
    """sha256 of the normalized statement; None for an empty statement (never merged)."""
    normalized = normalize_statement(text)
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest() if normalized else None


@dataclass
class DedupResult:
    problems: Dataset
    duplicates: Dataset
    merged: int
    #: "kept source <- dropped source" -> count
    pairs: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        detail = ", ".join(f"{pair}: {n}" for pair, n in sorted(self.pairs.items()))
        return f"dedup: kept {len(self.problems)} problems, merged {self.merged} duplicates" + (f" ({detail})" if detail else "")


def _hash_batch(batch: dict[str, list]) -> dict[str, list]:
    return {HASH_COLUMN: [statement_hash(text) for text in batch["problem"]]}


def quarantined(problems: Dataset, rows: list[int], reasons: list[str], desc: str) -> Dataset:
    """Quarantine rows (kind ``problems``) for the dropped ``rows`` of ``problems``, each with its reason."""
    return problems.select(rows).map(
        lambda row, i: {
            "kind": "problems",
            "row_id": row["problem_id"],
            "reason": reasons[i],
            "row": json.dumps({k: row[k] for k in ("problem_id", "source", "title", "origin")}, ensure_ascii=False),
        },
        with_indices=True,
        remove_columns=problems.column_names,
        features=QUARANTINE_FEATURES,
        desc=desc,
    )


def dedup_problems(problems: Dataset | Sequence[Dataset], *, num_proc: int | None = None) -> DedupResult:
    """Drop problems whose normalized statement repeats an earlier one (inputs concatenated in the order given)."""
    if not isinstance(problems, Dataset):
        parts = [p for p in problems if len(p)]
        problems = concatenate_datasets(parts) if parts else list(problems)[0]
    if len(problems) == 0:  # map() on an empty table would not even add the hash column
        empty = Dataset.from_dict({k: [] for k in QUARANTINE_FEATURES}, features=QUARANTINE_FEATURES)
        return DedupResult(problems=problems, duplicates=empty, merged=0)
    hashed = problems.map(
        _hash_batch,
        batched=True,
        batch_size=1000,
        num_proc=num_proc if num_proc and num_proc > 1 and len(problems) > 1000 else None,
        desc="Hashing statements",
    )
    first: dict[str, int] = {}
    keep: list[int] = []
    dropped: list[tuple[int, int]] = []
    for index, digest in enumerate(hashed[HASH_COLUMN]):
        if digest is None or digest not in first:
            if digest is not None:
                first[digest] = index
            keep.append(index)
        else:
            dropped.append((index, first[digest]))
    kept = problems.select(keep) if len(dropped) else problems
    pairs: Counter[str] = Counter()
    if not dropped:
        empty = Dataset.from_dict({k: [] for k in QUARANTINE_FEATURES}, features=QUARANTINE_FEATURES)
        return DedupResult(problems=kept, duplicates=empty, merged=0, pairs=pairs)
    sources, ids = list(problems["source"]), list(problems["problem_id"])
    reasons, rows = [], []
    for index, original in dropped:
        pairs[f"{sources[original]} <- {sources[index]}"] += 1
        reasons.append(f"duplicate of {ids[original]} ({sources[original]}): same normalized statement")
        rows.append(index)
    duplicates = quarantined(problems, rows, reasons, "Duplicates")
    return DedupResult(problems=kept, duplicates=duplicates, merged=len(dropped), pairs=pairs)


# --- near-duplicates: MinHash LSH over word shingles ---------------------------------------------------------------

SHINGLE_WORDS = 5
NUM_PERM = 128
SEED = 1
SCHEME = "affine32"
MINHASH_COLUMN = "_minhash"


def shingles(normalized: str, n: int = SHINGLE_WORDS) -> list[bytes]:
    """The distinct word ``n``-grams of a normalized statement (a shorter statement is one shingle)."""
    words = normalized.split()
    if not words:
        return []
    if len(words) <= n:
        return [" ".join(words).encode("utf-8")]
    return sorted({" ".join(words[i : i + n]).encode("utf-8") for i in range(len(words) - n + 1)})


def _minhash_batch(batch: dict[str, list[Any]], num_perm: int, ngram: int) -> dict[str, list[Any]]:
    from datasketch import MinHash

    out: list[list[int] | None] = []
    for text in batch["problem"]:
        grams = shingles(normalize_statement(text), ngram)
        if not grams:
            out.append(None)
            continue
        m = MinHash(num_perm=num_perm, seed=SEED, scheme=SCHEME)
        m.update_batch(grams)
        out.append(m.hashvalues.tolist())
    return {MINHASH_COLUMN: out}


def minhash_signatures(problems: Dataset, *, num_perm: int = NUM_PERM, ngram: int = SHINGLE_WORDS, num_proc: int | None = None) -> Dataset:
    """One MinHash signature per statement (null for an empty one), cached by input, parameters and code."""
    return problems.select_columns(["problem"]).map(
        _minhash_batch,
        batched=True,
        batch_size=500,
        fn_kwargs={"num_perm": num_perm, "ngram": ngram},
        remove_columns=["problem"],
        features=Features({MINHASH_COLUMN: ListOf(Value("uint32"))}),
        num_proc=num_proc if num_proc and num_proc > 1 and len(problems) > 1000 else None,
        new_fingerprint=fingerprint("minhash", problems, num_perm, ngram, SEED, SCHEME, code_hash(__name__)),
        desc="MinHash of statements",
    )


@dataclass
class NearDedupResult:
    problems: Dataset  # kept problems, ``near_duplicates`` filled in for every group's kept problem
    duplicates: Dataset  # quarantine rows of the problems merged into a group
    merged: int
    #: groups of two or more problems (one kept each)
    groups: int
    threshold: float
    pairs: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        detail = ", ".join(f"{pair}: {n}" for pair, n in sorted(self.pairs.items()))
        return (
            f"near-duplicates (MinHash LSH, Jaccard of word {SHINGLE_WORDS}-grams >= {self.threshold:g}): merged "
            f"{self.merged} problems into {self.groups} groups" + (f" ({detail})" if detail else "")
        )


def near_dedup_problems(
    problems: Dataset, *, threshold: float = 0.7, num_perm: int = NUM_PERM, num_proc: int | None = None
) -> NearDedupResult:
    """Merge problems whose statements are near-duplicates of an earlier kept one (see the module's docstring)."""
    from datasketch import LeanMinHash, MinHashLSH
    from tqdm.auto import tqdm

    empty = Dataset.from_dict({k: [] for k in QUARANTINE_FEATURES}, features=QUARANTINE_FEATURES)
    if len(problems) == 0:
        return NearDedupResult(problems=problems, duplicates=empty, merged=0, groups=0, threshold=threshold)
    signatures = minhash_signatures(problems, num_perm=num_perm, num_proc=num_proc)
    # the index finds candidates (at most 0.9: datasketch needs two bands or more); the signatures' estimate decides
    lsh = MinHashLSH(threshold=min(threshold, 0.9), num_perm=num_perm)
    kept: dict[int, np.ndarray] = {}
    joined: dict[int, tuple[int, float]] = {}  # dropped row -> (kept row, estimated Jaccard)
    column = signatures.with_format("numpy")
    for start in tqdm(range(0, len(problems), 2000), desc="Near-duplicate groups", unit="k problems", disable=len(problems) < 5000):
        for offset, values in enumerate(column[start : start + 2000][MINHASH_COLUMN]):
            row = start + offset
            if values is None or len(values) == 0:
                continue
            values = np.asarray(values, dtype=np.uint32)
            best: tuple[int, float] | None = None
            for other in lsh.query(LeanMinHash(seed=SEED, hashvalues=values, scheme=SCHEME)):
                similarity = float(np.mean(kept[other] == values))
                if similarity >= threshold and (best is None or other < best[0]):
                    best = (other, similarity)
            if best is None:
                kept[row] = values
                lsh.insert(row, LeanMinHash(seed=SEED, hashvalues=values, scheme=SCHEME))
            else:
                joined[row] = best
    if not joined:
        return NearDedupResult(problems=problems, duplicates=empty, merged=0, groups=0, threshold=threshold)
    ids, sources = list(problems["problem_id"]), list(problems["source"])
    members: dict[int, list[str]] = {}
    pairs: Counter[str] = Counter()
    for row, (first, _) in sorted(joined.items()):
        members.setdefault(first, []).append(ids[row])
        pairs[f"{sources[first]} <- {sources[row]}"] += 1
    group_of = {ids[first]: group for first, group in members.items()}

    def record(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return {"near_duplicates": [group_of.get(pid, existing) for pid, existing in zip(batch["problem_id"], batch["near_duplicates"])]}

    dropped_rows = sorted(joined)
    dropped = set(dropped_rows)
    kept_table = problems.select([i for i in range(len(problems)) if i not in dropped]).map(
        record, batched=True, batch_size=1000, features=problems.features, desc="Recording near-duplicate groups",
        new_fingerprint=fingerprint("near-dedup", problems, threshold, num_perm, code_hash(__name__)),
    )
    reasons = [
        f"near-duplicate of {ids[joined[row][0]]} ({sources[joined[row][0]]}): estimated Jaccard {joined[row][1]:.2f} "
        f">= {threshold:g} of word {SHINGLE_WORDS}-grams"
        for row in dropped_rows
    ]
    duplicates = quarantined(problems, dropped_rows, reasons, "Near-duplicates")
    return NearDedupResult(
        problems=kept_table, duplicates=duplicates, merged=len(joined), groups=len(members), threshold=threshold, pairs=pairs
    )
