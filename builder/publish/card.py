"""The card rendered for the repository it is published to.

A build renders its card for ``[dataset] repo_id`` when the recipe names one, else for the local name (``demo``): its
``load_dataset`` snippets and citation URL use that id. Publishing to ``--repo-id USER/NAME`` records the id in the
folder's ``build.json`` (``dataset.repo_id``) and renders the card and charts again, so what is uploaded names the
repository it is in, and ``builder card --check`` holds on the folder and on the Hub copy alike (the card is a function
of the folder's data and ``build.json``).
"""

from __future__ import annotations

from pathlib import Path

from builder.core import meta as build_metadata
from builder.publish.hub import Echo


def card_repo_id(dist: Path) -> str:
    """The repository id the folder's card is rendered for (``[dataset] repo_id``, else the dataset's name)."""
    meta = build_metadata.read(dist)
    return meta.dataset.repo_id or meta.name


def retarget_card(dist: Path, repo_id: str, *, dry_run: bool, echo: Echo) -> bool:
    """Render the card of ``dist`` for ``repo_id`` when it names another repository; True when it did (or would)."""
    meta = build_metadata.read(dist)
    current = meta.dataset.repo_id or meta.name
    if current == repo_id:
        return False
    if dry_run:
        echo(f"card: would be rendered for {repo_id} (it names {current}): load_dataset snippets and citation URL")
        return True
    from builder.dataset.dist import render_card

    build_metadata.write(dist, meta.with_(dataset=meta.dataset.model_copy(update={"repo_id": repo_id})))
    render_card(dist)
    echo(f"card: rendered for {repo_id} (it named {current}); build.json records dataset.repo_id = {repo_id}")
    return True
