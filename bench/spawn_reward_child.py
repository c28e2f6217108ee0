"""The baseline of ``bench_reward.py``: what a spawn-a-process-per-completion code reward runs (the common local
pattern: one fresh interpreter per completion, every test ``exec``-ed in it with redirected standard streams and a
per-test CPU alarm, outputs compared on whitespace tokens). It is no sandbox: it only measures the cost.

Reads ``{"code": ..., "tests": [{"input", "output"}], "time_limit_s": ...}`` on stdin, prints ``{"passed": n}``.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import sys


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Timeout


def main() -> None:
    task = json.loads(sys.stdin.read())
    real_stdin, real_stdout = sys.stdin, sys.stdout
    signal.signal(signal.SIGVTALRM, _alarm)
    passed = 0
    try:
        program = compile(task["code"], "<completion>", "exec")
    except (SyntaxError, ValueError):
        program = None
    for test in task["tests"] if program is not None else []:
        out = io.StringIO()
        sys.stdin = io.StringIO(test["input"])
        try:
            signal.setitimer(signal.ITIMER_VIRTUAL, float(task["time_limit_s"]))
            with contextlib.redirect_stdout(out):
                exec(program, {"__name__": "__main__"})  # noqa: S102 - the baseline's point: no sandbox
        except SystemExit:
            pass
        except BaseException:  # noqa: BLE001 - any failure of the program fails the test
            out = None
        finally:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
            sys.stdin = real_stdin
        if out is not None and out.getvalue().split() == test["output"].split():
            passed += 1
    real_stdout.write(json.dumps({"passed": passed}))


if __name__ == "__main__":
    main()
