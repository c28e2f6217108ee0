"""Every flag (``--name``) and recipe key (``section.key``) the code names in a string exists.

The strings of ``builder/``, ``charts/`` and ``dataset_card/`` (messages, help, docstrings) are scanned with ``ast``:
a ``--flag`` must be an option of some ``builder`` command (or of the other program the string names, listed in
``FOREIGN``), and a ``section.key`` must be a field of that recipe section. The messages that tell a ``builder build``
user what to pass are checked against ``build``'s own options.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from builder.cli import cli
from builder.core.recipe import HINTS  # keys people write that do not exist, with the hint the error gives
from builder.core.settings import SECTIONS, Recipe, SourceSettings

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("builder", "charts", "dataset_card")
FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)")
KEY = re.compile(r"(?<![\w.])(" + "|".join(sorted({*SECTIONS, "sources"})) + r")\.([a-z_][a-z0-9_]*)\b(?!\.)(?!\()")
#: flags of other programs, by a word of the same string that says which program
FOREIGN = {
    "cap-add": "docker", "user": "systemd-run", "scope": "systemd-run",
    "multiprocessing-fork": "multiprocessing", "check": "just",
}
#: file names that look like section.key (``prompt.py``)
EXTENSIONS = {"py", "toml", "json", "jsonl", "parquet", "md", "png", "j2", "txt", "log", "csv", "arrow"}


def strings(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def all_strings() -> Iterator[tuple[str, int, str]]:
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            for line, text in strings(path):
                yield str(path.relative_to(ROOT)), line, text


def command_options(command: click.Command) -> set[str]:
    out = {opt[2:] for p in command.params for opt in (*p.opts, *p.secondary_opts) if opt.startswith("--")}
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            out |= command_options(sub)
    return out


def section_fields(section: str) -> set[str]:
    model = SourceSettings if section == "sources" else SECTIONS[section]
    return set(model.model_fields)


def test_the_scan_finds_what_it_looks_for() -> None:
    assert FLAG.findall("pass --allow-unsandboxed or --n 2, not x--y") == ["allow-unsandboxed", "n"]
    assert KEY.findall("set execution.allow_unsandboxed = true; prompt.py; builder.dataset.card; model.path") == [
        ("execution", "allow_unsandboxed"), ("prompt", "py"), ("model", "path")
    ]
    found = list(all_strings())
    assert sum("--" in text for _, _, text in found) > 20  # the scan reads the code's strings


def test_every_flag_named_in_the_code_exists() -> None:
    options = command_options(cli) | {"help", "version"}
    bad = []
    for where, line, text in all_strings():
        for flag in FLAG.findall(text):
            if flag in options:
                continue
            program = FOREIGN.get(flag)
            if program is not None and program in text:
                continue
            bad.append(f"{where}:{line}: --{flag} in {text[:100]!r}")
    assert not bad, "flags that no builder command has:\n" + "\n".join(bad)


def test_every_recipe_key_named_in_the_code_exists() -> None:
    bad = []
    for where, line, text in all_strings():
        for section, key in KEY.findall(text):
            if key in EXTENSIONS or key in section_fields(section) or f"{section}.{key}" in HINTS:
                continue
            bad.append(f"{where}:{line}: {section}.{key} in {text[:100]!r}")
    assert not bad, "recipe keys that no section has:\n" + "\n".join(bad)


def test_top_level_keys_named_as_recipe_keys_exist() -> None:
    # the README and messages say `seed`, `name` at the top level of a recipe
    assert {"name", "seed", "sources", "model"} <= set(Recipe.model_fields)


@pytest.mark.parametrize("command", ["build", "verify", "sandbox-check"])
def test_the_sandbox_refusal_names_a_flag_of_each_command_that_runs_code(command: str) -> None:
    """The refusal says "pass --allow-unsandboxed": every command that runs candidates must have that flag."""
    from builder.sandbox.forkserver import ForkServerSandbox

    refusal_source = Path(ForkServerSandbox.refusal.__code__.co_filename).read_text(encoding="utf-8")
    assert "--allow-unsandboxed" in refusal_source
    assert "allow-unsandboxed" in command_options(cli.commands[command])


def test_build_with_allow_unsandboxed_sets_the_recipe_key(tmp_path: Path) -> None:
    from builder.core.recipe import apply_overrides, load_recipe

    recipe = load_recipe(ROOT / "recipes" / "demo.toml")
    assert recipe.execution.allow_unsandboxed is False
    overridden, notes = apply_overrides(recipe, {"allow_unsandboxed": True})
    assert overridden.execution.allow_unsandboxed is True
    assert notes == ["note: --allow-unsandboxed overrides recipe value false -> true"]
