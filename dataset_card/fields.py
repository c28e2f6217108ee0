"""What every column of every config means (the card's field tables). Types come from the parquet schema."""

from __future__ import annotations

from typing import Any

from datasets import Features, LargeList, List, Value

_MESSAGES = "list of `{role, content}` messages (TRL conversational format)"
_LICENSE = "licence of the problem, from its source"

FIELDS: dict[str, dict[str, str]] = {
    "sft": {
        "id": "`{problem_id}_sft_{candidate_index}`",
        "problem": "the problem statement",
        "response": "the model's full response (reasoning and final program); a bare solution is wrapped in one code block of its language",
        "solution": "the program extracted from the response, as executed (a C or C++ one compiled first)",
        "test_pass_rate": "tests passed / tests run (1.0 here: every SFT row passed every test)",
        "tests_passed": "tests passed",
        "tests_total": "tests of the problem",
        "source": "where the problem comes from",
        "difficulty": "the source's difficulty: a Codeforces rating or a label, `unknown` when absent",
        "language": "the language the prompt asked for and the program is written in: `python`, `cpp` (C++17) or `c` (C17)",
        "problem_id": "the problem (join key to `problems`)",
        "candidate_id": "the candidate (join key to `candidates`)",
        "license": _LICENSE,
        "messages": f"{_MESSAGES}: the prompt (system + user) and the response as the assistant turn",
    },
    "sft_tokenized": {
        "id": "the `sft` row's `id`",
        "problem_id": "the problem (join key to `problems`)",
        "candidate_id": "the candidate (join key to `candidates`)",
        "license": _LICENSE,
        "chat_template_applied": "the `sft` row's `messages` through the tokenizer's chat template",
        "input_ids": "`chat_template_applied` tokenized (no special tokens added: the template writes its own); decodes back to it exactly",
        "labels": "the token id on the assistant turns (through their end-of-turn token), `-100` on every other token; no `attention_mask`: it is all ones before padding, and collators make it",
    },
    "dpo": {
        "prompt": f"{_MESSAGES}: system + user, shared by both completions",
        "chosen": "one assistant message: a response that passed every test",
        "rejected": "one assistant message: a response that failed (never a `sandbox_error`)",
        "problem_id": "the problem",
        "rejection_type": "why the rejected response failed (the taxonomy above)",
        "chosen_id": "`candidate_id` of the chosen response (see the `candidates` config)",
        "rejected_id": "`candidate_id` of the rejected response",
        "chosen_pass_rate": "test pass rate of the chosen response (1.0)",
        "rejected_pass_rate": "test pass rate of the rejected response",
        "source": "where the problem comes from",
        "difficulty": "the source's difficulty label or rating",
        "language": "the language of the prompt and of both responses (pairs never mix languages)",
        "license": _LICENSE,
    },
    "kto": {
        "prompt": f"{_MESSAGES}: system + user",
        "completion": "one assistant message: the response",
        "label": "true (desirable) when the response passed every test, false when it failed (never a `sandbox_error`)",
        "problem_id": "the problem (join key to `problems`)",
        "candidate_id": "the candidate (join key to `candidates`)",
        "verdict": "`passed` or the rejection type",
        "reward": "the response's reward (see `candidates.reward`)",
        "source": "where the problem comes from",
        "difficulty": "the source's difficulty label or rating",
        "language": "the language the prompt asked for and the program is written in: `python`, `cpp` (C++17) or `c` (C17)",
        "license": _LICENSE,
    },
    "candidates": {
        "candidate_id": "`{problem_id}_{candidate_index}` (or the id a verified corpus gave)",
        "problem_id": "the problem",
        "candidate_index": "index of the sample among the problem's candidates (in a build of k languages, language i has indices i*n .. i*n+n-1)",
        "language": "the language the prompt asked for and the program is written in: `python`, `cpp` (C++17) or `c` (C17)",
        "model": "the generating model, where known",
        "response": "the raw model response (null when a bare solution was verified)",
        "finish_reason": "why generation stopped (`stop`, `length`)",
        "num_tokens": "response length in tokens of the generation model (null when unavailable)",
        "reasoning": "the response without its final program",
        "solution": "the program that was executed",
        "extraction": "`extracted`, `given` (a bare solution) or `no_code`",
        "verdict": "`passed`, one of the nine rejection types, or `sandbox_error`",
        "tests_passed": "tests passed",
        "tests_total": "tests of the problem",
        "test_pass_rate": "tests_passed / tests_total",
        "test_verdicts": "per-test verdicts in test order (`passed`, a rejection type, `sandbox_error` or `skipped`)",
        "first_failed_test": "index of the first failing test, -1 when every test passed",
        "failed_expected_head": "first 200 characters of that test's expected output",
        "failed_actual_head": "first 200 characters of what the program printed on it (null for `timeout` and `memory`: a killed program's partial output depends on when it was killed)",
        "failed_stderr_tail": "last 1,000 characters of its standard error, machine paths replaced by `<stdlib>`, `<site-packages>`, `<builder>` (null for `timeout` and `memory`)",
        "exception": "class name of its uncaught exception (through the runner's side channel); C/C++: the uncaught C++ exception's type or the signal's name (`SIGSEGV`), `CompileError` for a compile error",
        "source": "where the problem comes from",
        "difficulty": "the source's difficulty label or rating",
        "reward": "the reward `builder.reward` gives this response: the test pass rate, or 1/0 for passed/failed, as the recipe's `[dataset] reward` says (see the training section); null for a `sandbox_error`",
        "license": _LICENSE,
    },
    "problems": {
        "problem_id": "unique id",
        "source": "where the problem comes from",
        "difficulty": "the source's difficulty label or rating",
        "title": "title",
        "problem": "the statement",
        "tests": "the tests every candidate ran: `{input, output}`",
        "time_limit": "the problem's own time limit in seconds (null: it states none, the build's default applied; the card says which limits ran)",
        "memory_limit": "the problem's own memory limit in MB (null: it states none, the build's default applied)",
        "float_tolerance": "tolerance for non-integer tokens (null: 1e-6)",
        "checker": "source of a checker program, when the problem has one",
        "case_insensitive": "yes/no answers compared case-insensitively",
        "test_type": "`stdin`, `functional` or `pytest`",
        "fn_name": "function called by functional tests",
        "starter_code": "starter code given with the statement",
        "license": "licence of the problem",
        "origin": "`owner/repo@commit:path` or dataset id it was taken from",
        "functional_match": "how a functional test compares the return value: `exact`, or `exact_or_first` (also the first element of an expected list, as TACO/APPS judge); null: exact",
        "official_tests_complete": "open-r1/codeforces: whether the official tests are the full Codeforces test set (null: not stated by the source)",
        "contest_date": "date of the contest the problem is from, ISO 8601 (LiveCodeBench, Codeforces), where the source gives it",
        "tags": "the source's topic tags",
        "editorial": "the contest's editorial (open-r1/codeforces), where the source has one",
        "style": "KodCode's task style (`instruct`, `complete`)",
        "test_info": "KodCode's description of the function the tests call",
        "upstream_benchmark_similarity": "KodCode's own similarity of the problem to benchmarks (not this build's decontamination)",
        "tolerance_kind": "how `float_tolerance` applies: `either` (absolute or relative error; also when null), `absolute`, `relative`",
        "tolerance_source": "where `float_tolerance` came from: `source` (the upstream), `statement` (read from the statement); null: none (1e-6 applies)",
        "near_duplicates": "ids of the near-duplicate problems merged into this one (MinHash LSH over word 5-grams)",
        "benchmark_similarity": "highest all-MiniLM-L6-v2 cosine to a benchmark problem (null: not computed)",
        "benchmark_overlap": "largest share of one benchmark problem's word 13-grams found in the statement (null: not computed)",
        "benchmark_match": "the closest benchmark problem, `<benchmark>/<id>`",
        "tests_broken": "the tests rejected every correct reference solution run (null: none run)",
        "tests_weak": "an incorrect reference solution passed every test (null: none run)",
        "reference_results": "each reference solution run in validation: index, correct, language, verdict, tests passed/total, first failing test with expected and actual heads",
        "checker_language": "language of `checker`: `python` (also when null), `cpp` or `c` (compiled once, run in the sandbox)",
        "checker_protocol": "`testlib` (also when null: `checker input output answer`, exit 0 accepts) or `kattis` (output validator: `validator input answer feedback_dir < output`, exit 42 accepts, 43 rejects)",
        "interactor": "source of the interactor of an interactive problem (the tests' input and output are its secret input and answer; the program sees only the conversation)",
        "interactor_language": "language of `interactor`: `python` (also when null), `cpp` or `c`",
        "interactor_protocol": "`testlib` (also when null: exit 0 accepts, 1 or 2 reject) or `kattis` (exit 42 accepts, 43 rejects)",
        "judge_files": "files the checker or interactor includes when compiled (`{name, content}`: Kattis' `validate.h`, `testlib.h`)",
        "language": "the language of the row's candidates and prompt: one row per problem and language the build asked for",
        "num_tests": "number of tests",
        "num_candidates": "candidates generated",
        "num_judged": "candidates judged (all but `sandbox_error`)",
        "num_passed": "judged candidates that passed every test",
        "pass_rate": "num_passed / num_judged (null when none judged)",
        "pass_at_1": "unbiased pass@1 (= pass_rate)",
        "pass_at_k": "unbiased pass@k for k = 1 .. num_judged (`pass_at_k[k-1]`), Chen et al. (2021)",
        "empirical_difficulty": "label from the pass rate (table above): ready for RL curricula",
        "prompt": f"{_MESSAGES}: the build's own prompt (system + user) for the problem, as GRPO-style trainers take it",
    },
}


def type_name(feature: Any) -> str:
    """A short, readable type for a datasets feature."""
    if isinstance(feature, Value):
        return feature.dtype
    if isinstance(feature, (List, LargeList)):
        return f"list[{type_name(feature.feature)}]"
    if isinstance(feature, list):
        return f"list[{type_name(feature[0])}]"
    if isinstance(feature, dict):
        return "{" + ", ".join(feature) + "}"
    return type(feature).__name__


def field_rows(config: str, features: Features) -> list[dict[str, str]]:
    """One row per column: name, type, description."""
    described = FIELDS.get(config, {})
    return [{"name": name, "type": type_name(f), "description": described.get(name, "")} for name, f in features.items()]
