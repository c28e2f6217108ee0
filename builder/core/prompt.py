"""Prompt construction: one problem row -> chat messages, shared by generation, demo-model training and DPO."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from builder.core.languages import DEFAULT_SYSTEMS, PYTHON

#: the system message of Python prompts (each language's default: builder.core.languages.DEFAULT_SYSTEMS)
DEFAULT_SYSTEM = DEFAULT_SYSTEMS[PYTHON]
DEFAULT_USER = "Solve the following problem.\n\n{problem}"


def build_messages(problem: Mapping[str, Any], system: str | None, user_template: str) -> list[dict[str, str]]:
    """Messages for one problem: an optional system message, then the user template with the statement.

    ``user_template`` may use ``{problem}``, ``{title}`` and ``{starter_code}``; other braces must be doubled.
    """
    user = user_template.format(
        problem=problem.get("problem") or "",
        title=problem.get("title") or "",
        starter_code=problem.get("starter_code") or "",
    )
    messages: list[dict[str, str]] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": user})
    return messages
