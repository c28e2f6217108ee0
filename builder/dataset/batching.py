"""Rows per batch of the dataset stage's batched maps: few enough that memory stays flat however long the rows are.

A batch of 500 rows is a few hundred kB for short answers and hundreds of MB for a reasoning model's (100 kB of
reasoning each, then the messages, the chosen and rejected turns and the token ids built from them): the batch, and
the map's write buffer, are sized here from the table's bytes per row, so that writing ``dist/`` holds about
:data:`BATCH_BYTES` of rows at a time at any size of build. For short rows nothing changes (``most`` rows).
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset

from builder.core.caching import fingerprint
from builder.dataset.pages import releasing

#: bytes of input rows one batch holds (about)
BATCH_BYTES = 4 << 20


def batch_kwargs(table: Dataset, most: int, budget: int = BATCH_BYTES) -> dict[str, int]:
    """``batch_size`` and ``writer_batch_size`` for a batched ``map`` over ``table``: ``most`` rows, or fewer when its
    rows are long, so that one batch holds about ``budget`` bytes (from the table's size on disk: nothing is read)."""
    rows = len(table)
    size = most
    if rows:
        per_row = max(1.0, table._estimate_nbytes() / rows)
        size = max(1, min(most, int(budget / per_row)))
    return {"batch_size": size, "writer_batch_size": size}


def _same(batch: Any) -> Any:
    return batch


def flattened(table: Dataset, budget: int = BATCH_BYTES) -> Dataset:
    """``table`` with its selected rows written out in order (what ``flatten_indices`` does), about ``budget`` bytes at a
    time: ``flatten_indices`` copies 1,000 rows per batch, which for long responses is hundreds of MB held at once.
    Each batch is passed through as Arrow and the pages it read are given back (:mod:`builder.dataset.pages`)."""
    if table._indices is None:
        return table
    sizes = batch_kwargs(table, 1000, budget)
    return (
        table.with_format("arrow")
        .map(releasing(_same), batched=True, **sizes, new_fingerprint=fingerprint("flattened", table, sizes), desc="Flattening the indices")
        .with_format(None)
    )
