"""builder.reward: the execution reward for RL trainers, on the demo problems through the real sandbox.

Every kind of completion gets a verdict and a reward (and none raises), the rewards are the dataset's own definition,
the code runs in the sandbox (not in the reward's process), TRL's logging hooks get the verdicts, a dead or stuck
worker is replaced, and close / the context manager / garbage collection end every process the reward started.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from builder.core.settings import ExecutionSettings
from builder.core.tables import load_problems
from builder.reward import ExecutionReward, completion_text
from process_watch import descendants

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
#: 1 s CPU per test for every problem, so a completion that loops costs little
FAST = ExecutionSettings(time_limit_s=1.0, limits="flat", workers=2)
PID = "abc302_a"  # 3 tests: "7 3" -> 3, ...


@pytest.fixture(scope="module")
def problems():
    ds, quarantine = load_problems(str(DEMO / "problems.jsonl"))
    assert len(quarantine) == 0
    return ds


@pytest.fixture(scope="module")
def solution() -> str:
    for line in (DEMO / "solutions.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["problem_id"] == PID:
            return row["solution"]
    raise AssertionError(PID)


@pytest.fixture(scope="module")
def reward(problems):
    with ExecutionReward(problems, execution=FAST) as r:
        yield r


def fenced(code: str) -> str:
    return f"Here it is.\n\n```python\n{code}\n```\n"


def test_every_kind_of_completion_gets_a_verdict_and_a_reward(reward: ExecutionReward, solution: str, tmp_path: Path) -> None:
    os.environ["BUILDER_REWARD_TEST_SECRET"] = "s3cr3t"
    marker = tmp_path / "written-by-a-completion"
    completions: list[Any] = [
        fenced(solution),  # passes 3/3
        [{"role": "assistant", "content": fenced(solution)}],  # TRL's conversational completion
        fenced('input()\nprint(3)'),  # right on the first test only: 1/3
        fenced("A, B = map(int, input().split())\nprint(A * B)"),  # wrong on every test
        fenced("def f(:\n    pass"),  # syntax error
        fenced("while True:\n    pass"),  # endless: timeout
        fenced("input()\nprint([][1])"),  # logic error
        "I would use ceiling division but I will not write code.",  # no code
        None, 12345, [{"no": "content"}], {"role": "assistant", "content": 7}, [[1, 2]], b"bytes",  # garbage
        fenced(f"import os\ninput()\nprint(os.environ.get('BUILDER_REWARD_TEST_SECRET'))\nopen({str(marker)!r}, 'w').write('x')"),
    ]
    rewards = reward(completions, problem_id=[PID] * len(completions))
    verdicts = [j.verdict for j in reward.last]
    assert verdicts[:8] == ["passed", "passed", "wa", "wa", "syntax_error", "timeout", "logic_error", "no_code"]
    assert verdicts[8:14] == ["no_code"] * 6
    assert rewards[:8] == [1.0, 1.0, pytest.approx(1 / 3), 0.0, 0.0, 0.0, 0.0, 0.0] and rewards[8:14] == [0.0] * 6
    assert [(j.tests_passed, j.tests_total) for j in reward.last[:3]] == [(3, 3), (3, 3), (1, 3)]
    assert reward.last[6].detail == "IndexError"
    # the program ran in the sandbox: an empty environment, and (isolated) no host files
    assert verdicts[14] in ("wa", "runtime_error", "logic_error") and rewards[14] == 0.0
    if reward.describe().get("isolated"):
        assert not marker.exists()


def test_binary_rewards_are_the_datasets_definition(problems, solution: str) -> None:
    with ExecutionReward(problems, execution=FAST, workers=1, reward="binary") as binary:
        assert binary([fenced(solution), fenced("input()\nprint(3)"), "nothing"], problem_id=[PID] * 3) == [1.0, 0.0, 0.0]
    with pytest.raises(ValueError):
        ExecutionReward(problems, reward="other")


def test_trl_logging_hooks(reward: ExecutionReward, solution: str) -> None:
    extra: dict[str, list[Any]] = {}
    metrics: dict[str, float] = {}
    out = reward(
        completions=[fenced(solution), "no code"], prompts=[[], []], completion_ids=[[1], [2]], problem_id=[PID, PID],
        tests=[[], []], trainer_state=None, log_extra=lambda k, v: extra.setdefault(k, v), log_metric=metrics.__setitem__,
    )
    assert out == [1.0, 0.0]
    assert extra == {"verdict": ["passed", "no_code"], "tests_passed": ["3/3", "0/3"]}
    assert metrics["execution/passed"] == 0.5 and metrics["execution/no_code"] == 0.5 and metrics["execution/wa"] == 0.0
    assert reward.__name__ == "execution_reward"


def test_misuse_raises_but_an_empty_batch_does_not(reward: ExecutionReward) -> None:
    assert reward([], problem_id=[]) == []
    with pytest.raises(KeyError, match="nope"):
        reward(["x"], problem_id=["nope"])
    with pytest.raises(ValueError, match="problem_id"):
        reward(["x"])
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(reward)
    assert completion_text([{"role": "user", "content": "q"}, {"role": "assistant", "content": [{"type": "text", "text": "a"}]}]) == "a"


def test_a_dead_worker_is_replaced(reward: ExecutionReward, solution: str) -> None:
    victim = reward._pool[0].pid
    os.kill(victim, signal.SIGKILL)
    time.sleep(0.2)
    assert reward([fenced(solution)] * 4, problem_id=[PID] * 4) == [1.0] * 4
    assert len(reward._pool) == 2 and all(w.alive() for w in reward._pool)
    assert victim not in {w.pid for w in reward._pool}


def test_a_stuck_worker_is_killed_and_its_completion_is_a_sandbox_error(problems, solution: str) -> None:
    with ExecutionReward(problems, execution=ExecutionSettings(time_limit_s=2.0, limits="flat", workers=1)) as r:
        r._budget[PID] = 1.0  # pretend the limits allow 1 s: a program sleeping 3 s outlives them
        stuck = r._pool[0].pid
        out = r([fenced("import time\ntime.sleep(3)"), fenced(solution)], problem_id=[PID, PID])
        assert out[0] is None and r.last[0].verdict == "sandbox_error" and "stuck" in (r.last[0].detail or "")
        assert out[1] == 1.0 and r._pool[0].pid != stuck


def test_close_ends_every_process(problems, solution: str) -> None:
    me = os.getpid()
    before = descendants(me)
    r = ExecutionReward(problems, execution=FAST)
    assert r([fenced(solution)], problem_id=[PID]) == [1.0]
    started = descendants(me) - before
    assert len(started) >= 2  # the workers, and their sandboxes' processes
    r.close()
    r.close()  # twice is fine
    assert not descendants(me) & started
    with pytest.raises(RuntimeError, match="closed"):
        r([fenced(solution)], problem_id=[PID])

    with ExecutionReward(problems, execution=FAST, workers=1):
        inside = descendants(me) - before
        assert inside
    assert not descendants(me) & inside

    r3 = ExecutionReward(problems, execution=FAST, workers=1)
    third = descendants(me) - before
    del r3
    gc.collect()
    assert not descendants(me) & third


def test_a_script_without_a_main_guard_can_use_it(tmp_path: Path) -> None:
    """Workers are fresh interpreters that import the builder only, never the calling script (as multiprocessing's
    spawn would, running a guard-less script's training again in every worker)."""
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text(
        "from builder.core.settings import ExecutionSettings\n"
        "from builder.core.tables import load_problems\n"
        "from builder.reward import ExecutionReward\n"
        f"problems, _ = load_problems({str(DEMO / 'problems.jsonl')!r})\n"
        "reward = ExecutionReward(problems, execution=ExecutionSettings(workers=1))\n"
        f"print('REWARDS', reward(['```python\\ninput()\\nprint(3)\\n```'], problem_id=[{PID!r}]))\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("REWARDS") == 1 and "REWARDS [0.3333333333333333]" in out.stdout
