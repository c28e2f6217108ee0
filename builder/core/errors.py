"""Errors a user can cause. The CLI prints them as one line and exits with code 2 (never a traceback)."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input (bad recipe, missing file, malformed data): one clear line, exit 2.

    The library raises it; the command line (``builder.cli``) turns it into Click's error line and exit code 2.
    """

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def format_message(self) -> str:
        return self.message.strip().splitlines()[0] if self.message.strip() else "error"
