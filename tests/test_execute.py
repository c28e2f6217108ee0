"""Every verdict type and the competitive-programming habits, through real sandboxes."""

from __future__ import annotations

import textwrap

import pytest

from builder.core import taxonomy as T
from builder.core.settings import ExecutionSettings
from builder.judge.execute import judge_candidate
from builder.judge.limits import limits_for
from builder.sandbox import make_sandbox

SANDBOX_KINDS = ["spawn", "auto"]


def _problem(tests: list[tuple[str, str]], **kw: object) -> dict[str, object]:
    problem: dict[str, object] = {
        "problem_id": "p",
        "tests": [{"input": i, "output": o} for i, o in tests],
        "time_limit": 1.0,
        "memory_limit": 256,
        "float_tolerance": None,
        "checker": None,
        "case_insensitive": False,
        "test_type": "stdin",
    }
    problem.update(kw)
    return problem


DOUBLE = _problem([("21\n", "42\n"), ("5\n", "10\n")])

CASES = {
    "passed": ("print(int(input()) * 2)", T.PASSED),
    "wa": ("print(int(input()) * 3)", T.WA),
    "empty_output": ("x = input()", T.EMPTY_OUTPUT),
    "no_stdin": ("print(7)", T.NO_STDIN),
    "syntax_error": ("def f(:\n    pass", T.SYNTAX_ERROR),
    "indentation_error": ("x = input()\n  print(x)", T.SYNTAX_ERROR),
    "logic_error": ("n = int(input())\nprint([1][n])", T.LOGIC_ERROR),
    "zero_division": ("n = int(input())\nprint(n // 0)", T.LOGIC_ERROR),
    "recursion_error": ("import sys\ninput()\ndef f(n): return f(n + 1)\nf(0)", T.LOGIC_ERROR),
    "runtime_error_import": ("input()\nimport no_such_module_here", T.RUNTIME_ERROR),
    "runtime_error_exit_code": ("import sys\nn = int(input())\nprint(2 * n)\nsys.exit(3)", T.RUNTIME_ERROR),
    "runtime_error_sys_exit_msg": ("import sys\ninput()\nsys.exit('bad')", T.RUNTIME_ERROR),
    "runtime_error_segfault": ("import ctypes\ninput()\nctypes.string_at(0)", T.RUNTIME_ERROR),
    "timeout_cpu": ("input()\nwhile True: pass", T.TIMEOUT),
    "timeout_sleep": ("import time\ninput()\ntime.sleep(30)", T.TIMEOUT),
    "memory": ("input()\nx = bytearray(1 << 30)\nprint(len(x))", T.MEMORY),
    "no_code": ("", T.NO_CODE),
    "thread_exception": ("import threading\ndef m():\n    int(input())\n    [][1]\nthreading.Thread(target=m).start()", T.LOGIC_ERROR),
}


@pytest.fixture(scope="module", params=SANDBOX_KINDS)
def sandbox(request: pytest.FixtureRequest):
    box = make_sandbox(request.param)
    yield box
    box.close()


@pytest.mark.parametrize("name", sorted(CASES))
def test_verdict_types(sandbox, name: str) -> None:
    code, verdict = CASES[name]
    result = judge_candidate(code, DOUBLE, sandbox, ExecutionSettings(time_limit_s=1.0))
    assert result["verdict"] == verdict, result
    assert result["tests_total"] == 2
    if verdict == T.PASSED:
        assert result["tests_passed"] == 2 and result["test_pass_rate"] == 1.0 and result["first_failed_test"] == -1
    else:
        assert result["tests_passed"] == 0


def test_partial_pass_counts_and_first_failure(sandbox) -> None:
    code = "n = int(input())\nprint(42 if n == 21 else 0)"
    result = judge_candidate(code, DOUBLE, sandbox, ExecutionSettings())
    assert result["verdict"] == T.WA
    assert (result["tests_passed"], result["test_pass_rate"], result["first_failed_test"]) == (1, 0.5, 1)
    assert result["failed_expected_head"] == "10\n" and result["failed_actual_head"] == "0\n"
    assert result["test_verdicts"] == [T.PASSED, T.WA]


def test_stop_after_timeout_is_configurable(sandbox) -> None:
    code = "import time\nn = int(input())\nif n == 21: time.sleep(30)\nprint(2 * n)"
    stopped = judge_candidate(code, _problem([("21\n", "42"), ("5\n", "10")]), sandbox, ExecutionSettings(time_limit_s=0.5))
    assert stopped["test_verdicts"] == [T.TIMEOUT, "skipped"]
    every = judge_candidate(code, _problem([("21\n", "42"), ("5\n", "10")]), sandbox, ExecutionSettings(time_limit_s=0.5, stop_on_timeout=False))
    assert every["test_verdicts"] == [T.TIMEOUT, T.PASSED] and every["verdict"] == T.TIMEOUT


HABITS = {
    "deep_recursion": """
        import sys
        sys.setrecursionlimit(10 ** 6)
        def depth(n):
            return 0 if n == 0 else depth(n - 1) + 1
        print(depth(int(input())))
    """,
    "thread_big_stack": """
        import sys, threading
        sys.setrecursionlimit(10 ** 6)
        threading.stack_size(1 << 26)
        def depth(n):
            return 0 if n == 0 else depth(n - 1) + 1
        def main():
            print(depth(int(input())))
        threading.Thread(target=main).start()
    """,
    "exit_builtin": """
        print(int(input()))
        exit()
    """,
    "open_zero": """
        data = open(0).read().split()
        print(int(data[0]))
    """,
    "stdout_buffer": """
        import sys
        n = sys.stdin.buffer.readline()
        sys.stdout.buffer.write(n.strip() + b"\\n")
    """,
    "read_twice": """
        import sys
        first = sys.stdin.read()
        second = sys.stdin.read()
        assert second == ""
        print(int(first))
    """,
}


@pytest.mark.parametrize("habit", sorted(HABITS))
def test_python_habits_pass(sandbox, habit: str) -> None:
    code = textwrap.dedent(HABITS[habit])
    problem = _problem([("100000\n", "100000\n")], time_limit=5.0, memory_limit=512)
    result = judge_candidate(code, problem, sandbox, ExecutionSettings())
    assert result["verdict"] == T.PASSED, result


def test_huge_integers_print(sandbox) -> None:
    code = "n = int(input())\nprint(10 ** n)"
    problem = _problem([("5000\n", "1" + "0" * 5000)])
    assert judge_candidate(code, problem, sandbox, ExecutionSettings())["verdict"] == T.PASSED


def test_float_tolerance_and_problem_tolerance(sandbox) -> None:
    code = "print(1 / 3)"
    assert judge_candidate(code, _problem([("", "0.3333333")]), sandbox, ExecutionSettings())["verdict"] == T.PASSED
    loose = _problem([("", "0.33")], float_tolerance=0.01)
    strict = _problem([("", "0.33")])
    assert judge_candidate(code, loose, sandbox, ExecutionSettings())["verdict"] == T.PASSED
    assert judge_candidate(code, strict, sandbox, ExecutionSettings())["verdict"] == T.WA


@pytest.mark.parametrize(("kind", "verdict"), [(None, T.PASSED), ("either", T.PASSED), ("absolute", T.WA), ("relative", T.PASSED)])
def test_the_problems_tolerance_kind_decides(sandbox, kind: str | None, verdict: str) -> None:
    # expected 2000.0, printed 2000.01: off by 0.01, which is 5e-6 of the value; the tolerance is 1e-5
    problem = _problem([("", "2000.0")], float_tolerance=1e-5, tolerance_kind=kind)
    assert judge_candidate("print(2000.01)", problem, sandbox, ExecutionSettings())["verdict"] == verdict


@pytest.mark.parametrize("kind", ["either", "absolute", "relative"])
@pytest.mark.parametrize("printed", ["nan", "inf", "-inf", "1e999", "0x0p+0", "٠.٥", "2000.0\x00"])
def test_odd_numbers_never_pass_under_any_tolerance_kind(sandbox, kind: str, printed: str) -> None:
    # NaN, infinities, an overflowing literal, a hex float, non-ASCII digits and a NUL byte are not numbers within a
    # tolerance of 2000.0, whichever rule the problem states (the tolerance of 1e9 would accept any finite number)
    problem = _problem([("", "2000.0")], float_tolerance=1e9, tolerance_kind=kind)
    assert judge_candidate(f"print({printed!r}, end='\\n')", problem, sandbox, ExecutionSettings())["verdict"] == T.WA


@pytest.mark.parametrize(("kind", "verdict"), [("absolute", T.PASSED), ("relative", T.WA)])
def test_the_tolerance_kind_decides_a_functional_result(sandbox, kind: str, verdict: str) -> None:
    # expected 0.0, returned 1e-9: within 1e-6 absolutely, but a relative tolerance of 0 allows only 0 itself
    problem = _problem([("0", "0.0")], test_type="functional", fn_name="f", float_tolerance=1e-6, tolerance_kind=kind)
    code = "def f(x):\n    return x + 1e-9\n"
    assert judge_candidate(code, problem, sandbox, ExecutionSettings())["verdict"] == verdict


CHECKER = """
import sys
inp, out, ans = (open(p).read().split() for p in sys.argv[1:4])
n = int(inp[0])
a, b = map(int, out)
sys.exit(0 if a + b == n and a > 0 and b > 0 else 1)
"""


def test_checker_program(sandbox) -> None:
    problem = _problem([("10\n", "5 5\n"), ("3\n", "1 2\n")], checker=CHECKER)
    ok = judge_candidate("n = int(input())\nprint(1, n - 1)", problem, sandbox, ExecutionSettings())
    assert ok["verdict"] == T.PASSED  # differs from the answer file, accepted by the checker
    bad = judge_candidate("n = int(input())\nprint(0, n)", problem, sandbox, ExecutionSettings())
    assert bad["verdict"] == T.WA
    broken = _problem([("10\n", "5 5\n")], checker="import sys\nundefined_name")
    assert judge_candidate("print(5, 5)", broken, sandbox, ExecutionSettings())["verdict"] == T.SANDBOX_ERROR


LIMIT_CASES = [
    # mode, problem's (time, memory), expected (cpu_s, memory_mb), origins (time, memory)
    ("own", (2.0, 256), (2.0, 256), ("own", "own")),
    ("own", (30.0, 2048), (30.0, 2048), ("own", "own")),  # own limits are never capped by default
    ("own", (None, None), (4.0, 512), ("defaulted", "defaulted")),
    ("own", (0, 0), (4.0, 512), ("defaulted", "defaulted")),  # zero states no limit
    ("own", (float("nan"), -5), (4.0, 512), ("defaulted", "defaulted")),
    ("cap", (2.0, 256), (2.0, 256), ("own", "own")),
    ("cap", (30.0, 2048), (4.0, 512), ("capped", "capped")),
    ("cap", (4.0, 512), (4.0, 512), ("own", "own")),
    ("cap", (None, 2048), (4.0, 512), ("defaulted", "capped")),
    ("flat", (2.0, 256), (4.0, 512), ("overridden", "overridden")),
    ("flat", (30.0, 512), (4.0, 512), ("overridden", "own")),
    ("flat", (None, None), (4.0, 512), ("defaulted", "defaulted")),
]


@pytest.mark.parametrize(("mode", "own", "applied", "origins"), LIMIT_CASES)
def test_limits_modes(mode: str, own: tuple, applied: tuple, origins: tuple) -> None:
    from builder.judge.limits import limit_origins

    config = ExecutionSettings(time_limit_s=4.0, memory_limit_mb=512, limits=mode)
    problem = {"time_limit": own[0], "memory_limit": own[1]}
    limits = limits_for(problem, config)
    assert (limits.cpu_s, limits.memory_mb) == applied
    assert limit_origins(problem, config) == origins


def test_default_limits_mode_is_the_problems_own() -> None:
    assert ExecutionSettings().limits == "own"
    assert limits_for({"time_limit": 90.0, "memory_limit": None}, ExecutionSettings()).cpu_s == 90.0
    with pytest.raises(ValueError, match="must be one of own, cap, flat"):
        limits_for({}, ExecutionSettings(limits="max"))


@pytest.mark.parametrize("mode", ["own", "cap", "flat"])
def test_time_scale_multiplies_the_time_limit_that_applies(mode: str) -> None:
    from builder.judge.limits import limits_line, limits_report

    problem = {"time_limit": 30.0, "memory_limit": 256}
    plain = limits_for(problem, ExecutionSettings(time_limit_s=4.0, limits=mode))
    scaled = limits_for(problem, ExecutionSettings(time_limit_s=4.0, limits=mode, time_scale=2.5))
    assert scaled.cpu_s == 2.5 * plain.cpu_s and scaled.memory_mb == plain.memory_mb
    report = limits_report([problem], ExecutionSettings(time_limit_s=4.0, limits=mode, time_scale=2.5))
    assert report["time_scale"] == 2.5 and "every time limit x2.5" in limits_line(report)
    assert "time_scale" not in limits_report([problem], ExecutionSettings(limits=mode))  # build.json as before
    from builder.core.meta import LimitsRecord

    record = LimitsRecord.model_validate(limits_report([problem], ExecutionSettings(limits=mode))).model_dump()
    assert record["time_scale"] is None and "every time limit" not in limits_line(record)  # as build.json reads back


def test_time_scale_runs_a_program_longer(sandbox) -> None:
    spin = "import time\ninput()\nend = time.process_time() + 1.5\nwhile time.process_time() < end: pass\nprint(42)"
    problem = _problem([("1\n", "42\n")], time_limit=1.0)
    assert judge_candidate(spin, problem, sandbox, ExecutionSettings())["verdict"] == T.TIMEOUT
    assert judge_candidate(spin, problem, sandbox, ExecutionSettings(time_scale=3.0))["verdict"] == T.PASSED


def test_time_scale_does_not_let_a_sleeper_run_forever(sandbox) -> None:
    # the wall limit follows the scaled CPU limit (3 x cpu + 5 s): a program that sleeps is still a timeout
    problem = _problem([("1\n", "42\n")], time_limit=0.5)
    sleeper = "import time\ninput()\ntime.sleep(60)\nprint(42)"
    result = judge_candidate(sleeper, problem, sandbox, ExecutionSettings(time_scale=2.0))
    assert result["verdict"] == T.TIMEOUT and result["max_wall_s"] < 20


def test_limits_report_counts_and_line() -> None:
    from builder.judge.limits import limits_line, limits_report

    problems = [{"time_limit": t, "memory_limit": m} for t, m in [(30.0, None), (2.0, 256), (None, 2048), (None, None)]]
    report = limits_report(problems, ExecutionSettings(time_limit_s=4.0, memory_limit_mb=512, limits="cap"))
    assert report == {
        "mode": "cap", "time_limit_s": 4.0, "memory_limit_mb": 512, "problems": 4,
        "time": {"own": 1, "capped": 1, "defaulted": 2, "overridden": 0},
        "memory": {"own": 1, "capped": 1, "defaulted": 2, "overridden": 0},
    }
    assert limits_line(report) == (
        "limits (cap; 4 s / 512 MB at most, and where a problem states none), 4 problems: "
        "time 1 own, 1 capped, 2 defaulted; memory 1 own, 1 capped, 2 defaulted"
    )
    own = limits_report(problems, ExecutionSettings(time_limit_s=4.0, memory_limit_mb=512))
    assert limits_line(own).endswith("time 2 own, 0 capped, 2 defaulted; memory 2 own, 0 capped, 2 defaulted")
    flat = limits_report(problems, ExecutionSettings(time_limit_s=4.0, memory_limit_mb=512, limits="flat"))
    assert limits_line(flat).endswith("time 0 own, 2 overridden, 2 defaulted; memory 0 own, 2 overridden, 2 defaulted")
