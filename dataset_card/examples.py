"""One short example row per config for the card: the first row of the config's first Parquet file, long values cut.

Strings longer than :data:`TEXT` characters keep their start and say how much was cut; lists keep their first
:data:`ITEMS` items and say how many more there are; nested values are cut the same way. The result is JSON text,
deterministic for the same files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

#: characters of a string kept (a string at most :data:`SLACK` longer is kept whole: no "1 more character")
TEXT = 160
SLACK = 40
#: items of a list kept
ITEMS = 3


def shorten(value: Any) -> Any:
    """``value`` with long strings and lists cut, saying what was left out."""
    if isinstance(value, str):
        if len(value) <= TEXT + SLACK:
            return value
        return value[:TEXT] + f"… ({len(value) - TEXT:,} more characters)"
    if isinstance(value, list):
        kept = [shorten(v) for v in value[:ITEMS]]
        if len(value) > ITEMS:
            kept.append(f"… ({len(value) - ITEMS:,} more items)")
        return kept
    if isinstance(value, dict):
        return {k: shorten(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return f"<{len(value):,} bytes>"
    if isinstance(value, float) and value != value:
        return "NaN"
    return value


def example_row(files: list[Path]) -> str | None:
    """The first row of the first non-empty file, shortened, as indented JSON (None when there are no rows)."""
    for path in sorted(files):
        parquet = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)  # streamed: a row group is not read whole
        if parquet.metadata.num_rows == 0:
            continue
        # one row decoded, not the row group (up to ~100 MB of long responses or token ids)
        first = next(parquet.iter_batches(batch_size=1, row_groups=[0])).to_pylist()[0]
        return json.dumps(shorten(first), ensure_ascii=False, indent=2, default=str)
    return None


def example_rows(dist: Path, configs: list[str]) -> dict[str, str]:
    """config -> its example row (configs without rows are left out)."""
    out = {}
    for name in configs:
        row = example_row(list((Path(dist) / name).glob("train-*.parquet")))
        if row is not None:
            out[name] = row
    return out
