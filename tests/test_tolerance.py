"""Float tolerance read from statements (value, kind, phrase) and judged by its kind: absolute, relative or either."""

from __future__ import annotations

import pytest
from datasets import Dataset

from builder.core.schema import PROBLEM_FEATURES
from builder.judge.compare import compare_functional, tokens_match, within_tolerance
from builder.problems.tolerance import add_statement_tolerances, phrasing, statement_tolerance

STATED = [
    # AtCoder, as in the lcb pack
    ("Your output will be judged as correct if the relative or absolute error from the true answer is at most 10^{-9}.", 1e-9, "either"),
    ("Your output will be considered correct when the relative or absolute error from the true value is at most 10 ^ {-5}.", 1e-5, "either"),
    ("Your answer will be considered correct if the absolute error from the true value is at most 10 ^ {-8}.", 1e-8, "absolute"),
    ("Your output will be considered correct if the absolute or relative error from the true value does not exceed 10^{-6}.", 1e-6, "either"),
    ("Answers with an absolute or relative error of at most 10^{-9} from the true answer will be considered correct.", 1e-9, "either"),
    # Codeforces ($$$ LaTeX), with the formal definition after it
    ("Your answer is considered correct if its absolute or relative error does not exceed $$$10^{-6}$$$. Formally, let "
     "your answer be $$$a$$$, and the jury's answer be $$$b$$$. Your answer is accepted if and only if "
     "$$$\\frac{|a - b|}{\\max{(1, |b|)}} \\le 10^{-6}$$$.", 1e-6, "either"),
    # Code Jam / Kick Start
    ("$y$ will be considered correct if it is within an absolute or relative error of $10^{-6}$ of the correct answer.", 1e-6, "either"),
    # plain forms
    ("Print the answer; it is accepted if it is within 1e-6 of the correct answer.", 1e-6, "absolute"),
    ("Outputs that differ from the jury's by at most 10^-4 are accepted.", 1e-4, "absolute"),
    ("The relative error of your answer must not exceed 1E-07.", 1e-7, "relative"),
    ("Print the area with an absolute error of at most 0.001.", 1e-3, "absolute"),
    ("Answers within an error of $2 \\cdot 10^{-5}$ are accepted.", 2e-5, "either"),
    ("Answers with an error of at most 5 × 10^{-7} are accepted.", 5e-7, "either"),
    ("Your answer will be accepted if its absolute or relative error does not exceed 10⁻⁶.", 1e-6, "either"),
    ("The answer is accepted if its absolute or relative error does not exceed 10<sup>-6</sup>.", 1e-6, "either"),
    # CodeContests: the superscript lost when the HTML was flattened
    ("Your answer will be considered correct if its absolute or relative error does not exceed 10 - 6.", 1e-6, "either"),
    ("The tolerance is 10^(-3).", 1e-3, "either"),
]

NOT_STATED = [
    "Print the maximum absolute difference between the total weights of any two trucks.",
    "If every pair of adjacent terms in A has an absolute difference of 1, terminate the procedure.",
    "Truncate the value of pi to N decimal places and print the result.",
    "Print the answer within 2 seconds; N is at most 10^{5}.",  # no number below 1
    "Print -1 if an error occurs. 1 \\le N \\le 10^9.",
    "",
]


@pytest.mark.parametrize("text, value, kind", STATED)
def test_tolerance_read_from_the_statement(text: str, value: float, kind: str) -> None:
    stated = statement_tolerance("Sample Input 1\n\n3\n\nSample Output 1\n\n0.5\n\n" + text + "\n\nConstraints\n\n- 1 \\le N \\le 10^5")
    assert stated is not None
    assert stated.value == pytest.approx(value, rel=1e-12) and stated.kind == kind


@pytest.mark.parametrize("text", NOT_STATED)
def test_no_tolerance_where_none_is_stated(text: str) -> None:
    assert statement_tolerance(text) is None


def test_phrasing_template_groups_statements_phrased_alike() -> None:
    a = statement_tolerance("Print it. Your output will be considered correct if the absolute or relative error from the true value is at most 10^{-6}.")
    b = statement_tolerance("Your output will be considered correct if the absolute or relative error from the true value is at most 10^{-9}.")
    assert a and b and phrasing(a.phrase) == phrasing(b.phrase) == "absolute or relative error from the true value is at most <tol>"


def test_kinds_differ_exactly_where_they_should() -> None:
    # expected 1000, off by 5e-4: relative 5e-7
    assert within_tolerance(1000.0, 1000.0005, 1e-6, "either")
    assert within_tolerance(1000.0, 1000.0005, 1e-6, "relative")
    assert not within_tolerance(1000.0, 1000.0005, 1e-6, "absolute")
    # expected 0.001, off by 5e-7: absolute 5e-7, relative 5e-4
    assert within_tolerance(0.001, 0.0010005, 1e-6, "absolute")
    assert within_tolerance(0.001, 0.0010005, 1e-6, None)
    assert not within_tolerance(0.001, 0.0010005, 1e-6, "relative")
    assert within_tolerance(0.0, 0.0, 1e-6, "relative") and not within_tolerance(0.0, 1e-12, 1e-6, "relative")
    with pytest.raises(ValueError):
        within_tolerance(1.0, 1.0, 1e-6, "loose")


def test_tokens_and_values_honour_the_kind() -> None:
    assert tokens_match("1000.0 0.5", b"1000.0005 0.5", 1e-6, kind="relative")
    assert not tokens_match("1000.0 0.5", b"1000.0005 0.5", 1e-6, kind="absolute")
    assert tokens_match("1000.0 0.5", b"1000.0005 0.5", 1e-6)  # default: either
    # abc324_f: o1-preview is off by 1.8e-8 where the statement allows 1e-9
    assert tokens_match("0.7500000000000000", b"0.7500000176463573\n")
    assert not tokens_match("0.7500000000000000", b"0.7500000176463573\n", 1e-9, kind="either")
    assert compare_functional("[1000.0]", "[1000.0005]", 1e-6, kind="relative")
    assert not compare_functional("[1000.0]", "[1000.0005]", 1e-6, kind="absolute")
    assert not compare_functional("[[1000.0]]", "[1000.0005]", 1e-6, "exact_or_first", kind="absolute")
    with pytest.raises(ValueError):
        tokens_match("1.0", b"1.0", 1e-6, kind="loose")


def _problems(rows: list[dict]) -> Dataset:
    base = {k: None for k in PROBLEM_FEATURES}
    return Dataset.from_list(
        [{**base, "tests": [{"input": "", "output": "1"}], "case_insensitive": False, "test_type": "stdin", **r} for r in rows],
        features=PROBLEM_FEATURES,
    )


def test_stage_step_fills_only_problems_without_a_tolerance() -> None:
    problems = _problems([
        {"problem_id": "a", "problem": "Print x. Your answer is accepted if its absolute error is at most 10^{-9}."},
        {"problem_id": "b", "problem": "Print x. Within 1e-3 of the answer is fine.", "float_tolerance": 1e-4},
        {"problem_id": "c", "problem": "Print the sum."},
    ])
    out = {r["problem_id"]: r for r in add_statement_tolerances(problems)}
    assert (out["a"]["float_tolerance"], out["a"]["tolerance_kind"], out["a"]["tolerance_source"]) == (1e-9, "absolute", "statement")
    assert (out["b"]["float_tolerance"], out["b"]["tolerance_kind"], out["b"]["tolerance_source"]) == (1e-4, None, "source")
    assert (out["c"]["float_tolerance"], out["c"]["tolerance_source"]) == (None, None)
