"""Checks before anything touches the network: the card declares configs, every config loads, the card and charts are
up to date, no file is over the Hub's limits or holds the token; the local files with their hashes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from builder.core import meta as build_metadata
from builder.core.errors import UserError
from builder.core.meta import BuildMeta

#: The Hub refuses files over 50 GB (hub-docs "Repository limitations": "Per file: 50GB max, 20GB recommended";
#: huggingface_hub.constants.MAX_HTTP_DOWNLOAD_SIZE is the same 50 * 1000**3 bytes).
HUB_MAX_FILE_BYTES = 50 * 1000**3


#: Above this the Hub recommends splitting the data into more shards (a warning, not an error).
HUB_RECOMMENDED_FILE_BYTES = 20 * 1000**3


#: The Hub recommends fewer than 10k entries per folder (a warning).
HUB_RECOMMENDED_FOLDER_ENTRIES = 10_000


#: Folders the builder owns besides the config folders: remote files there that the folder lacks are deleted.
OWNED_FOLDERS = ("assets",)


HASH_CHUNK = 8 << 20


@dataclass(frozen=True)
class LocalFile:
    """A file of the folder, with the two ids the Hub may report for it."""

    path: str  # repo path, POSIX
    local: Path
    size: int
    sha256: str  # what the Hub reports for LFS files (lfs.oid)
    git_sha1: str  # what the Hub reports for regular files (blob oid)


@dataclass(frozen=True)
class Validation:
    """What :func:`validate_dist` found: files, rows per config and split, and the build metadata."""

    dist: Path
    files: tuple[LocalFile, ...]
    rows: dict[str, dict[str, int]]  # config -> split -> rows
    config_folders: tuple[str, ...]
    meta: BuildMeta
    warnings: tuple[str, ...] = ()


def read_card_configs(dist: Path) -> list[dict[str, Any]]:
    """The ``configs:`` list of the card's YAML front matter."""
    from huggingface_hub import metadata_load

    card = dist / "README.md"
    if not card.is_file():
        raise UserError(f"{dist} has no README.md (dataset card): build it first with `just build`")
    try:
        metadata = metadata_load(card) or {}
    except Exception as exc:  # yaml errors
        raise UserError(f"{card}: the YAML front matter does not parse ({type(exc).__name__}: {exc})") from None
    configs = metadata.get("configs")
    if not isinstance(configs, list) or not configs:
        raise UserError(f"{card} declares no `configs:` in its YAML front matter")
    for entry in configs:
        if not isinstance(entry, dict) or not isinstance(entry.get("config_name"), str):
            raise UserError(f"{card}: every `configs:` entry needs a config_name, got {entry!r}")
    return configs


def _patterns(data_files: Any) -> list[str]:
    if isinstance(data_files, str):
        return [data_files]
    out: list[str] = []
    if isinstance(data_files, dict):
        data_files = [{"path": v} for v in data_files.values()]
    for item in data_files or []:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            paths = item.get("path")
            out += [paths] if isinstance(paths, str) else list(paths or [])
    return out


def config_folders(configs: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """Top-level folders holding the configs' data files (``sft/train-*`` -> ``sft``)."""
    folders = set()
    for entry in configs:
        for pattern in _patterns(entry.get("data_files")):
            head = PurePosixPath(pattern).parts[0] if "/" in pattern else None
            if head and not any(ch in head for ch in "*?[]{}") and head not in (".", ".."):
                folders.add(head)
    return tuple(sorted(folders))


def list_local_files(dist: Path, token: str | None = None) -> list[LocalFile]:
    """Every file to upload (hidden files and folders excluded), hashed in one read each.

    With ``token``, refuses a folder where any file contains it (a token must never be published).
    """
    files = []
    for path in sorted(dist.rglob("*")):
        rel = path.relative_to(dist)
        if any(part.startswith(".") or part == "__pycache__" for part in rel.parts) or not path.is_file():
            continue
        if path.is_symlink():
            raise UserError(f"{path} is a symbolic link; the folder to publish must hold plain files")
        files.append(_hash_file(path, rel.as_posix(), token))
    return files


def _hash_file(path: Path, rel: str, token: str | None) -> LocalFile:
    size = path.stat().st_size
    sha256 = hashlib.sha256()
    sha1 = hashlib.sha1(b"blob %d\0" % size)
    needle = token.encode() if token else b""
    tail = b""
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            sha256.update(chunk)
            sha1.update(chunk)
            if needle:
                if needle in tail + chunk:
                    raise UserError(f"{path} contains your Hugging Face token; refusing to publish it")
                tail = chunk[-(len(needle) - 1):] if len(needle) > 1 else b""
    return LocalFile(rel, path, size, sha256.hexdigest(), sha1.hexdigest())


def _count_rows(files: Iterable[str]) -> int | None:
    import pyarrow.parquet as pq

    total = 0
    for name in files:
        if not name.endswith(".parquet"):
            return None
        total += pq.read_metadata(name).num_rows
    return total


def _check_config(dist: Path, config: str) -> dict[str, int]:
    """Load ``config`` with ``datasets.load_dataset`` (streaming: every split yields its first row) and count its
    rows from the parquet footers."""
    import datasets

    try:
        builder = datasets.load_dataset_builder(str(dist), config)
        data_files = builder.config.data_files or {}
        if not data_files or not any(data_files.values()):
            raise UserError(f"config {config!r} of {dist} matches no data files")
        streamed = datasets.load_dataset(str(dist), config, streaming=True)
        rows: dict[str, int] = {}
        for split, files in data_files.items():
            for _ in streamed[str(split)].take(1):
                pass
            counted = _count_rows(str(f) for f in files)
            rows[str(split)] = -1 if counted is None else counted
        return rows
    except UserError:
        raise
    except Exception as exc:  # anything datasets raises: a missing file, a bad shard, a schema mismatch
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UserError(f"config {config!r} of {dist} does not load: {type(exc).__name__}: {first}") from None


def _check_card(dist: Path) -> None:
    from builder.dataset.dist import check_card

    problems = check_card(dist)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UserError(
            f"the card of {dist} is stale: {problems[0]}{more}; rebuild it with `builder card {dist}`"
        )


def validate_dist(dist: Path, *, token: str | None = None) -> Validation:
    """Check that ``dist`` is ready to publish; raise :class:`UserError` with the first problem found."""

    dist = Path(dist)
    if not dist.is_dir():
        raise UserError(f"{dist} is not a folder: build it first with `just build`")
    configs = read_card_configs(dist)
    files = list_local_files(dist, token)
    warnings: list[str] = []
    per_folder: dict[str, int] = {}
    for f in files:
        if f.size > HUB_MAX_FILE_BYTES:
            raise UserError(
                f"{f.local} is {f.size / 1e9:.1f} GB: the Hub refuses files over {HUB_MAX_FILE_BYTES / 1e9:.0f} GB;"
                " write more, smaller shards"
            )
        if f.size > HUB_RECOMMENDED_FILE_BYTES:
            warnings.append(f"{f.path} is {f.size / 1e9:.1f} GB; the Hub recommends files under 20 GB")
        parent = str(PurePosixPath(f.path).parent)
        per_folder[parent] = per_folder.get(parent, 0) + 1
    warnings += [
        f"{folder}/ holds {n} files; the Hub recommends fewer than {HUB_RECOMMENDED_FOLDER_ENTRIES}"
        for folder, n in per_folder.items()
        if n >= HUB_RECOMMENDED_FOLDER_ENTRIES
    ]
    rows = {entry["config_name"]: _check_config(dist, entry["config_name"]) for entry in configs}
    _check_card(dist)
    meta = build_metadata.read(dist) if (dist / build_metadata.FILE).is_file() else BuildMeta(name=dist.name)
    return Validation(dist, tuple(files), rows, config_folders(configs), meta, tuple(warnings))


def commit_summary(validation: Validation, title: str | None = None) -> tuple[str, str]:
    """(title, description) of the commit: rows per config, model, recipe hash."""
    meta = validation.meta
    name = meta.name
    counts = ", ".join(
        f"{config} {sum(splits.values()):,}" if all(v >= 0 for v in splits.values()) else f"{config} ?"
        for config, splits in validation.rows.items()
    )
    recipe = meta.recipe_hash
    model = meta.model
    extra = "; ".join(x for x in (f"model {model}" if model else "", f"recipe {recipe[:12]}" if recipe else "") if x)
    auto = f"Publish {name}: {counts} rows" + (f" ({extra})" if extra else "")
    lines = [f"Built by codeverify-builder {meta.versions.get('builder') or ''}".rstrip(), ""]
    for config, splits in validation.rows.items():
        for split, n in splits.items():
            lines.append(f"- {config}/{split}: {n if n >= 0 else '?'} rows")
    for key in ("model", "backend", "seed", "recipe_hash"):
        if key in meta.model_fields_set:
            lines.append(f"- {key}: {getattr(meta, key)}")
    if meta.sandbox.get("level"):
        lines.append(f"- sandbox: {meta.sandbox.get('executor', '?')} ({meta.sandbox['level']})")
    return (title or auto), "\n".join(lines)
