"""The on-disk cache of generated chunks: one parquet file per chunk, written atomically, and an event log.

A chunk's file appears only once it is complete (written to a temporary name, flushed, then renamed), so a build
killed at any moment loses at most the chunk in flight. ``events.log`` gets one line per chunk: ``generated`` (the
engine ran) or ``cached`` (read back from disk), with the chunk key and its sizes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Features

EVENTS = "events.log"


class ChunkCache:
    def __init__(self, folder: Path, features: Features) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.schema = features.arrow_schema

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.parquet"

    def load(self, key: str) -> dict[str, list[Any]] | None:
        """The chunk's records, or None when it was never finished (or its file cannot be read)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            table = pq.read_table(path, schema=self.schema)
        except (OSError, pa.ArrowException):
            return None
        return table.to_pydict()

    def save(self, key: str, records: dict[str, list[Any]]) -> Path:
        table = pa.Table.from_pydict(records, schema=self.schema)
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                pq.write_table(table, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.path(key)

    def log(self, event: str, key: str, problems: int, candidates: int) -> None:
        with (self.folder / EVENTS).open("a", encoding="utf-8") as fh:
            fh.write(f"{event} {key} problems={problems} candidates={candidates}\n")
            fh.flush()

    def events(self) -> list[tuple[str, str]]:
        """(event, key) for every logged chunk, oldest first."""
        path = self.folder / EVENTS
        if not path.is_file():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) >= 2:
                out.append((parts[0], parts[1]))
        return out
