"""C and C++ candidates, compiled checkers and interactive problems through the real sandbox and judge.

Every program here is compiled inside the sandbox and judged by ``judge_candidate`` as a build judges it; the Kattis
cases use problemtools' real validators (tests/fixtures/kattis, MIT / CC-BY-SA, see its README).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from builder.core import taxonomy as T
from builder.core.errors import UserError
from builder.core.settings import ExecutionSettings
from builder.extract import extract_response
from builder.judge.compiled import compile_command, static_available, toolchain_problem
from builder.judge.execute import judge_candidate
from builder.sandbox.forkserver import ForkServerSandbox
from kattis_judges import EXPECTED, problems_with_judges
from tiers.support import environment_in_scratch, program_processes

pytestmark = pytest.mark.skipif(toolchain_problem("cpp") is not None, reason="no g++ on this machine")
KATTIS = Path(__file__).resolve().parent / "fixtures" / "kattis"
CONFIG = ExecutionSettings(time_limit_s=2.0, memory_limit_mb=256, retries=0)

SUM_CPP = "#include <iostream>\nint main() { long long a, b; std::cin >> a >> b; std::cout << a + b << '\\n'; }\n"


def _problem(tests: list[tuple[str, str]], **extra: object) -> dict:
    return {"problem_id": "p", "tests": [{"input": i, "output": o} for i, o in tests], "time_limit": None,
            "memory_limit": None, "float_tolerance": None, "checker": None, "test_type": "stdin", **extra}


@pytest.fixture(scope="module")
def sandbox():
    try:
        box = ForkServerSandbox()
    except UserError as exc:
        pytest.skip(f"no isolation on this machine: {exc}")
    yield box
    box.close()


# --- the compile step -------------------------------------------------------------------------------------------------


def test_compile_flags_are_the_judges_ones() -> None:
    cpp = compile_command("cpp", "solution.cpp")
    assert cpp[:4] == ["g++", "-std=gnu++17", "-O2", "-pipe"] and cpp[-4:] == ["-o", "solution", "solution.cpp", "-lm"]
    assert ("-static" in cpp) == static_available("cpp")
    assert compile_command("c++", "x.cpp") == compile_command("cpp", "x.cpp")
    assert compile_command("c", "solution.c")[:2] == ["gcc", "-std=gnu17"]
    with pytest.raises(ValueError):
        compile_command("python", "x.py")


def test_a_cpp_candidate_is_compiled_once_and_runs_every_test(sandbox: ForkServerSandbox) -> None:
    problem = _problem([("1 2\n", "3\n"), ("40 2\n", "42\n"), ("-5 5\n", "0\n")])
    out = judge_candidate(SUM_CPP, problem, sandbox, CONFIG, "cpp")
    assert out["verdict"] == T.PASSED and out["test_verdicts"] == [T.PASSED] * 3, out
    wrong = judge_candidate(SUM_CPP.replace("a + b", "a - b"), problem, sandbox, CONFIG, "c++")
    assert wrong["verdict"] == T.WA and wrong["first_failed_test"] == 0 and wrong["failed_actual_head"] == "-1\n"


def test_a_compile_error_is_syntax_error_with_the_diagnostics(sandbox: ForkServerSandbox) -> None:
    problem = _problem([("1 2\n", "3\n"), ("4 5\n", "9\n")])
    out = judge_candidate("int main() { return undefined_name; }\n", problem, sandbox, CONFIG, "cpp")
    assert out["verdict"] == T.SYNTAX_ERROR and out["test_verdicts"] == [T.SYNTAX_ERROR, "skipped"]
    assert "undefined_name" in out["failed_stderr_tail"] and out["exception"] == "CompileError"
    python_in_c = judge_candidate("print(int(input()) * 2)\n", problem, sandbox, CONFIG, "c")
    assert python_in_c["verdict"] == T.SYNTAX_ERROR
    assert program_processes(sandbox) == []


def test_the_taxonomy_for_binaries(sandbox: ForkServerSandbox) -> None:
    problem = _problem([("21\n", "42\n")])

    def verdict(source: str, language: str = "c") -> dict:
        return judge_candidate(textwrap.dedent(source), problem, sandbox, CONFIG, language)

    assert verdict('#include <stdio.h>\nint main(void){puts("0");return 0;}')["verdict"] == T.NO_STDIN
    assert verdict('#include <unistd.h>\nint main(void){char b[8]; read(0, b, 1); return 0;}')["verdict"] == T.EMPTY_OUTPUT
    segv = verdict('#include <stdio.h>\nint main(void){int n; scanf("%d",&n); return *(volatile int*)0;}')
    assert segv["verdict"] == T.RUNTIME_ERROR and segv["exception"] == "SIGSEGV"
    thrown = verdict('#include <iostream>\n#include <vector>\nint main(){int n; std::cin>>n; return std::vector<int>().at(n);}', "cpp")
    assert thrown["verdict"] == T.RUNTIME_ERROR and thrown["exception"] == "std::out_of_range"
    bad_alloc = verdict('#include <iostream>\n#include <vector>\nint main(){int n; std::cin>>n; std::vector<long long> v(1ULL<<40, n); std::cout<<v[0];}', "cpp")
    assert bad_alloc["verdict"] == T.MEMORY and bad_alloc["exception"] == "std::bad_alloc"
    if sandbox.features.get("cgroup"):  # the exact verdict: the kernel's OOM kill in the test's memory group
        touched = verdict('#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\nint main(void){int n; scanf("%d",&n); '
                          'for(;;){char*p=malloc(1<<24); if(!p) return 9; memset(p,n,1<<24);}}')
        assert touched["verdict"] == T.MEMORY, touched
    spin = verdict('#include <stdio.h>\nint main(void){int n; scanf("%d",&n); for(volatile long i=0;;i++){} }')
    assert spin["verdict"] == T.TIMEOUT and spin["max_cpu_s"] >= 1.9
    exit3 = verdict('#include <stdio.h>\nint main(void){int n; scanf("%d",&n); printf("%d\\n", 2*n); return 3;}')
    assert exit3["verdict"] == T.RUNTIME_ERROR
    online = verdict('#include <stdio.h>\nint main(void){\n#ifndef ONLINE_JUDGE\nfreopen("input.txt","r",stdin);\n#endif\n'
                     'int n; scanf("%d",&n); printf("%d\\n",2*n); return 0;}')
    assert online["verdict"] == T.PASSED  # compiled as the judges compile: ONLINE_JUDGE is defined
    assert program_processes(sandbox) == []


def test_extraction_follows_the_language() -> None:
    response = "Think.\n```python\nprint(1)\n```\nIn C++:\n```cpp\n#include <cstdio>\nint main(){}\n```\nSample:\n```\n3 4\n```\n"
    assert extract_response(response, language="cpp").code == "#include <cstdio>\nint main(){}"
    assert extract_response(response).code == "print(1)"
    assert extract_response(response, language="c").status == "no_code"  # a C++ block is not C
    unlabelled = "<think>plan</think>\n```\n#include <stdio.h>\nint main(void) { return 0; }\n```\n"
    ex = extract_response(unlabelled, language="c")
    assert ex.code.startswith("#include <stdio.h>") and ex.reasoning == "plan"
    assert extract_response("```C++\nint main() {\n}\n```", language="cpp").code == "int main() {\n}"


# --- checkers -----------------------------------------------------------------------------------------------------------

TESTLIB_CHECKER_C = r"""
#include <stdio.h>
#include <math.h>
/* testlib protocol: checker input output answer; 0 accepts, 1 rejects. Accepts any answer within 0.5. */
int main(int argc, char **argv) {
    if (argc < 4) return 3;
    FILE *out = fopen(argv[2], "r"), *ans = fopen(argv[3], "r");
    double a, b;
    if (!out || !ans || fscanf(ans, "%lf", &b) != 1) return 3;
    if (fscanf(out, "%lf", &a) != 1) return 1;
    return fabs(a - b) <= 0.5 ? 0 : 1;
}
"""


def test_a_compiled_testlib_checker(sandbox: ForkServerSandbox) -> None:
    problem = _problem([("21\n", "42\n"), ("1\n", "2\n")], checker=TESTLIB_CHECKER_C, checker_language="c")
    near = 'n = int(input())\nprint(2 * n + 0.25)\n'
    assert judge_candidate(near, problem, sandbox, CONFIG)["verdict"] == T.PASSED  # a Python candidate, a C checker
    far = judge_candidate('n = int(input())\nprint(2 * n + 1)\n', problem, sandbox, CONFIG)
    assert far["verdict"] == T.WA
    broken = dict(problem, checker="int main(void) { return 7 }")  # does not compile: the judge failed, not the model
    assert judge_candidate(near, broken, sandbox, CONFIG)["verdict"] == T.SANDBOX_ERROR


def test_kattis_output_validator_judges_different(sandbox: ForkServerSandbox) -> None:
    problems = {p["problem_id"]: p for p in problems_with_judges(KATTIS)}
    different = problems["kattis-different"]
    assert different["checker_protocol"] == "kattis"
    rows = {json.loads(line)["candidate_id"]: json.loads(line) for line in (KATTIS / "candidates_cpp.jsonl").open()}
    int32 = rows["kattis-different_wrong_answer_different_int"]
    out = judge_candidate(int32["solution"], different, sandbox, CONFIG, int32["language"])
    # the real validator reads int64 into an int: it accepts the sample (equal mod 2^32), the secret tests catch it
    assert out["test_verdicts"] == [T.PASSED, T.WA, T.WA]


# --- interactive problems ---------------------------------------------------------------------------------------------

GUESS_INTERACTOR_C = r"""
#include <stdio.h>
/* testlib protocol: interactor input tout answer; the secret number is in the input file. 0 accepts, 1 rejects. */
int main(int argc, char **argv) {
    FILE *in = fopen(argv[1], "r"); int secret; if (!in || fscanf(in, "%d", &secret) != 1) return 3;
    printf("start\n"); fflush(stdout);
    for (int i = 0; i < 12; i++) {
        int g; if (scanf("%d", &g) != 1) return 1;
        if (g == secret) { printf("correct\n"); fflush(stdout); return 0; }
        printf(g < secret ? "higher\n" : "lower\n"); fflush(stdout);
    }
    return 1;
}
"""

GUESS_PY = """
import sys
assert input() == "start"
lo, hi = 1, 1000
while True:
    mid = (lo + hi) // 2
    print(mid, flush=True)
    answer = input()
    if answer == "correct":
        break
    if answer == "higher":
        lo = mid + 1
    else:
        hi = mid - 1
"""

GUESS_CPP = r"""
#include <iostream>
#include <string>
int main() {
    std::string s; std::cin >> s;
    int lo = 1, hi = 1000;
    for (;;) { int mid = (lo + hi) / 2; std::cout << mid << std::endl; std::cin >> s;
               if (s == "correct") return 0; if (s == "higher") lo = mid + 1; else hi = mid - 1; }
}
"""


GUESS_NO_FLUSH_C = r"""
#include <stdio.h>
#include <string.h>
int main(void) {
    char s[32]; if (scanf("%31s", s) != 1) return 0;
    int lo = 1, hi = 1000;
    for (;;) { int mid = (lo + hi) / 2; printf("%d\n", mid); /* no fflush: a pipe's stdout is fully buffered */
               if (scanf("%31s", s) != 1 || !strcmp(s, "correct")) return 0; if (!strcmp(s, "higher")) lo = mid + 1; else hi = mid - 1; }
}
"""


@pytest.fixture(scope="module")
def interactive() -> dict:
    return _problem([("500\n", ""), ("1\n", ""), ("777\n", "")], interactor=GUESS_INTERACTOR_C, interactor_language="c",
                    interactor_protocol="testlib")


def test_interactive_python_and_cpp_programs_pass(sandbox: ForkServerSandbox, interactive: dict) -> None:
    assert judge_candidate(GUESS_PY, interactive, sandbox, CONFIG)["verdict"] == T.PASSED
    assert judge_candidate(GUESS_CPP, interactive, sandbox, CONFIG, "cpp")["verdict"] == T.PASSED
    assert program_processes(sandbox) == []


def test_interactive_taxonomy(sandbox: ForkServerSandbox, interactive: dict) -> None:
    def verdict(code: str, language: str = "python") -> dict:
        return judge_candidate(code, interactive, sandbox, CONFIG, language)

    never_reads = verdict("print(500, flush=True)\n")
    # a right guess passes however it was made (as a right output does); elsewhere it never read what it was told
    assert never_reads["test_verdicts"] == [T.PASSED, T.NO_STDIN, T.NO_STDIN] and never_reads["verdict"] == T.NO_STDIN
    never_flushes = verdict(GUESS_NO_FLUSH_C, "c")  # its guess sits in its stdout buffer: both sides wait
    assert never_flushes["verdict"] == T.TIMEOUT and never_flushes["max_wall_s"] >= CONFIG.time_limit_s
    stops_talking = verdict("input()\nimport time\ntime.sleep(60)\n")
    assert stops_talking["verdict"] == T.TIMEOUT
    wrong_guesses = verdict("input()\nfor g in range(1, 13):\n    print(g, flush=True)\n    input()\n")
    assert wrong_guesses["verdict"] == T.WA
    crash_after = verdict(GUESS_PY + "\nraise KeyError(1)\n")
    assert crash_after["verdict"] == T.LOGIC_ERROR  # the interactor accepted, the program's own end decides
    silent = verdict("input()\n")
    assert silent["verdict"] == T.EMPTY_OUTPUT
    broken = dict(interactive, interactor="int main(void) { return 0 }")  # does not compile: the judge failed
    assert judge_candidate(GUESS_PY, broken, sandbox, CONFIG)["verdict"] == T.SANDBOX_ERROR
    assert program_processes(sandbox) == []


def test_the_program_sees_only_the_conversation(sandbox: ForkServerSandbox, interactive: dict) -> None:
    """The secret input and answer are files of the interactor's own sandbox: the program's folder is empty."""
    environment = {path.rsplit("/", 1)[1] for path in environment_in_scratch()}  # a Python environment under /tmp
    reader = GUESS_PY.replace(
        'assert input() == "start"', f'import os\nassert not set(os.listdir(".")) - {environment!r}, os.listdir(".")\nassert input() == "start"'
    )
    assert judge_candidate(reader, interactive, sandbox, CONFIG)["verdict"] == T.PASSED


@pytest.mark.slow
def test_kattis_cpp_submissions_agree_with_their_folders(sandbox: ForkServerSandbox) -> None:
    """Every C/C++ submission of the four problemtools examples, and the two Python `guess` ones, judged with the real
    output validator (different) and interactor (guess), under a 2 s limit as the pack's README measured."""
    problems = {p["problem_id"]: p for p in problems_with_judges(KATTIS)}
    rows = [json.loads(line) for line in (KATTIS / "candidates_cpp.jsonl").open()]
    rows += [json.loads(line) for line in (KATTIS / "candidates.jsonl").open() if "guess" in json.loads(line)["problem_id"]]
    assert len(rows) == 21
    wrong = {}
    for row in rows:
        out = judge_candidate(row["solution"], problems[row["problem_id"]], sandbox, CONFIG, row.get("language"))
        if out["verdict"] not in EXPECTED[row["label"]]:
            wrong[row["candidate_id"]] = (row["label"], out["verdict"], out["test_verdicts"])
    assert wrong == {}
