"""`datasets.Features` of every record kind, in one place.

Problems follow the normalized schema the README describes ("Re-verify solutions you already have"; also the format of the real data packs' ``problems.jsonl``).
Candidates carry the response, the extraction and the verdict columns.
"""

from __future__ import annotations

from datasets import Features, Sequence, Value

TEST = {"input": Value("string"), "output": Value("string")}

#: KodCode's ``test_info`` entries: the function the tests call, as the upstream describes it.
TEST_INFO = {
    "function_name": Value("string"),
    "parameter_list": Value("string"),
    "function_declaration": Value("string"),
    "docstring": Value("string"),
}

#: Values of a problem's ``functional_match``: how a call-based test compares the return value ``r`` with the
#: expected value ``e``. ``exact`` (also when null; LiveCodeBench): ``r == e``. ``exact_or_first`` (TACO / APPS
#: ``testing_util.py``, used by DeepCoder for its taco and primeintellect subsets): ``r == e``, or ``e`` is a
#: non-empty list and ``r == e[0]``.
FUNCTIONAL_MATCHES = ("exact", "exact_or_first")

#: Values of a problem's ``tolerance_kind``: how its ``float_tolerance`` applies to a non-integer expected number
#: ``b`` and the program's ``a`` (:func:`builder.judge.compare.within_tolerance`). ``either`` (also when null):
#: absolute or relative error, ``|a - b| <= tol * max(1, |b|)``; ``absolute``: ``|a - b| <= tol``; ``relative``:
#: ``|a - b| <= tol * |b|``.
TOLERANCE_KINDS = ("either", "absolute", "relative")

#: One reference solution's run against a problem's tests (the problems stage's validation): which solution of the
#: solutions side table (``index``, ``correct``, ``language``), its verdict, how many tests passed, and the first
#: failing test with the heads of the expected and actual outputs.
REFERENCE_RESULT = {
    "index": Value("int32"),
    "correct": Value("bool"),
    "language": Value("string"),
    "verdict": Value("string"),
    "tests_passed": Value("int32"),
    "tests_total": Value("int32"),
    "first_failed_test": Value("int32"),
    "failed_expected_head": Value("string"),
    "failed_actual_head": Value("string"),
}

#: A file a problem's checker or interactor includes when it is compiled (Kattis' ``validate.h``, ``testlib.h``).
JUDGE_FILE = {"name": Value("string"), "content": Value("string")}

#: Languages of checkers and interactors (``builder.core.languages``), and their protocols (``builder.judge.compiled``,
#: ``builder.judge.interactive``): ``testlib`` (``checker input output answer``, exit 0 accepts; an interactor
#: ``interactor input tout answer``) or ``kattis`` (problemtools' output validators: exit 42 accepts, 43 rejects).
JUDGE_PROTOCOLS = ("testlib", "kattis")

#: Normalized problem. ``test_type`` is "stdin" (default), "functional" or "pytest"; ``fn_name`` names the
#: function (or ``Solution.method``) for functional tests. Provenance columns: license, origin. The columns after
#: ``origin`` keep what an upstream offers beyond the tests (see the README's "Problem sources"): the judging rule
#: for call-based return values, open-r1/codeforces' ``official_tests_complete``, the contest date (ISO 8601, UTC:
#: time-window decontamination), tags, the editorial, and KodCode's ``style``, ``test_info`` and its own
#: ``benchmark_similarity`` (renamed: the builder's decontamination writes ``benchmark_similarity`` itself). The last
#: columns are what the problems stage adds (null where a step did not run): the float tolerance's kind
#: (``either``, ``absolute``, ``relative``; null reads as ``either``) and where the tolerance came from (``source``,
#: ``statement``), the ids of the near-duplicates merged into the problem, the decontamination scores against the
#: benchmarks (embedding cosine, 13-gram overlap) and the closest benchmark problem, and the reference-solution
#: validation: ``tests_broken`` (the tests reject every correct reference run), ``tests_weak`` (an incorrect
#: reference passes them) and each reference's result. The judging columns at the end say how a checker is written
#: (``checker_language``: python (null), cpp or c; ``checker_protocol``: testlib (null) or kattis), an interactive
#: problem's ``interactor`` (its source; the tests' inputs and outputs are the interactor's secret input and answer)
#: with its language and protocol, and ``judge_files``: files the checker or interactor includes.
PROBLEM_FEATURES = Features(
    {
        "problem_id": Value("string"),
        "source": Value("string"),
        "difficulty": Value("string"),
        "title": Value("string"),
        "problem": Value("string"),
        "tests": [TEST],
        "time_limit": Value("float64"),
        "memory_limit": Value("int64"),
        "float_tolerance": Value("float64"),
        "checker": Value("string"),
        "case_insensitive": Value("bool"),
        "test_type": Value("string"),
        "fn_name": Value("string"),
        "starter_code": Value("string"),
        "license": Value("string"),
        "origin": Value("string"),
        # what upstreams offer beyond the tests (all optional: null where the source has no such field)
        "functional_match": Value("string"),
        "official_tests_complete": Value("bool"),
        "contest_date": Value("string"),
        "tags": Sequence(Value("string")),
        "editorial": Value("string"),
        "style": Value("string"),
        "test_info": [TEST_INFO],
        "upstream_benchmark_similarity": Value("float64"),
        # what the problems stage found out (builder.problems: tolerance, dedup, decontaminate, validate)
        "tolerance_kind": Value("string"),
        "tolerance_source": Value("string"),
        "near_duplicates": Sequence(Value("string")),
        "benchmark_similarity": Value("float64"),
        "benchmark_overlap": Value("float64"),
        "benchmark_match": Value("string"),
        "tests_broken": Value("bool"),
        "tests_weak": Value("bool"),
        "reference_results": [REFERENCE_RESULT],
        # how the judge programs are written (builder.judge.compiled, builder.judge.interactive)
        "checker_language": Value("string"),
        "checker_protocol": Value("string"),
        "interactor": Value("string"),
        "interactor_language": Value("string"),
        "interactor_protocol": Value("string"),
        "judge_files": [JUDGE_FILE],
    }
)

#: Columns a problem must have; the others are filled with their defaults when missing.
PROBLEM_REQUIRED = ("problem_id", "tests")
PROBLEM_DEFAULTS: dict[str, object] = {
    "source": "unknown",
    "difficulty": "unknown",
    "title": "",
    "problem": "",
    "time_limit": None,
    "memory_limit": None,
    "float_tolerance": None,
    "checker": None,
    "case_insensitive": False,
    "test_type": "stdin",
    "fn_name": None,
    "starter_code": None,
    "license": None,
    "origin": None,
    "functional_match": None,
    "official_tests_complete": None,
    "contest_date": None,
    "tags": None,
    "editorial": None,
    "style": None,
    "test_info": None,
    "upstream_benchmark_similarity": None,
    "tolerance_kind": None,
    "tolerance_source": None,
    "near_duplicates": None,
    "benchmark_similarity": None,
    "benchmark_overlap": None,
    "benchmark_match": None,
    "tests_broken": None,
    "tests_weak": None,
    "reference_results": None,
    "checker_language": None,
    "checker_protocol": None,
    "interactor": None,
    "interactor_language": None,
    "interactor_protocol": None,
    "judge_files": None,
}

#: Reference solutions an upstream ships with its problems, one row per solution: a side table next to the
#: problems (``<out>.solutions.parquet`` from ``builder problems``), keyed by ``problem_id``, so the problems stay
#: small and a stage that validates tests with reference solutions reads only what it needs. ``correct`` is False
#: for CodeContests' ``incorrect_solutions``; ``index`` is the position in the upstream's list.
SOLUTION_FEATURES = Features(
    {
        "problem_id": Value("string"),
        "source": Value("string"),
        "correct": Value("bool"),
        "index": Value("int32"),
        "language": Value("string"),
        "code": Value("string"),
    }
)

#: Generation columns of a candidate (before execution).
GENERATION_FEATURES = {
    "candidate_id": Value("string"),
    "problem_id": Value("string"),
    "candidate_index": Value("int32"),
    # python, cpp or c (builder.core.languages): what the prompt asked for, and how the candidate is judged
    "language": Value("string"),
    "model": Value("string"),
    "response": Value("string"),
    "finish_reason": Value("string"),
    "num_tokens": Value("int32"),
}

#: Extraction columns.
EXTRACTION_FEATURES = {
    "reasoning": Value("string"),
    "solution": Value("string"),
    # "extracted" (code found in a response), "given" (solution supplied as is), "no_code"
    "extraction": Value("string"),
}

#: Verdict columns (execution + judging).
VERDICT_FEATURES = {
    "verdict": Value("string"),
    "tests_passed": Value("int32"),
    "tests_total": Value("int32"),
    "test_pass_rate": Value("float64"),
    # per-test verdicts in test order: "passed", a rejection type, "sandbox_error" or "skipped"
    "test_verdicts": Sequence(Value("string")),
    "first_failed_test": Value("int32"),  # -1 when every test passed
    "failed_expected_head": Value("string"),
    "failed_actual_head": Value("string"),
    "failed_stderr_tail": Value("string"),
    "exception": Value("string"),  # class name of the first failing test's uncaught exception
    # measurements (vary from run to run: not part of the byte-identical published configs)
    "max_cpu_s": Value("float64"),
    "max_wall_s": Value("float64"),
    "peak_memory_mb": Value("float64"),
}

#: Context copied from the problem, so statistics need no join.
CONTEXT_FEATURES = {
    "source": Value("string"),
    "difficulty": Value("string"),
}

CANDIDATE_FEATURES = Features(
    {**GENERATION_FEATURES, **EXTRACTION_FEATURES, **VERDICT_FEATURES, **CONTEXT_FEATURES}
)

#: Quarantined input rows: what was wrong, where, and the row as JSON.
QUARANTINE_FEATURES = Features(
    {"kind": Value("string"), "row_id": Value("string"), "reason": Value("string"), "row": Value("string")}
)
