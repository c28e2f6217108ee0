"""Reference-solution validation: are a problem's tests right? Run the solutions its source ships through the judge.

Before any candidate is generated, the problems stage runs up to ``k`` correct and up to ``k`` incorrect reference
solutions per problem (the sources' solutions side table, :data:`builder.core.schema.SOLUTION_FEATURES`) through the
same sandbox and judge as candidates (:func:`judge_references`, the one call into the judge). Python only for now:
``python`` / ``python3`` references that compile (a Python 2 program is not a verdict on the tests), the first ``k``
of each kind in the source's order.

- ``tests_broken``: at least one correct reference was judged and the tests rejected every one (the failing verdicts
  are kept in ``reference_results``); such a problem is not fit for ``sft``/``dpo`` (:func:`trainable`).
- ``tests_weak``: an incorrect reference (CodeContests' ``incorrect_solutions``, a local file's ``wrong_answer``)
  passed every test.
- Both null where nothing of that kind was judged (a reference whose run failed in the executor, ``sandbox_error``,
  is not judged).

Per source (the problems' ``source``) the counts go into ``build.json`` (:class:`builder.core.meta.ValidationRecord`)
and the card: problems validated, broken and weak, and the judge's false-negative rate on correct references with its
Wilson score interval (:func:`wilson_interval`). Verdicts are cached per the caching rule
(:mod:`builder.core.caching`): the references, the problems judged, the execution settings and the code of the judge
and the sandbox decide them; a run with an executor failure is not cached.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset, Features, Value

from builder.core import taxonomy as T
from builder.core.caching import code_hash, fingerprint
from builder.core.meta import ValidationRecord, ValidationSourceRecord
from builder.core.settings import ExecutionSettings

PYTHON = frozenset({"python", "python3", "py", "py3"})
#: verdicts that say nothing about the tests: the executor failed, or there was no program
UNJUDGED = frozenset({T.SANDBOX_ERROR, T.NO_CODE})
RESULT_COLUMNS = ("verdict", "tests_passed", "tests_total", "first_failed_test", "failed_expected_head", "failed_actual_head")
REFERENCE_FEATURES = Features(
    {
        "candidate_id": Value("string"),
        "problem_id": Value("string"),
        "solution": Value("string"),
        "extraction": Value("string"),
        "ref_index": Value("int32"),
        "correct": Value("bool"),
        "language": Value("string"),
    }
)
#: the modules whose code decides a reference's verdict (the caching rule's "code")
JUDGE_MODULES = (
    "builder.problems.validate",
    "builder.judge.execute",
    "builder.judge.compare",
    "builder.judge.harness",
    "builder.judge.verdict",
    "builder.judge.limits",
)


def wilson_interval(failures: int, trials: int, z: float = 1.96) -> tuple[float, float, float] | None:
    """The rate ``failures / trials`` and its Wilson score interval (95% for z = 1.96); None without trials."""
    if trials <= 0:
        return None
    p = failures / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return p, max(0.0, centre - half), min(1.0, centre + half)


def _compiles(code: str) -> bool:
    """Does ``code`` compile as Python 3? (compiled, never run: safe in this process)."""
    try:
        compile(code, "<reference>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return False
    return True


def reference_candidates(problems: Dataset, solutions: Dataset, k: int) -> tuple[Dataset, Counter[str]]:
    """Up to ``k`` correct and ``k`` incorrect Python references per problem of ``problems`` that compile, as
    candidates (``solution`` given as is); and counts of what was left out and why."""
    from tqdm.auto import tqdm

    wanted = set(problems["problem_id"])
    taken: Counter[tuple[str, bool]] = Counter()
    skipped: Counter[str] = Counter()
    rows: dict[str, list[Any]] = {name: [] for name in REFERENCE_FEATURES}
    table = solutions.select_columns(["problem_id", "correct", "index", "language", "code"])
    with tqdm(total=len(table), desc="Choosing reference solutions", unit=" solutions", disable=len(table) < 10000) as bar:
        for batch in table.iter(batch_size=2000):
            for pid, correct, index, language, code in zip(batch["problem_id"], batch["correct"], batch["index"], batch["language"], batch["code"]):
                key = (pid, bool(correct))
                if pid not in wanted or taken[key] >= k:
                    continue
                if (language or "python").lower() not in PYTHON:
                    skipped[f"language {language}"] += 1
                    continue
                if not code or not code.strip() or not _compiles(code):
                    skipped["does not compile as Python 3"] += 1
                    continue
                taken[key] += 1
                rows["candidate_id"].append(f"{pid}/reference/{'correct' if correct else 'incorrect'}/{index}")
                rows["problem_id"].append(pid)
                rows["solution"].append(code)
                rows["extraction"].append("given")
                rows["ref_index"].append(int(index))
                rows["correct"].append(bool(correct))
                rows["language"].append(language)
            bar.update(len(batch["problem_id"]))
    return Dataset.from_dict(rows, features=REFERENCE_FEATURES), skipped


_WORKER: dict[str, Any] = {}


def _start_worker(settings: dict[str, Any]) -> None:
    """A validation worker: one sandbox (for the fork-server: one warm zygote) for all its references."""
    import atexit
    import signal

    from builder.sandbox import make_sandbox

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    config = ExecutionSettings(**settings)
    sandbox = make_sandbox(config.sandbox, allow_unsandboxed=config.allow_unsandboxed)
    atexit.register(sandbox.close)
    _WORKER.update(config=config, sandbox=sandbox)


def _judge_problem(task: tuple[dict[str, Any], list[tuple[str, str]]]) -> list[tuple[str, dict[str, Any]]]:
    from builder.judge.execute import judge_candidate

    problem, references = task
    return [(cid, judge_candidate(code, problem, _WORKER["sandbox"], _WORKER["config"])) for cid, code in references]


def _lost(error: BaseException) -> dict[str, Any]:
    return {"verdict": T.SANDBOX_ERROR, "tests_passed": 0, "tests_total": 0, "first_failed_test": -1,
            "failed_expected_head": None, "failed_actual_head": f"validation worker failed: {type(error).__name__}: {error}"[:200]}


def judge_references(references: Dataset, problems: Dataset, execution: ExecutionSettings) -> dict[str, dict[str, Any]]:
    """candidate_id -> the judge's verdict columns for every reference: the one place validation calls the judge.

    Each reference runs through :func:`builder.judge.execute.judge_candidate` (the sandbox, limits and comparison of
    candidates) in ``execution.workers`` processes with one sandbox each, a problem's references together; at most a
    few problems per worker are in flight, so memory stays flat however many problems there are.
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    from tqdm.auto import tqdm

    groups: dict[str, list[tuple[str, str]]] = {}
    for batch in references.select_columns(["candidate_id", "problem_id", "solution"]).iter(batch_size=1000):
        for cid, pid, code in zip(batch["candidate_id"], batch["problem_id"], batch["solution"]):
            groups.setdefault(pid, []).append((cid, code))
    index = {pid: i for i, pid in enumerate(problems["problem_id"])}
    results: dict[str, dict[str, Any]] = {}
    workers = max(1, min(execution.workers, len(groups)))
    pending: dict[Future[Any], str] = {}
    todo = iter(groups.items())
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
        initargs=(execution.model_dump(),),
    ) as pool, tqdm(total=len(references), desc="Validating tests with reference solutions", unit=" references") as bar:
        while True:
            while len(pending) < 4 * workers:
                item = next(todo, None)
                if item is None:
                    break
                pid, refs = item
                try:
                    pending[pool.submit(_judge_problem, (problems[index[pid]], refs))] = pid
                except BrokenProcessPool as exc:  # the pool is gone: the rest are the executor's failures
                    for rest, rest_refs in [(pid, refs), *todo]:
                        results.update((cid, _lost(exc)) for cid, _ in rest_refs)
                    break
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                pid = pending.pop(future)
                try:
                    results.update(future.result())
                except Exception as exc:  # noqa: BLE001 - a worker that died: its references are the executor's failure
                    results.update((cid, _lost(exc)) for cid, _ in groups[pid])
                bar.update(len(groups[pid]))
    return results


def _cache_dir() -> Path:
    import datasets

    return Path(datasets.config.HF_DATASETS_CACHE) / "builder_validation"


def _references_digest(references: Dataset) -> str:
    digest = hashlib.sha256()
    for batch in references.select_columns(["candidate_id", "solution"]).iter(batch_size=1000):
        for cid, code in zip(batch["candidate_id"], batch["solution"]):
            digest.update(cid.encode("utf-8", "surrogatepass") + b"\0" + code.encode("utf-8", "surrogatepass") + b"\1")
    return digest.hexdigest()


def run_references(references: Dataset, problems: Dataset, execution: ExecutionSettings) -> dict[str, dict[str, Any]]:
    """candidate_id -> the verdict columns of :data:`RESULT_COLUMNS`, from the cache when everything that decides them
    is the same (see the module's docstring)."""
    if len(references) == 0:
        return {}
    key = fingerprint(
        "validate", _references_digest(references), problems, execution, code_hash(*JUDGE_MODULES),
        code_hash(*sorted((Path(__file__).resolve().parents[1] / "sandbox").glob("*.py"))),
    )
    path = _cache_dir() / f"{key}.jsonl"
    if path.is_file():
        return {row["candidate_id"]: row for row in map(json.loads, path.read_text(encoding="utf-8").splitlines())}
    judged = judge_references(references, problems, execution)
    results = {cid: {"candidate_id": cid, **{c: verdict.get(c) for c in RESULT_COLUMNS}} for cid, verdict in judged.items()}
    if not any(r["verdict"] == T.SANDBOX_ERROR for r in results.values()):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results.values()), encoding="utf-8")
        tmp.replace(path)
    return results


@dataclass
class ValidationResult:
    problems: Dataset  # every problem, with tests_broken, tests_weak and reference_results
    record: ValidationRecord
    skipped: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        s = self.record.sources
        run = sum(x.correct_run for x in s)
        rejected = sum(x.correct_rejected for x in s)
        rate = wilson_interval(rejected, run)
        fnr = f"; false negatives on correct references {rejected}/{run} = {rate[0]:.1%} (95% CI {rate[1]:.1%}-{rate[2]:.1%})" if rate else ""
        left = f"; left out: {', '.join(f'{n} ({why})' for why, n in self.skipped.most_common())}" if self.skipped else ""
        return (
            f"validation (up to {self.record.references} references each): {sum(x.validated for x in s)} problems validated, "
            f"{sum(x.broken for x in s)} tests_broken, {sum(x.weak for x in s)} tests_weak of {sum(x.weak_checked for x in s)} "
            f"checked with incorrect references{fnr}{left}"
        )


def _outcomes(references: Dataset, results: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_problem: dict[str, list[dict[str, Any]]] = {}
    for row in references.select_columns(["candidate_id", "problem_id", "ref_index", "correct", "language"]):
        result = results[row["candidate_id"]]
        by_problem.setdefault(row["problem_id"], []).append(
            {
                "index": row["ref_index"],
                "correct": row["correct"],
                "language": row["language"],
                **{c: result[c] for c in RESULT_COLUMNS},
            }
        )
    return by_problem


def judgement(outcomes: list[dict[str, Any]]) -> tuple[bool | None, bool | None]:
    """(tests_broken, tests_weak) of a problem from its references' results."""
    correct = [o["verdict"] for o in outcomes if o["correct"] and o["verdict"] not in UNJUDGED]
    incorrect = [o["verdict"] for o in outcomes if not o["correct"] and o["verdict"] not in UNJUDGED]
    broken = None if not correct else all(v != T.PASSED for v in correct)
    weak = None if not incorrect else any(v == T.PASSED for v in incorrect)
    return broken, weak


def validate_problems(
    problems: Dataset, solutions: Dataset, execution: ExecutionSettings, *, k: int = 3
) -> ValidationResult:
    """Run up to ``k`` correct and ``k`` incorrect references per problem and mark ``tests_broken`` / ``tests_weak``."""
    references, skipped = reference_candidates(problems, solutions, k)
    wanted = set(references.unique("problem_id")) if len(references) else set()
    subset = problems.select([i for i, pid in enumerate(problems["problem_id"]) if pid in wanted]) if wanted else problems.select([])
    results = run_references(references, subset, execution)
    outcomes = _outcomes(references, results)

    def mark(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"tests_broken": [], "tests_weak": [], "reference_results": []}
        for pid, broken, weak, previous in zip(batch["problem_id"], batch["tests_broken"], batch["tests_weak"], batch["reference_results"]):
            found = outcomes.get(pid)
            if found is None:  # nothing to run: whatever an earlier validation said stays
                out["tests_broken"].append(broken)
                out["tests_weak"].append(weak)
                out["reference_results"].append(previous)
                continue
            b, w = judgement(found)
            out["tests_broken"].append(b)
            out["tests_weak"].append(w)
            out["reference_results"].append(found)
        return out

    marked = problems.map(
        mark,
        batched=True,
        batch_size=1000,
        features=problems.features,
        new_fingerprint=fingerprint("validation", problems, json.dumps(outcomes, sort_keys=True, default=str), code_hash(__name__)),
        desc="Marking validated problems",
    )
    record = ValidationRecord(references=k, sources=list(_source_records(problems, outcomes)), rejected_verdicts=_rejected(outcomes))
    return ValidationResult(problems=marked, record=record, skipped=skipped)


def _rejected(outcomes: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    counts: Counter[str] = Counter(
        o["verdict"] for found in outcomes.values() for o in found if o["correct"] and o["verdict"] not in UNJUDGED and o["verdict"] != T.PASSED
    )
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _source_records(problems: Dataset, outcomes: dict[str, list[dict[str, Any]]]) -> Iterator[ValidationSourceRecord]:
    counts: dict[str, Counter[str]] = {}
    for pid, source in zip(problems["problem_id"], problems["source"]):
        c = counts.setdefault(source or "unknown", Counter())
        c["problems"] += 1
        found = outcomes.get(pid)
        if not found:
            continue
        c["with_references"] += 1
        broken, weak = judgement(found)
        c["validated"] += broken is not None
        c["broken"] += broken is True
        c["weak_checked"] += weak is not None
        c["weak"] += weak is True
        for o in found:
            if o["verdict"] in UNJUDGED:
                c["unjudged"] += 1
            elif o["correct"]:
                c["correct_run"] += 1
                c["correct_rejected"] += o["verdict"] != T.PASSED
            else:
                c["incorrect_run"] += 1
                c["incorrect_passed"] += o["verdict"] == T.PASSED
    for source in sorted(counts):
        yield ValidationSourceRecord(source=source, **counts[source])


def trainable(problems: Dataset) -> Dataset:
    """The problems whose tests are fit to label candidates for ``sft`` and ``dpo``: not ``tests_broken``."""
    if len(problems) == 0 or not any(b is True for b in problems["tests_broken"]):
        return problems
    return problems.filter(lambda broken: broken is not True, input_columns=["tests_broken"], desc="Problems with sound tests")
