"""Publish a built ``dist/<name>/`` folder to a Hub dataset repository in one safe, idempotent commit.

Flow (:func:`publish`):

1. fail fast in offline mode (``HF_HUB_OFFLINE=1``) and without a token (``HF_TOKEN`` or the saved login);
2. render the card for ``repo_id`` when it names another repository (:mod:`builder.publish.card`: its
   ``load_dataset`` snippets and citation; ``build.json`` records the id, so ``builder card --check`` still holds);
3. validate the folder (:func:`validate_dist`): the card declares configs, every config's files exist and load
   with ``datasets.load_dataset(dist, config)``, the card and charts are up to date
   (``builder.dataset.dist.check_card``), no file is over the Hub's per-file limit, no file contains the token. A failed
   check raises :class:`~builder.errors.UserError` before anything touches the network;
4. ``create_repo(exist_ok=True, repo_type="dataset")`` (and the branch, for ``--revision``);
5. compare the local files with the remote tree (sha256 of LFS files, git blob sha1 of regular ones) and make
   ONE ``create_commit`` that adds what differs and deletes the remote files under the card's config folders and
   ``assets/`` that the folder no longer has, so those folders equal the local ones. Nothing to change: no
   commit. The commit is pinned to the revision it was planned against (``parent_commit``): if the branch moved
   in between, the plan is made again.

Transient failures (429, 5xx, dropped connections, a moved branch) are retried with exponential backoff; every
other Hub error ends in one clear line. The token goes to ``HfApi`` only: it is never printed, logged, written
into the dataset, or passed to a child process (publish starts none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from builder.core.errors import UserError
from builder.publish.card import retarget_card
from builder.publish.hub import (
    RETRY_ATTEMPTS,
    Echo,
    _check_repo_id,
    _offline,
    _scrub,
    hub_error_message,
    resolve_token,
    with_retries,
)
from builder.publish.plan import Plan, _commit, describe_plan, plan_publish
from builder.publish.validate import Validation, commit_summary, validate_dist

__all__ = ["PublishResult", "plan_publish", "publish"]



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

    validation = validate_dist(dist, token=token)  # a folder that cannot go (a token, a broken shard) stops here
    if retarget_card(dist, repo_id, dry_run=dry_run, echo=echo) and not dry_run:  # the card names where it goes
        validation = validate_dist(dist, token=token)  # the card and charts were rendered again
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
