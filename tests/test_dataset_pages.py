"""Giving back the pages of memory-mapped Arrow files (builder/dataset/pages.py) and flattening in small batches."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pytest
from datasets import Dataset, load_from_disk

from builder.dataset.batching import flattened
from builder.dataset.pages import ReleasingFile, arrow_mappings, release

MB = 1 << 20


def rss_file_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    raise AssertionError("no RssFile in /proc/self/status")


def count_z(ds: Dataset) -> int:
    """Scan every byte of the ``text`` column (a pass that reads the pages, as a map does)."""
    return sum(pc.sum(pc.count_substring(batch["text"], "z")).as_py() or 0 for batch in ds.with_format("arrow").iter(batch_size=4))


@pytest.fixture
def mapped(tmp_path: Path) -> Dataset:
    """64 rows of 1 MiB on disk, loaded memory-mapped as the dataset stage loads its tables."""
    rows = [("z" if i % 7 == 0 else "y") * MB for i in range(64)]
    Dataset.from_dict({"text": rows}).save_to_disk(str(tmp_path / "table"))
    return load_from_disk(str(tmp_path / "table"))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_release_gives_back_what_a_pass_read_and_the_rows_read_back_the_same(mapped: Dataset) -> None:
    before = rss_file_kb()
    assert count_z(mapped) == 10 * MB  # rows 0, 7, ..., 63
    read = rss_file_kb() - before
    assert read > 48 * 1024, f"a pass over 64 MiB mapped only {read} kB"
    assert any(start < end for start, end in arrow_mappings())
    advised = release()
    assert advised >= 64 * MB
    assert rss_file_kb() - before < read // 4
    assert count_z(mapped) == 10 * MB  # the pages come back from the file, unchanged
    assert mapped[63]["text"] == "z" * MB


def test_only_read_only_mappings_of_arrow_files_are_released(tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.write_text(
        "7f0000000000-7f0000001000 r--s 00000000 08:01 12 /work/cache/cache-abc.arrow\n"
        "7f0000001000-7f0000003000 r--p 00000000 08:01 13 /work/data/data-00000-of-00001.arrow\n"
        "7f0000003000-7f0000004000 rw-s 00000000 08:01 14 /work/cache/tmp-being-written.arrow\n"
        "7f0000004000-7f0000005000 r-xp 00000000 08:01 15 /usr/lib/libarrow.so.2000\n"
        "7f0000005000-7f0000006000 rw-p 00000000 00:00 0 \n"
        "7f0000006000-7f0000007000 r--p 00000000 08:01 16 /work/notes.arrow.txt\n",
        encoding="utf-8",
    )
    assert arrow_mappings(str(maps)) == [(0x7F0000000000, 0x7F0000001000), (0x7F0000001000, 0x7F0000003000)]
    assert arrow_mappings(str(tmp_path / "absent")) == []


def test_a_parquet_shard_written_through_the_releasing_file_has_the_same_bytes(mapped: Dataset, tmp_path: Path) -> None:
    small = mapped.select(range(0, 64, 8))
    small.to_parquet(str(tmp_path / "plain.parquet"))
    with ReleasingFile(str(tmp_path / "released.parquet"), stride=MB) as sink:
        small.to_parquet(sink)
    assert (tmp_path / "released.parquet").read_bytes() == (tmp_path / "plain.parquet").read_bytes()


def test_flattened_keeps_the_selected_rows_in_order_in_small_batches(mapped: Dataset) -> None:
    picked = mapped.select([63, 0, 7, 7, 1])
    flat = flattened(picked, budget=2 * MB)  # two rows a batch: three batches
    assert flat._indices is None
    assert [row[:1] + str(len(row)) for row in flat["text"]] == [row[:1] + str(len(row)) for row in picked.flatten_indices()["text"]]
    assert flat.features == picked.features
    assert flattened(mapped) is mapped  # nothing selected: nothing to write
