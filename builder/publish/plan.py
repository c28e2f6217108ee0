"""What one publish commit does: the local files against the remote tree (sha256 of LFS files, git blob ids of the
others), the operations that make the config folders and ``assets/`` equal the local ones, and the commit itself."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from builder.publish.validate import OWNED_FOLDERS, LocalFile


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
