"""The one caching rule: a stage's result is reused only when everything that decides it is the same.

What decides a result, and so goes into its key (:func:`fingerprint`):

1. its **input**: the fingerprint of the ``datasets.Dataset`` it maps over, or, for a file or folder a user gives,
   the files' names, sizes and modification times (:func:`input_stamp`);
2. the **settings** that shape it (a settings model, or plain values);
3. the **code** that computes it: the source text of the modules involved (:func:`code_hash`), so a fixed bug never
   serves a result the old code cached.

Stages and what they key on: reading a table of rows (``builder.core.tables``: the input files, the row checks);
normalizing a source (``builder.problems.sources``: the upstream's fingerprint, the source's options, the adapters,
the schema and the harness); extraction (``builder.extract``: the candidates, the extraction code); generation
(``builder.generate``: each chunk's key covers the model, engine options, sampling, prompt, seed and the chunk's
problems; finished chunks are files in the work folder, so a killed build resumes); the configs
(``builder.dataset.configs``: their inputs and settings). Execution is not cached across runs here: its verdicts
depend on the machine as well as on the code (a CPU-time limit near a program's cost), so a build judges again.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import datasets


def _part(value: Any) -> Any:
    if isinstance(value, datasets.Dataset):
        return ["dataset", value._fingerprint]
    if hasattr(value, "model_dump"):
        return [type(value).__name__, value.model_dump(mode="json")]
    return value


def fingerprint(stage: str, *parts: Any, length: int = 32) -> str:
    """The cache key of ``stage`` for these inputs, settings and code hashes."""
    text = json.dumps([stage, *(_part(p) for p in parts)], sort_keys=True, default=repr, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def code_hash(*modules: ModuleType | str | Path) -> str:
    """The sha256 of the source files of ``modules`` (module objects, dotted names, or paths)."""
    digest = hashlib.sha256()
    for module in modules:
        if isinstance(module, str) and not module.endswith(".py"):
            module = sys.modules.get(module) or __import__(module, fromlist=["_"])
        path = Path(module.__file__) if isinstance(module, ModuleType) else Path(module)  # type: ignore[arg-type]
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def input_stamp(path: str | Path) -> str:
    """A file's, or a folder's files', names, sizes and modification times (a Hub id stands for itself)."""
    local = Path(path).expanduser()
    if local.is_file():
        st = local.stat()
        return f"{local.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    if local.is_dir():
        files = sorted(p for p in local.rglob("*") if p.is_file() and ".git" not in p.parts)
        return f"{local.resolve()}\n" + "\n".join(f"{p.relative_to(local)}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    return str(path)


def local_cache_dir(local: Path) -> str:
    """A datasets cache folder keyed by the local files' :func:`input_stamp`.

    ``load_dataset`` on a local folder keys its Arrow cache on the folder's configs, not on its files' contents, so a
    file changed in place would otherwise be read back stale from the cache.
    """
    return str(Path(datasets.config.HF_DATASETS_CACHE) / "builder_sources" / fingerprint("local", input_stamp(local), length=16))
