"""Deduplication of problems across sources by a normalized statement hash.

The same problem often reaches a build through several upstreams (a Codeforces problem is in open-r1/codeforces,
CodeContests, TACO and DeepCoder), each formatting its statement a little differently. The hash is taken over the
statement lower-cased, with LaTeX markup and punctuation removed and whitespace collapsed, so ``$a_i \\le 10^9$``,
``$$$a_i \\leq 10^9$$$`` and ``a_i ≤ 10^9`` hash alike. The first occurrence in source order is kept; the others are
returned as quarantine rows (``duplicate of <id>``) and counted per pair of sources.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from datasets import Dataset, concatenate_datasets

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
    duplicates = problems.select(rows).map(
        lambda row, i: {
            "kind": "problems",
            "row_id": row["problem_id"],
            "reason": reasons[i],
            "row": json.dumps({k: row[k] for k in ("problem_id", "source", "title", "origin")}, ensure_ascii=False),
        },
        with_indices=True,
        remove_columns=problems.column_names,
        features=QUARANTINE_FEATURES,
        desc="Duplicates",
    )
    return DedupResult(problems=kept, duplicates=duplicates, merged=len(dropped), pairs=pairs)
