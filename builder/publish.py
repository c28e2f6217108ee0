"""Publish a built ``dist/<name>/`` folder to a Hub dataset repository in one safe, idempotent commit.

Flow (:func:`publish`):

1. fail fast in offline mode (``HF_HUB_OFFLINE=1``) and without a token (``HF_TOKEN`` or the saved login);
2. validate the folder (:func:`validate_dist`): the card declares configs, every config's files exist and load
   with ``datasets.load_dataset(dist, config)``, the card and charts are up to date
   (``builder.dist.check_card``), no file is over the Hub's per-file limit, no file contains the token. A failed
   check raises :class:`~builder.errors.UserError` before anything touches the network;
3. ``create_repo(exist_ok=True, repo_type="dataset")`` (and the branch, for ``--revision``);
4. compare the local files with the remote tree (sha256 of LFS files, git blob sha1 of regular ones) and make
   ONE ``create_commit`` that adds what differs and deletes the remote files under the card's config folders and
   ``assets/`` that the folder no longer has, so those folders equal the local ones. Nothing to change: no
   commit. The commit is pinned to the revision it was planned against (``parent_commit``): if the branch moved
   in between, the plan is made again.

Transient failures (429, 5xx, dropped connections, a moved branch) are retried with exponential backoff; every
other Hub error ends in one clear line. The token goes to ``HfApi`` only: it is never printed, logged, written
into the dataset, or passed to a child process (publish starts none).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from builder.errors import UserError

#: The Hub refuses files over 50 GB (hub-docs "Repository limitations": "Per file: 50GB max, 20GB recommended";
#: huggingface_hub.constants.MAX_HTTP_DOWNLOAD_SIZE is the same 50 * 1000**3 bytes).
HUB_MAX_FILE_BYTES = 50 * 1000**3
#: Above this the Hub recommends splitting the data into more shards (a warning, not an error).
HUB_RECOMMENDED_FILE_BYTES = 20 * 1000**3
#: The Hub recommends fewer than 10k entries per folder (a warning).
HUB_RECOMMENDED_FOLDER_ENTRIES = 10_000
#: Folders the builder owns besides the config folders: remote files there that the folder lacks are deleted.
OWNED_FOLDERS = ("assets",)
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: Attempts per Hub step and the first backoff delay (doubled each time, capped at RETRY_MAX_DELAY_S).
RETRY_ATTEMPTS = 4
RETRY_BACKOFF_S = 2.0
RETRY_MAX_DELAY_S = 60.0
HASH_CHUNK = 8 << 20

T = TypeVar("T")
Echo = Callable[[str], None]


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
    meta: dict[str, Any]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """What one publish would do to the remote revision."""

    repo_id: str
    revision: str
    repo_exists: bool
    branch_exists: bool
    private: bool | None  # visibility of the existing repository
    parent: str | None  # commit the plan was made against
    add: tuple[LocalFile, ...]
    keep: tuple[str, ...]
    delete: tuple[str, ...]

    @property
    def changes(self) -> bool:
        return bool(self.add or self.delete)


@dataclass
class PublishResult:
    plan: Plan
    validation: Validation
    committed: bool = False
    commit_oid: str | None = None
    commit_url: str | None = None
    pr_url: str | None = None
    title: str = ""
    notes: list[str] = field(default_factory=list)


# --- validation ----------------------------------------------------------------------------------------------


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
    from builder.dist import check_card

    problems = check_card(dist)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UserError(
            f"the card of {dist} is stale: {problems[0]}{more}; rebuild it with `builder card {dist}`"
        )


def validate_dist(dist: Path, *, token: str | None = None) -> Validation:
    """Check that ``dist`` is ready to publish; raise :class:`UserError` with the first problem found."""
    import json

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
    meta: dict[str, Any] = {}
    if (dist / "build.json").is_file():
        try:
            meta = json.loads((dist / "build.json").read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UserError(f"{dist / 'build.json'} is not valid JSON: {exc}") from None
    return Validation(dist, tuple(files), rows, config_folders(configs), meta, tuple(warnings))


def commit_summary(validation: Validation, title: str | None = None) -> tuple[str, str]:
    """(title, description) of the commit: rows per config, model, recipe hash."""
    meta = validation.meta
    name = meta.get("name") or validation.dist.name
    counts = ", ".join(
        f"{config} {sum(splits.values()):,}" if all(v >= 0 for v in splits.values()) else f"{config} ?"
        for config, splits in validation.rows.items()
    )
    recipe = str(meta.get("recipe_hash") or "")
    model = meta.get("model")
    extra = "; ".join(x for x in (f"model {model}" if model else "", f"recipe {recipe[:12]}" if recipe else "") if x)
    auto = f"Publish {name}: {counts} rows" + (f" ({extra})" if extra else "")
    lines = [f"Built by codeverify-builder {meta.get('versions', {}).get('builder', '')}".rstrip(), ""]
    for config, splits in validation.rows.items():
        for split, n in splits.items():
            lines.append(f"- {config}/{split}: {n if n >= 0 else '?'} rows")
    for key in ("model", "backend", "seed", "recipe_hash"):
        if key in meta:
            lines.append(f"- {key}: {meta[key]}")
    sandbox = meta.get("sandbox")
    if isinstance(sandbox, dict) and sandbox.get("level"):
        lines.append(f"- sandbox: {sandbox.get('executor', '?')} ({sandbox['level']})")
    return (title or auto), "\n".join(lines)


# --- Hub side ------------------------------------------------------------------------------------------------


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _root_cause(exc: BaseException) -> BaseException:
    """The Hub or transport error inside wrappers (the LFS upload wraps them in RuntimeError)."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    seen = exc
    while seen is not None:
        if isinstance(seen, (HfHubHTTPError, httpx2.TransportError)):
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc


def _transient(exc: BaseException) -> bool:
    import httpx2

    cause = _root_cause(exc)
    return isinstance(cause, httpx2.TransportError) or _status(cause) in RETRY_STATUSES | {412}


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(_root_cause(exc), "response", None)
    value = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def with_retries(
    fn: Callable[[], T],
    what: str,
    echo: Echo,
    *,
    attempts: int | None = None,
    backoff_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``fn``; on a transient failure wait ``backoff_s * 2**i`` (or the server's Retry-After) and run it again."""
    attempts = RETRY_ATTEMPTS if attempts is None else attempts
    backoff_s = RETRY_BACKOFF_S if backoff_s is None else backoff_s
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt == attempts or not _transient(exc):
                raise
            delay = min(RETRY_MAX_DELAY_S, max(backoff_s * 2 ** (attempt - 1), _retry_after(exc) or 0.0))
            echo(f"{what}: {_short(exc)}; retrying in {delay:.1f}s (attempt {attempt + 1} of {attempts})")
            sleep(delay)
    raise AssertionError("unreachable")


def _short(exc: BaseException) -> str:
    cause = _root_cause(exc)
    status = _status(cause)
    return f"HTTP {status}" if status else type(cause).__name__


def hub_error_message(exc: BaseException, repo_id: str, endpoint: str, attempts: int = RETRY_ATTEMPTS) -> str:
    """One clear line for an error the Hub (or the network) gave."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError

    cause = _root_cause(exc)
    status = _status(cause)
    namespace = repo_id.split("/")[0]
    if isinstance(exc, OfflineModeIsEnabled) or isinstance(cause, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set: publishing needs the Hub; unset HF_HUB_OFFLINE and try again"
    if isinstance(cause, httpx2.TransportError):
        return (
            f"cannot reach the Hub at {endpoint} ({type(cause).__name__}) after {attempts} attempts;"
            " check the network and run publish again (it only uploads what changed)"
        )
    if status == 401:
        return (
            "the Hub rejected the token (401 Unauthorized): it is invalid or expired;"
            " run `hf auth login` or set HF_TOKEN to a token with write access"
        )
    if status == 403:
        return (
            f"no write access to datasets/{repo_id} (403 Forbidden): use a token with write rights"
            f" on the {namespace!r} namespace"
        )
    if isinstance(cause, RepositoryNotFoundError):
        return f"datasets/{repo_id} was not found or is not visible with this token"
    if status == 429:
        return (
            f"the Hub is rate-limiting requests (429 Too Many Requests) after {attempts} attempts;"
            " wait a few minutes and run publish again (it only uploads what changed)"
        )
    if status is not None and status >= 500:
        return (
            f"the Hub answered {status} (server error) after {attempts} attempts;"
            " try again later (publish only uploads what changed)"
        )
    if isinstance(cause, HfHubHTTPError):
        detail = (cause.server_message or str(cause)).strip().splitlines()
        return f"the Hub refused the request ({status}): {detail[0] if detail else type(cause).__name__}"
    first = str(exc).strip().splitlines()
    return f"publishing failed: {type(exc).__name__}: {first[0] if first else ''}"


def plan_publish(
    api: Any, repo_id: str, revision: str, files: Sequence[LocalFile], folders: Sequence[str]
) -> Plan:
    """Compare the local files with the remote revision (falling back to main for a branch yet to be made)."""
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    repo_exists, branch_exists = True, True
    try:
        info = api.repo_info(repo_id, repo_type="dataset", revision=revision)
    except RevisionNotFoundError:
        branch_exists = False
        info = api.repo_info(repo_id, repo_type="dataset", revision="main")
    except RepositoryNotFoundError:
        info = None
        repo_exists = branch_exists = False
    remote: dict[str, Any] = {}
    parent = None
    if info is not None:
        parent = info.sha
        for entry in api.list_repo_tree(repo_id, repo_type="dataset", revision=parent, recursive=True):
            if hasattr(entry, "blob_id"):  # a file, not a folder
                remote[entry.path] = entry
    add, keep = [], []
    for f in files:
        entry = remote.get(f.path)
        same = entry is not None and (
            entry.lfs.sha256 == f.sha256
            if entry.lfs is not None
            else entry.blob_id in (f.git_sha1, _git_sha1(_lfs_pointer(f.sha256, f.size)))
        )
        (keep.append(f.path) if same else add.append(f))
    local = {f.path for f in files}
    owned = tuple(folders) + OWNED_FOLDERS
    delete = sorted(p for p in remote if p not in local and PurePosixPath(p).parts[0] in owned and "/" in p)
    private = getattr(info, "private", None)
    return Plan(repo_id, revision, repo_exists, branch_exists, private, parent, tuple(add), tuple(keep), tuple(delete))


def _lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def describe_plan(plan: Plan) -> list[str]:
    lines = []
    for f in plan.add:
        lines.append(f"  add     {f.path} ({_size(f.size)})")
    for path in plan.keep:
        lines.append(f"  keep    {path}")
    for path in plan.delete:
        lines.append(f"  delete  {path}")
    lines.append(f"{len(plan.add)} to add, {len(plan.keep)} to keep, {len(plan.delete)} to delete")
    return lines


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def _check_repo_id(repo_id: str) -> None:
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts):
        raise UserError(f"--repo-id must be USER/NAME (or ORG/NAME), got {repo_id!r}")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise UserError(f"--repo-id {repo_id!r} is not a valid repository id: {str(exc).splitlines()[0]}") from None


def resolve_token(token: str | None = None) -> str | None:
    """``token``, else ``HF_TOKEN``, else the saved login (``huggingface_hub.get_token``)."""
    if token:
        return token
    from huggingface_hub import get_token

    return get_token()


def _offline() -> bool:
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE", "")
    return constants.is_offline_mode() or value.upper() in ("1", "ON", "YES", "TRUE")


def publish(
    dist: Path | str,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    create_pr: bool = False,
    message: str | None = None,
    dry_run: bool = False,
    token: str | None = None,
    echo: Echo = print,
    attempts: int | None = None,
    backoff_s: float | None = None,
) -> PublishResult:
    """Publish ``dist`` to the dataset repository ``repo_id`` (see the module docstring)."""
    dist = Path(dist)
    if _offline():
        raise UserError("HF_HUB_OFFLINE is set: publishing needs the Hub; unset HF_HUB_OFFLINE and try again")
    _check_repo_id(repo_id)
    token = resolve_token(token)
    if token is None and not dry_run:
        raise UserError("no Hugging Face token: set HF_TOKEN or run `hf auth login` (a token with write access)")
    branch = revision or "main"

    validation = validate_dist(dist, token=token)
    for warning in validation.warnings:
        echo(f"warning: {warning}")
    title, description = commit_summary(validation, message)

    from huggingface_hub import HfApi, constants

    from builder import __version__

    api = HfApi(token=token if token else False, library_name="codeverify-builder", library_version=__version__)
    retry = dict(attempts=attempts, backoff_s=backoff_s)
    target = f"datasets/{repo_id}@{branch}"
    try:
        if dry_run:
            plan = with_retries(
                lambda: plan_publish(api, repo_id, branch, validation.files, validation.config_folders),
                "reading the repository", echo, **retry,
            )
            result = PublishResult(plan, validation, title=title)
            state = "" if plan.repo_exists else " (the repository would be created)"
            if plan.repo_exists and not plan.branch_exists:
                state = f" (branch {branch} would be created from main)"
            echo(f"dry run: {target}{state}")
            for line in describe_plan(plan):
                echo(line)
            echo(f"commit: {title}" if plan.changes else "nothing to commit: the repository already equals the folder")
            echo("dry run: nothing was uploaded")
            return result

        user = with_retries(lambda: api.whoami(), "checking the token", echo, **retry)
        role = (user.get("auth", {}).get("accessToken", {}) or {}).get("role")
        if role == "read":
            raise UserError("the token is read-only: create a token with write access (hf.co/settings/tokens)")
        with_retries(
            lambda: api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True),
            "creating the repository", echo, **retry,
        )
        if branch != "main":
            with_retries(
                lambda: api.create_branch(repo_id, repo_type="dataset", branch=branch, exist_ok=True),
                f"creating branch {branch}", echo, **retry,
            )

        def plan_and_commit() -> PublishResult:
            plan = plan_publish(api, repo_id, branch, validation.files, validation.config_folders)
            result = PublishResult(plan, validation, title=title)
            if not plan.changes:
                return result
            result.commit_oid, result.commit_url, result.pr_url = _commit(
                api, plan, title, description, create_pr=create_pr
            )
            result.committed = True
            return result

        result = with_retries(plan_and_commit, "committing", echo, **retry)
    except UserError:
        raise
    except Exception as exc:
        message = hub_error_message(exc, repo_id, constants.ENDPOINT, attempts or RETRY_ATTEMPTS)
        raise UserError(_scrub(message, token)) from None

    for line in describe_plan(result.plan):
        echo(line)
    if private and result.plan.private is False:
        echo(f"warning: datasets/{repo_id} already exists and is public: --private does not change its visibility")
    if not result.committed:
        echo(f"nothing to commit: {target} already equals {dist}")
    elif result.pr_url:
        echo(f"opened {result.pr_url} ({result.commit_oid})")
    else:
        echo(f"committed {result.commit_oid} to {target}: {result.commit_url}")
    return result


def _commit(api: Any, plan: Plan, title: str, description: str, *, create_pr: bool) -> tuple[str, str, str | None]:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    operations: list[Any] = []
    for f in plan.add:
        op = CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=str(f.local))
        op.upload_info.sha256 = bytes.fromhex(f.sha256)  # hashed already: no second read
        operations.append(op)
    operations += [CommitOperationDelete(path_in_repo=path) for path in plan.delete]
    info = api.create_commit(
        plan.repo_id,
        operations,
        commit_message=title,
        commit_description=description,
        repo_type="dataset",
        revision=plan.revision,
        create_pr=create_pr,
        parent_commit=None if create_pr else plan.parent,
    )
    return info.oid, str(info.commit_url), info.pr_url


def _scrub(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text
