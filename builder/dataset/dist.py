"""The built dataset folder, laid out exactly as the Hub repository: configs, charts, card and build.json.

``write_dist`` writes everything from judged candidates and problems; ``render_card`` re-renders the statistics,
charts and card from the parquet files and ``build.json`` alone (no generation, no execution);
``check_card`` says which of those files on disk are out of date (for CI).

Each config is ``<config>/train-XXXXX-of-YYYYY.parquet``; with ``[dataset] formats = ["parquet", "jsonl"]`` every
shard also gets a JSON Lines copy beside it (``.jsonl``, one row per line, the same rows in the same order). The
card's configs point at the Parquet files only (``<config>/train-*.parquet``), so ``load_dataset(dist, config)``
never mixes the two.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
from datasets import Dataset, Features

from builder.core import meta as build_metadata
from builder.core.errors import UserError
from builder.core.meta import BuildMeta
from builder.dataset.pages import ReleasingFile, release
from builder.dataset.stats import REQUIRED_CONFIGS, SHARD_GLOB, compute_stats, present_configs, shard_files

#: Largest shard, in estimated Arrow bytes (the Hub's usual parquet shard size is a few hundred MB).
MAX_SHARD_BYTES = 500 << 20
ASSETS = "assets"
CARD = "README.md"


JSONL_GLOB = "train-*.jsonl"


def shard_name(index: int, count: int) -> str:
    return f"train-{index:05d}-of-{count:05d}.parquet"


def remove_config(dist_dir: Path, name: str) -> None:
    """Remove a config's data files (a config this build did not make must not survive from an earlier one)."""
    folder = Path(dist_dir) / name
    for old in [*folder.glob(SHARD_GLOB), *folder.glob(JSONL_GLOB)]:
        old.unlink()
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def write_jsonl(ds: Dataset, path: Path, batch_size: int = 1000) -> None:
    """``ds`` as JSON Lines: one row per line, keys in column order, numbers as Python writes them (exact)."""
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for batch in ds.with_format("arrow").iter(batch_size=batch_size):
            for row in batch.to_pylist():
                fh.write(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")
            release()


def write_config(
    dist_dir: Path, name: str, ds: Dataset, max_shard_bytes: int = MAX_SHARD_BYTES, formats: tuple[str, ...] = ("parquet",)
) -> list[Path]:
    """Write one config as ``<name>/train-XXXXX-of-YYYYY.parquet`` shards, with a ``.jsonl`` copy of each when
    ``formats`` has ``"jsonl"`` (old shards are removed first). Returns the parquet shards."""
    remove_config(dist_dir, name)
    folder = Path(dist_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    count = max(1, math.ceil(ds._estimate_nbytes() / max_shard_bytes)) if len(ds) else 1
    count = min(count, max(1, len(ds)))
    paths = []
    for i in range(count):
        path = folder / shard_name(i, count)
        shard = ds.shard(count, i, contiguous=True)
        with ReleasingFile(str(path)) as sink:  # the rows of each written row group give their pages back
            shard.to_parquet(sink)
        if "jsonl" in formats:
            write_jsonl(shard, path.with_suffix(".jsonl"))
        paths.append(path)
    return paths


def write_dist(dist_dir: Path, candidates: Dataset, problems: Dataset, meta: BuildMeta) -> None:
    """Write every config, build.json, the statistics' charts and the card into ``dist_dir``."""
    from builder.dataset.candidates import fill_token_counts, normalize_candidates
    from builder.dataset.configs import ASSEMBLED, build_config
    from builder.dataset.tokenized import NAME as TOKENIZED, tokenized_config

    dist_dir = Path(dist_dir)
    dist_dir.mkdir(parents=True, exist_ok=True)
    candidates = normalize_candidates(candidates)
    candidates, token_source = fill_token_counts(candidates, meta)
    meta = meta.with_(token_counts=token_source)
    formats = meta.dataset.formats
    # one config made, written and dropped at a time (the tokenized one right after sft): the memory-mapped pages of
    # only one output table stay mapped, however large the build
    for name in ASSEMBLED:
        config = build_config(name, candidates, problems, meta)
        write_config(dist_dir, name, config, formats=formats)
        if name == "sft":
            tokenized, record = tokenized_config(config, meta)
            meta = meta.with_(tokenized=record)
            if tokenized is not None:
                write_config(dist_dir, TOKENIZED, tokenized, formats=formats)
            else:
                remove_config(dist_dir, TOKENIZED)
            del tokenized
        del config
        release()  # what building and writing it read of the candidates
    build_metadata.write(dist_dir, meta)
    render_card(dist_dir)


def _schemas(dist_dir: Path) -> dict[str, Features]:
    return {name: Features.from_arrow_schema(pq.read_schema(shard_files(dist_dir, name)[0])) for name in present_configs(dist_dir)}


def _render_into(dist_dir: Path, out_dir: Path) -> list[str]:
    """Compute the statistics of ``dist_dir`` and write the charts and card into ``out_dir``; the files written."""
    from builder.dataset.card import render_card_text
    from builder.dataset.card.examples import example_rows
    from builder.dataset.charts import draw_all

    dist_dir = Path(dist_dir)
    missing = [name for name in REQUIRED_CONFIGS if not shard_files(dist_dir, name)]
    if missing:
        raise UserError(f"{dist_dir}: no parquet files for config(s) {', '.join(missing)}")
    meta = build_metadata.read(dist_dir)
    stats = compute_stats(dist_dir)
    charts = [p.name for p in draw_all(stats, Path(out_dir) / ASSETS)]
    schemas = _schemas(dist_dir)
    text = render_card_text(stats, meta, schemas, charts, examples=example_rows(dist_dir, list(schemas)))
    (Path(out_dir) / CARD).write_text(text, encoding="utf-8")
    return [CARD, *(f"{ASSETS}/{c}" for c in charts)]


def render_card(dist_dir: Path) -> list[str]:
    """Re-render the charts (``assets/*.png``) and README.md of a built folder from its parquet files alone."""
    dist_dir = Path(dist_dir)
    with tempfile.TemporaryDirectory(prefix="card-") as tmp:
        written = _render_into(dist_dir, Path(tmp))
        assets = dist_dir / ASSETS
        assets.mkdir(exist_ok=True)
        for stale in assets.glob("*.png"):
            if f"{ASSETS}/{stale.name}" not in written:
                stale.unlink()
        for rel in written:
            shutil.copyfile(Path(tmp) / rel, dist_dir / rel)
    return written


def check_card(dist_dir: Path) -> list[str]:
    """What is out of date in the card and charts on disk (empty when they match a fresh render)."""
    dist_dir = Path(dist_dir)
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="card-check-") as tmp:
        written = _render_into(dist_dir, Path(tmp))
        for rel in written:
            on_disk = dist_dir / rel
            if not on_disk.is_file():
                problems.append(f"{rel} is missing")
            elif on_disk.read_bytes() != (Path(tmp) / rel).read_bytes():
                problems.append(f"{rel} is out of date")
        for extra in sorted((dist_dir / ASSETS).glob("*.png")):
            if f"{ASSETS}/{extra.name}" not in written:
                problems.append(f"{ASSETS}/{extra.name} is stale (no chart draws it now)")
    return problems
