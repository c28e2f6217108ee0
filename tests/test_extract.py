"""Unit tests of response extraction (builder/extract.py), on hand-written responses: one test per rule."""

from __future__ import annotations

import dataclasses

import pytest
from datasets import Dataset

from builder.extract import Extraction, extract_response, extract_stage, looks_like_python

PROGRAM = "n = int(input())\nprint(n * 2)"


def fence(code: str, label: str = "python", mark: str = "```") -> str:
    return f"{mark}{label}\n{code}\n{mark}"


# ------------------------------------------------------------------------------------------------ basics


def test_single_python_block_gives_the_code_and_the_text_before_as_reasoning() -> None:
    ex = extract_response(f"First read n, then double it.\n\n{fence(PROGRAM)}\n")
    assert ex == Extraction(reasoning="First read n, then double it.", code=PROGRAM, status="extracted")


def test_extraction_is_a_frozen_dataclass() -> None:
    ex = extract_response(fence(PROGRAM))
    with pytest.raises(dataclasses.FrozenInstanceError):
        ex.code = "x"  # type: ignore[misc]


@pytest.mark.parametrize("label", ["python", "py", "python3", "Python", "PY3", "python3.11", "{.python}", "python title"])
def test_python_labels(label: str) -> None:
    assert extract_response(fence(PROGRAM, label)).code == PROGRAM


def test_unlabelled_block_that_is_python_counts() -> None:
    assert extract_response(f"Solution:\n{fence(PROGRAM, '')}").code == PROGRAM


def test_surrounding_whitespace_is_stripped() -> None:
    ex = extract_response("```python\n\n\n   \n" + PROGRAM + "\n\n   \n```")
    assert ex.code == PROGRAM


def test_crlf_line_ends() -> None:
    ex = extract_response("Text\r\n```python\r\nprint(1)\r\nprint(2)\r\n```\r\n")
    assert ex.code == "print(1)\r\nprint(2)"
    assert ex.reasoning == "Text"


def test_inline_triple_backticks_in_prose_are_no_fence() -> None:
    response = f"Wrap code in ```python``` fences, like this:\n{fence(PROGRAM)}\nDone, see ```x``` above."
    assert extract_response(response).code == PROGRAM


# ------------------------------------------------------------------------------------------ which block


def test_the_last_python_block_wins() -> None:
    example = fence("def add(a, b):\n    return a + b")
    response = f"Example:\n{example}\nSolution:\n{fence(PROGRAM)}\n"
    ex = extract_response(response)
    assert ex.code == PROGRAM
    assert ex.reasoning.startswith("Example:") and ex.reasoning.endswith("Solution:")


@pytest.mark.parametrize("label", ["plaintext", "shell", "text", "json", "bash", "console", "cpp", "output"])
def test_a_block_in_another_language_is_not_code(label: str) -> None:
    response = f"{fence(PROGRAM)}\nFor example:\n{fence('print(1)', label)}\n"
    assert extract_response(response).code == PROGRAM
    assert extract_response(fence("print(1)", label)).status == "no_code"


@pytest.mark.parametrize("sample", ["4\n[1, 2]", "{'player1': [], 'player2': [[3, 3]]}", "YES", "3 4\n1 2 3", "Input: 3"])
def test_trailing_unlabelled_sample_io_blocks_are_skipped(sample: str) -> None:
    response = f"{fence(PROGRAM)}\n\nInput:\n{fence(sample, '')}\nOutput:\n{fence('6', '')}\n"
    assert extract_response(response).code == PROGRAM


def test_looks_like_python() -> None:
    assert looks_like_python(PROGRAM)
    assert looks_like_python("print(42)")
    assert looks_like_python("def f(:\n    return 1\nimport sys\nfor x in y:")  # broken, but code
    assert not looks_like_python("3\n1 2 3")
    assert not looks_like_python("YES")
    assert not looks_like_python("[1, 2, 3]")


# --------------------------------------------------------------------------------------------- fences


def test_an_unclosed_final_fence_runs_to_the_end() -> None:
    ex = extract_response("Here it is:\n```python\nimport sys\nprint(sys.stdin.read()")
    assert ex.status == "extracted"
    assert ex.code == "import sys\nprint(sys.stdin.read()"


def test_doubled_opener_and_doubled_closer_still_give_the_program() -> None:
    response = f"```python\n```python\n{PROGRAM}\n```\n```\n"
    assert extract_response(response).code == PROGRAM


def test_tilde_fences() -> None:
    assert extract_response(fence(PROGRAM, "python", "~~~")).code == PROGRAM


def test_a_longer_fence_holds_triple_backticks() -> None:
    code = 'print("""\n```\nnot a fence\n```\n""")'
    assert extract_response(fence(code, "python", "````")).code == code


def test_a_closer_must_use_the_openers_character() -> None:
    code = "x = 1\n~~~\nprint(x)"
    assert extract_response(fence(code, "python", "```")).code == code


def test_an_indented_block_in_a_list_is_dedented() -> None:
    response = "1. Read the input.\n2. The program:\n   ```python\n   def f(n):\n       return 2 * n\n\n   print(f(int(input())))\n   ```\n"
    ex = extract_response(response)
    assert ex.code == "def f(n):\n    return 2 * n\n\nprint(f(int(input())))"
    compile(ex.code, "<test>", "exec")


def test_an_empty_block_falls_back_to_an_earlier_block() -> None:
    response = f"{fence(PROGRAM)}\nAnd the final version:\n```python\n\n```\n"
    assert extract_response(response).code == PROGRAM


def test_only_an_empty_block_is_no_code() -> None:
    ex = extract_response("```python\n\n```")
    assert ex == Extraction(reasoning="```python\n\n```", code=None, status="no_code")


def test_no_fence_is_no_code_and_the_response_is_the_reasoning() -> None:
    ex = extract_response("  I could not solve this problem.  \n")
    assert ex == Extraction(reasoning="I could not solve this problem.", code=None, status="no_code")


@pytest.mark.parametrize("response", ["", None, "   \n"])
def test_empty_response_is_no_code(response: str | None) -> None:
    assert extract_response(response) == Extraction(reasoning="", code=None, status="no_code")


# -------------------------------------------------------------------------------------------- reasoning


def test_think_tags_hold_the_reasoning() -> None:
    ex = extract_response(f"<think>\nDouble it.\n</think>\nHere you go:\n{fence(PROGRAM)}")
    assert ex == Extraction(reasoning="Double it.", code=PROGRAM, status="extracted")


def test_code_only_inside_the_reasoning_does_not_count() -> None:
    ex = extract_response(f"<think>Try this:\n{fence(PROGRAM)}\n</think>\nThe answer is 42.")
    assert ex.status == "no_code"
    assert ex.code is None
    assert PROGRAM in ex.reasoning


def test_code_after_the_reasoning_wins_over_code_inside_it() -> None:
    response = f"<think>Draft:\n{fence('print(0)')}\n</think>\n{fence(PROGRAM)}\n"
    ex = extract_response(response)
    assert ex.code == PROGRAM
    assert "print(0)" in ex.reasoning


def test_an_unclosed_think_means_everything_is_reasoning() -> None:
    ex = extract_response(f"<think>Let me write it:\n{fence(PROGRAM)}\nhmm, maybe")
    assert ex.status == "no_code"
    assert ex.reasoning.startswith("Let me write it:") and ex.reasoning.endswith("hmm, maybe")


def test_a_lone_closing_think_tag_ends_reasoning_opened_by_the_template() -> None:
    ex = extract_response(f"Double the number.\n</think>\n\n{fence(PROGRAM)}")
    assert ex == Extraction(reasoning="Double the number.", code=PROGRAM, status="extracted")


def test_a_second_unclosed_think_after_the_answer_is_reasoning_too() -> None:
    response = f"<think>plan</think>\n{fence(PROGRAM)}\n<think>second thoughts:\n{fence('print(0)')}"
    ex = extract_response(response)
    assert ex.code == PROGRAM
    assert ex.reasoning.startswith("plan") and "print(0)" in ex.reasoning


# -------------------------------------------------------------------------------------------- hostile text


@pytest.mark.parametrize("code", ["x = " + "+".join(["1"] * 200_000), "x = " + "-" * 100_000 + "1"])
def test_text_too_deep_to_parse_does_not_crash(code: str) -> None:
    # ast.parse raises RecursionError / MemoryError on these; extraction must still answer
    assert extract_response(fence(code)).code == code
    assert extract_response(f"{fence(code)}\n{fence('main()')}").code == "main()"
    assert extract_response(f"{fence(MAIN)}\n{fence(code)}").code == code
    assert extract_response(f"{fence(MAIN)}\n{fence(code, '')}").code == MAIN  # unlabelled, unparsable, one line


# -------------------------------------------------------------------------------------------- fragments

MAIN = "import sys\nimport threading\n\ndef main():\n    n = int(sys.stdin.readline())\n    print(n * 2)"
THREAD = "threading.Thread(target=main).start()"


def test_a_fragment_that_runs_earlier_definitions_is_joined_to_them() -> None:
    response = f"The program:\n{fence(MAIN)}\nThen run main in a thread:\n{fence(THREAD)}\n"
    ex = extract_response(response)
    assert ex.code == MAIN + "\n\n" + THREAD
    assert ex.reasoning == "The program:"


def test_top_level_set_up_does_not_make_definitions_a_complete_program() -> None:
    setup = MAIN.replace("\n\ndef main", "\n\nsys.setrecursionlimit(1 << 25)\nthreading.stack_size(1 << 26)\ninput = sys.stdin.readline\n\ndef main")
    ex = extract_response(f"{fence(setup)}\nRun it:\n{fence(THREAD)}\n")
    assert ex.code == setup + "\n\n" + THREAD


@pytest.mark.parametrize("entry", ["main()", 'if __name__ == "__main__":\n    main()', "data = sys.stdin.read()"])
def test_a_fragment_after_a_complete_program_stays_the_last_block(entry: str) -> None:
    program = MAIN + "\n\n" + entry
    ex = extract_response(f"{fence(program)}\nOr in a thread:\n{fence(THREAD)}\n")
    assert ex.code == THREAD  # the earlier block runs by itself: nothing to join, the rule takes the last block


def test_without_fragment_resolution_the_last_block_is_taken_as_is() -> None:
    response = f"{fence(MAIN)}\nThen run main in a thread:\n{fence(THREAD)}\n"
    assert extract_response(response, resolve_fragments=False).code == THREAD


def test_a_demo_after_a_complete_program_is_the_final_block() -> None:
    program = "def solve(a, b):\n    return a + b\n\na, b = map(int, input().split())\nprint(solve(a, b))"
    demo = "# Sample Input 1\nprint(solve(2, 3))  # Expected Output: 5"
    response = f"{fence(program)}\nLet's run it on the samples:\n{fence(demo)}\n"
    assert extract_response(response).code == demo
    assert extract_response(response, resolve_fragments=False).code == demo


def test_a_last_block_that_defines_functions_is_never_a_fragment() -> None:
    example = "def solve(a, b):\n    return a * b"
    final = "def helper(a):\n    return solve(a, a)\n\nprint(helper(int(input())))"
    assert extract_response(f"{fence(example)}\n{fence(final)}").code == final


def test_a_fragment_with_no_earlier_definition_stays_as_is() -> None:
    response = f"{fence('print(1)')}\n{fence(THREAD)}"
    assert extract_response(response).code == THREAD


# ------------------------------------------------------------------------------------------------ stage


def _candidates() -> Dataset:
    return Dataset.from_list(
        [
            {"candidate_id": "p_0", "response": f"Reason.\n{fence(PROGRAM)}", "solution": None},
            {"candidate_id": "p_1", "response": None, "solution": "print(1)"},
            {"candidate_id": "p_2", "response": "", "solution": "print(2)"},
            {"candidate_id": "p_3", "response": "No idea.", "solution": None},
            {"candidate_id": "p_4", "response": f"<think>{fence(PROGRAM)}", "solution": "print(3)"},
            {"candidate_id": "p_5", "response": None, "solution": "  "},
        ]
    )


def test_extract_stage_adds_the_columns() -> None:
    out = extract_stage(_candidates())
    assert out.column_names == ["candidate_id", "response", "reasoning", "solution", "extraction"]
    assert out["extraction"] == ["extracted", "given", "given", "no_code", "no_code", "no_code"]
    assert out["solution"] == [PROGRAM, "print(1)", "print(2)", "", "", ""]
    assert out["reasoning"] == ["Reason.", "", "", "No idea.", fence(PROGRAM), ""]
    assert out.features["extraction"].dtype == "string"


def test_extract_stage_without_a_solution_column() -> None:
    out = extract_stage(Dataset.from_list([{"response": fence(PROGRAM)}]))
    assert out.to_list() == [{"response": fence(PROGRAM), "reasoning": "", "solution": PROGRAM, "extraction": "extracted"}]


def test_extract_stage_is_deterministic_and_the_same_with_workers() -> None:
    ds = _candidates()
    one, again, two = extract_stage(ds), extract_stage(ds), extract_stage(ds, num_proc=2)
    assert one.to_list() == again.to_list() == two.to_list()
    assert one._fingerprint == again._fingerprint
    assert extract_stage(ds, resolve_fragments=False)._fingerprint != one._fingerprint


def test_extract_stage_passes_the_fragment_option_through() -> None:
    ds = Dataset.from_list([{"response": f"{fence(MAIN)}\n{fence(THREAD)}"}])
    assert extract_stage(ds)["solution"] == [MAIN + "\n\n" + THREAD]
    assert extract_stage(ds, resolve_fragments=False)["solution"] == [THREAD]


def test_extract_stage_needs_a_response_or_solution_column() -> None:
    with pytest.raises(ValueError, match="response"):
        extract_stage(Dataset.from_list([{"candidate_id": "x"}]))
