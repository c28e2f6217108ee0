"""The command line a new user meets: whole descriptions, help on every option, the shipped recipes, a dry run, -q/-v."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from builder.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def _commands(group: click.Group) -> list[tuple[str, click.Command]]:
    return [(name, group.commands[name]) for name in sorted(group.commands)]


def test_top_level_help_shows_each_command_description_whole() -> None:
    out = CliRunner().invoke(cli, ["--help"], terminal_width=80).output
    commands = out[out.index("Commands:"):]
    assert "..." not in commands and "…" not in commands
    flat = " ".join(out.split())
    for _, command in _commands(cli):
        first = " ".join((command.help or "").strip().split("\n\n")[0].split())
        assert first and first in flat, first


def test_every_option_of_every_command_has_help() -> None:
    missing = []
    for scope, command in [("builder", cli), *_commands(cli)]:
        for param in command.params:
            if isinstance(param, click.Option) and not (param.help or "").strip() and "--help" not in param.opts:
                missing.append(f"{scope} {'/'.join(param.opts)}")
    assert not missing, missing


def test_recipes_lists_the_shipped_recipes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # found next to the package, not only in the current directory
    result = CliRunner().invoke(cli, ["recipes"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    shipped = sorted(p.name for p in (ROOT / "recipes").glob("*.toml"))
    assert len(lines) == len(shipped)
    assert any("demo.toml: dataset demo" in ln and "model models/demo (vllm), n 8" in ln for ln in lines)
    assert any("opencode-sft.toml: dataset opencode-sft" in ln and "Qwen/Qwen3-Coder-30B-A3B-Instruct" in ln for ln in lines)


def test_dry_run_checks_and_plans_without_an_engine(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from builder.cli import cli\n"
        f"try:\n    cli(['build', '--recipe', 'recipes/demo.toml', '--dry-run', '--dist-dir', {str(tmp_path / 'd')!r}, '--work-dir', {str(tmp_path / 'w')!r}], standalone_mode=False)\n"
        "finally:\n    print('VLLM_IMPORTED', 'vllm' in sys.modules, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "VLLM_IMPORTED False False"
    text = "\n".join(lines)
    assert "recipe recipes/demo.toml: valid (dataset demo, seed 1234)" in text
    assert "model: local folder models/demo (backend vllm)" in text
    assert "problems: total: 30 problems, 0 quarantined rows" in text
    assert "sandbox: " in text
    assert "work: 30 problems x 8 samples = 240 candidates in 1 chunk of up to 64 problems" in text
    assert "dry run: no engine started" in text
    assert not (tmp_path / "d").exists() and not (tmp_path / "w").exists()
    assert "Hashing statements" not in out.stderr  # no per-step bars of the problems stage


def test_dry_run_fails_like_the_build_on_a_bad_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(cli, ["build", "--recipe", "recipes/demo.toml", "--dry-run", "--model", "models/none"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == "Error: model.path (--model) models/none: no such model folder"


@pytest.mark.parametrize(("flags", "level"), [([], 1), (["-q"], 0), (["--quiet"], 0), (["-v"], 2), (["--verbose"], 2)])
def test_quiet_and_verbose_set_the_run_verbosity(flags: list[str], level: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from builder.core import progress

    monkeypatch.setattr(progress, "VERBOSITY", 1)
    monkeypatch.delenv("BUILDER_VERBOSITY", raising=False)
    result = CliRunner().invoke(cli, [*flags, "recipes"])
    assert result.exit_code == 0, result.output
    assert progress.VERBOSITY == level
    import os

    assert os.environ["BUILDER_VERBOSITY"] == str(level)
    monkeypatch.delenv("BUILDER_VERBOSITY")


def test_quiet_and_verbose_exclude_each_other() -> None:
    result = CliRunner().invoke(cli, ["-q", "-v", "recipes"])
    assert result.exit_code == 2 and "-q and -v exclude each other" in result.output
