"""Rows per batch of the dataset stage's batched maps: few enough that memory stays flat however long the rows are.

A batch of 500 rows is a few hundred kB for short answers and hundreds of MB for a reasoning model's (100 kB of
reasoning each, then the messages, the chosen and rejected turns and the token ids built from them): the batch, and
the map's write buffer, are sized here from the table's bytes per row, so that writing ``dist/`` holds about
:data:`BATCH_BYTES` of rows at a time at any size of build. For short rows nothing changes (``most`` rows).
"""

from __future__ import annotations

from datasets import Dataset

#: bytes of input rows one batch holds (about)
BATCH_BYTES = 16 << 20


def batch_kwargs(table: Dataset, most: int, budget: int = BATCH_BYTES) -> dict[str, int]:
    """``batch_size`` and ``writer_batch_size`` for a batched ``map`` over ``table``: ``most`` rows, or fewer when its
    rows are long, so that one batch holds about ``budget`` bytes (from the table's size on disk: nothing is read)."""
    rows = len(table)
    size = most
    if rows:
        per_row = max(1.0, table._estimate_nbytes() / rows)
        size = max(1, min(most, int(budget / per_row)))
    return {"batch_size": size, "writer_batch_size": size}
