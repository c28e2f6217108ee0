"""An open-r1/codeforces ``generated_checker`` in the judge's checker convention. Runs in the sandbox: stdlib only.

:func:`builder.problems.sources.codeforces.wrap_checker` stores a problem's checker as ``CHECKER_SOURCE = '<the generated
checker>'`` followed by this file. The judge runs it as ``checker input.txt output.txt answer.txt`` (testlib
order: the candidate's output, then the expected answer) and reads exit code 0 as accepted, 1 as rejected.

It does what open-r1's codeforces runner does around the checker (the ``run`` script of the ``codeforces`` piston
package, guipenedo/piston ``packages/codeforces/1.0.0/run``, scored by open-r1 ``cf_scoring.py``): the input loses its
``\\r`` line ends, the candidate's output its empty lines, the expected answer both; then the checker runs as
``checker.py input correct_output solution_output``; the test passes when the checker exits with status 0 and its
standard output, all whitespace removed, is ``1`` (or ``100``). An exception in the checker propagates: the judge
then reports ``sandbox_error`` (a broken checker is not the candidate's fault).
"""

import contextlib
import io
import sys


def accepts(printed: str, exit_code: int) -> bool:
    """The runner's rule: exit status 0 and the printed verdict, whitespace removed, is ``1`` or ``100``."""
    verdict = "".join(printed.split())
    return exit_code == 0 and verdict in ("1", "100")


def cleaned(text: str, *, strip_cr: bool, drop_empty: bool) -> str:
    """The runner's clean-up of a file: ``sed 's/\\r$//'`` when ``strip_cr``, then ``sed '/^$/d'`` when
    ``drop_empty``."""
    lines = text.split("\n")
    if strip_cr:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    if not drop_empty:
        return "\n".join(lines)
    kept = [line for line in lines[:-1] if line] + ([lines[-1]] if lines[-1] else [])
    return "\n".join(kept) + ("\n" if kept and lines[-1] == "" and len(lines) > 1 else "")


def _prepared(path: str, name: str, *, strip_cr: bool, drop_empty: bool) -> str:
    """A cleaned copy of ``path`` in the working directory (the original when it cannot be written)."""
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        text = handle.read()
    text = cleaned(text, strip_cr=strip_cr, drop_empty=drop_empty)
    try:
        with open(name, "w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
            handle.write(text)
    except OSError:
        return path
    return name


def run(source: str, argv: list[str]) -> int:
    """Run the generated checker on (input, candidate output, expected answer); 0 accepts, 1 rejects."""
    input_path, output_path, answer_path = argv[:3]
    checker_input = _prepared(input_path, "cf_input.txt", strip_cr=True, drop_empty=False)
    correct = _prepared(answer_path, "cf_correct_output.txt", strip_cr=True, drop_empty=True)
    solution = _prepared(output_path, "cf_solution_output.txt", strip_cr=False, drop_empty=True)
    sys.argv = ["checker.py", checker_input, correct, solution]
    printed = io.StringIO()
    exit_code = 0
    with contextlib.redirect_stdout(printed):
        try:
            exec(compile(source, "checker.py", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
        except SystemExit as stop:
            code = stop.code
            exit_code = code if isinstance(code, int) else (0 if code is None else 1)
    return 0 if accepts(printed.getvalue(), exit_code) else 1


if __name__ == "__main__":
    sys.exit(run(CHECKER_SOURCE, sys.argv[1:4]))  # noqa: F821 - the first line of the stored checker defines it
