"""Errors a user can cause. The CLI prints them as one line and exits with code 2 (never a traceback)."""

from __future__ import annotations

import click


class UserError(click.ClickException):
    """A mistake in the user's input (bad recipe, missing file, malformed data): one clear line, exit 2."""

    exit_code = 2

    def format_message(self) -> str:
        return self.message.strip().splitlines()[0] if self.message.strip() else "error"
