"""What the configs say to a model: each problem's statement (line endings normalized), the build's prompt messages
for it, the assistant text of a candidate, and the problem's licence, for every config that needs them.

Statements come from many upstreams and some carry ``\\r\\n`` or lone ``\\r`` line ends (24 of the demo's 30 do).
Every published statement, prompt and title has them turned into ``\\n``; nothing else in the text changes. Test
inputs and outputs are data, not statements: they are never touched.
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset

from builder.core import languages as L
from builder.core.prompt import build_messages
from builder.core.settings import PromptSettings

#: The problem columns that are statement text: published with normalized line endings.
STATEMENT_COLUMNS = ("problem", "title", "starter_code")


def normalize_line_endings(text: str | None) -> str | None:
    """``text`` with ``\\r\\n`` and lone ``\\r`` turned into ``\\n``; None stays None."""
    if not text or "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def response_text(response: str | None, solution: str | None, language: str | None = None) -> str:
    """The assistant text of a candidate: its raw response; a bare solution becomes one fenced block of its language
    (Python by default)."""
    if response is not None:
        return response
    return f"```{L.SPECS[L.normalize(language)].fence}\n{(solution or '').rstrip()}\n```"


class ProblemPrompts:
    """Problem rows by id (only the columns prompts and licences need), for building messages."""

    def __init__(self, problems: Dataset, prompt: PromptSettings) -> None:
        self.prompt = prompt
        self.system, self.user = prompt.system, prompt.user
        cols = [c for c in ("problem_id", *STATEMENT_COLUMNS, "license") if c in problems.column_names]
        table = problems.with_format("arrow").select_columns(cols)[:] if len(problems) else None
        self.rows: dict[str, dict[str, Any]] = {}
        if table is not None:
            for row in table.to_pylist():
                for name in STATEMENT_COLUMNS:
                    if name in row:
                        row[name] = normalize_line_endings(row[name])
                self.rows[row["problem_id"]] = row

    def get(self, problem_id: str) -> dict[str, Any]:
        return self.rows.get(problem_id, {"problem_id": problem_id, "problem": ""})

    def statement(self, problem_id: str) -> str:
        return self.get(problem_id).get("problem") or ""

    def messages(self, problem_id: str, language: str | None = None) -> list[dict[str, str]]:
        """The build's prompt for the problem in ``language`` (Python by default): the system message (if any) and the
        user message."""
        return build_messages(self.get(problem_id), self.prompt.system_for(L.normalize(language)), self.user)

    def license(self, problem_id: str) -> str | None:
        return self.get(problem_id).get("license")
