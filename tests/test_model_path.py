"""A model path that looks local and does not exist fails at once, in one line, before any engine starts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder.cli import cli
from builder.core.errors import UserError
from builder.core.settings import ModelSettings
from builder.generate.backends import check_model, looks_local, make_backend

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("path", "local"),
    [
        ("/abs/model", True), ("./models/demo", True), ("../m", True), ("~/m", True), ("models/demo/", True),
        ("a/b/c", True), ("C:\\models\\m", True), ("has space/x", True),
        ("Qwen/Qwen3-Coder-30B-A3B-Instruct", False), ("gpt2", False), ("org/name.v1", False),
        ("models/demo-typo", True),  # models/ is a folder here: a typo of a local path, not a Hub id
    ],
)
def test_what_looks_local(path: str, local: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert looks_local(path) is local


def test_a_missing_local_model_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    start = time.monotonic()
    with pytest.raises(UserError, match=r"^model.path \(--model\) models/demo-typo: no such model folder$"):
        make_backend(ModelSettings(path="models/demo-typo"), 0)  # never imports vLLM, never asks the Hub
    assert time.monotonic() - start < 1.0


def test_a_folder_without_config_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a model folder"):
        check_model(ModelSettings(path=str(tmp_path)))
    assert check_model(ModelSettings(path=str(ROOT / "models" / "demo"))).startswith("local folder")


def test_an_uncached_hub_id_fails_at_once_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(UserError, match="not in the Hugging Face cache, and HF_HUB_OFFLINE is set"):
        check_model(ModelSettings(path="nobody/no-such-model"))
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert check_model(ModelSettings(path="nobody/no-such-model")) == "Hub model nobody/no-such-model"


def test_build_with_a_bad_model_path_is_one_line_and_quick(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(ROOT)
    start = time.monotonic()
    result = CliRunner().invoke(
        cli, ["build", "--recipe", "recipes/demo.toml", "--model", "./models/nope", "--dist-dir", str(tmp_path / "d"), "--work-dir", str(tmp_path / "w")]
    )
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1] == "Error: model.path (--model) ./models/nope: no such model folder"
    assert time.monotonic() - start < 20.0  # imports only (a loaded 2-core machine); the Hub's retries took 32 s
    assert not (tmp_path / "d").exists()
