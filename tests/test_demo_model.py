"""The demo problem set (data/demo), the demo model (models/demo) and its training script.

Fast tests check the shipped files, that every training solution passes its tests in the sandbox, that the model
memorized every solution (teacher-forced argmax), and that a short training run is byte-reproducible through the
script's own --check. Slow tests re-train the committed model bit for bit, load it in the real vLLM engine, and run
the whole demo build against the issue's thresholds.

Run as a script (``python tests/test_demo_model.py vllm-greedy OUT.json``) it is the child process that creates the
vLLM engine (vLLM must be created under ``if __name__ == "__main__"``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from builder.core.prompt import build_messages  # noqa: E402

DATA = ROOT / "data" / "demo"
MODEL = ROOT / "models" / "demo"
SCRIPT = ROOT / "scripts" / "train_demo_model.py"
RECIPE = ROOT / "recipes" / "demo.toml"
SHARED_LCB = Path(__file__).resolve().parents[2] / "shared" / "data" / "lcb"
ORIGIN = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}:.+#.+$")


def _load_script() -> Any:
    spec = importlib.util.spec_from_file_location("train_demo_model", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _recipe_prompt() -> tuple[str | None, str]:
    prompt = tomllib.loads(RECIPE.read_text(encoding="utf-8"))["prompt"]
    return prompt.get("system"), prompt["user"]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    return env


def _train(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=ROOT, env=_child_env(), capture_output=True, text=True, timeout=timeout
    )


# --- the demo problem set -------------------------------------------------------------------------------------


def test_demo_problems_are_normalized_short_atcoder_problems_with_tests() -> None:
    from builder.core.schema import PROBLEM_FEATURES

    problems = _jsonl(DATA / "problems.jsonl")
    assert 20 <= len(problems) <= 40
    ids = [p["problem_id"] for p in problems]
    assert len(set(ids)) == len(ids) and ids == sorted(ids)
    for p in problems:
        assert list(p) == list(PROBLEM_FEATURES), p["problem_id"]
        assert p["source"] == "atcoder" and p["license"] == "MIT" and ORIGIN.match(p["origin"])
        assert p["tests"] and all(t["input"] and t["output"] for t in p["tests"])
        assert len(p["problem"]) < 1000
    for name in ("LICENSE-rllm.txt", "LICENSE-submissions.txt"):
        assert "MIT License" in (DATA / name).read_text(encoding="utf-8")
    assert "origin" in (DATA / "README.md").read_text(encoding="utf-8").lower()


def test_each_problem_has_one_accepted_training_solution() -> None:
    problems = {p["problem_id"] for p in _jsonl(DATA / "problems.jsonl")}
    solutions = _jsonl(DATA / "solutions.jsonl")
    assert sorted(s["problem_id"] for s in solutions) == sorted(problems)
    for s in solutions:
        assert list(s) == ["candidate_id", "problem_id", "response", "solution", "label", "origin"]
        assert s["label"] == "accepted" and s["solution"].strip() and ORIGIN.match(s["origin"])
        assert s["candidate_id"].endswith(s["problem_id"])


def test_every_training_solution_passes_its_tests_in_the_sandbox(tmp_path: Path) -> None:
    from builder.core.settings import ExecutionSettings
    from builder.verify import verify

    # the solutions file carries `response` (a fenced block): the real extraction runs on it too
    report = verify(
        str(DATA / "problems.jsonl"), str(DATA / "solutions.jsonl"), tmp_path / "verdicts.jsonl",
        ExecutionSettings(time_limit_s=4.0, memory_limit_mb=512),
    )
    assert report.candidates == 30 and report.quarantined == 0
    assert report.counts == Counter({"passed": 30})


@pytest.mark.shared
@pytest.mark.skipif(not SHARED_LCB.is_dir(), reason="../shared/data/lcb is absent")
def test_make_demo_set_reproduces_the_shipped_files(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(DATA / "make_demo_set.py"), "--lcb", str(SHARED_LCB), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("problems.jsonl", "solutions.jsonl", "LICENSE-rllm.txt", "LICENSE-submissions.txt"):
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


# --- the committed model ---------------------------------------------------------------------------------------


def test_model_is_a_tiny_llama_that_vllm_cpu_can_run() -> None:
    config = json.loads((MODEL / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert 128 <= config["hidden_size"] <= 256 and 2 <= config["num_hidden_layers"] <= 4
    assert config["head_dim"] >= 64  # vLLM's CPU attention needs head_dim >= 64
    assert config["hidden_size"] == config["num_attention_heads"] * config["head_dim"]
    assert (MODEL / "model.safetensors").stat().st_size < 8 * 2**20
    generation = json.loads((MODEL / "generation_config.json").read_text())
    tokenizer = json.loads((MODEL / "tokenizer.json").read_text())
    im_end = next(t["id"] for t in tokenizer["added_tokens"] if t["content"] == "<|im_end|>")
    assert generation["eos_token_id"] == config["eos_token_id"] == im_end
    assert tokenizer["model"]["type"] == "BPE" and tokenizer["pre_tokenizer"]["type"] == "ByteLevel"


def test_chat_template_renders_the_demo_recipe_prompt() -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(MODEL))
    system, user = _recipe_prompt()
    problem = _jsonl(DATA / "problems.jsonl")[0]
    messages = build_messages(problem, system, user)
    text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == (
        f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user.format(problem=problem['problem'])}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    assert tok.decode(ids) == text  # byte-level BPE round-trips the statement exactly (\r included)
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"


def test_model_memorized_every_training_solution() -> None:
    """Teacher-forced: the argmax at every assistant position is the target token, so greedy decoding reproduces
    each training answer exactly (the prompt tokenized alone, as vLLM tokenizes it)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    script = _load_script()
    tok = AutoTokenizer.from_pretrained(str(MODEL))
    model = AutoModelForCausalLM.from_pretrained(str(MODEL), dtype=torch.float32).eval()
    examples = script.build_examples(DATA / "problems.jsonl", DATA / "solutions.jsonl", RECIPE)
    assert len(examples) == 30
    wrong = []
    with torch.no_grad():
        for messages, target in examples:
            prompt = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
            answer = tok(target + "<|im_end|>", add_special_tokens=False)["input_ids"]
            logits = model(torch.tensor([prompt + answer])).logits[0, len(prompt) - 1 : -1]
            if logits.argmax(-1).tolist() != answer:
                wrong.append(messages[-1]["content"][:60])
    assert wrong == []


# --- reproducibility of the training script ------------------------------------------------------------------


def test_short_training_run_is_byte_reproducible_and_seeded(tmp_path: Path) -> None:
    first = _train("--steps", "4", "--out", str(tmp_path / "a"))
    assert first.returncode == 0, first.stderr[-2000:]
    assert json.loads(first.stdout)["cpu_capability"] in ("AVX2", "DEFAULT", "NEON", "AVX512", "ZVECTOR", "VSX")
    # --check re-trains the same 4 steps into a temporary folder and compares every file's sha256
    same = _train("--steps", "4", "--out", str(tmp_path / "a"), "--check")
    assert same.returncode == 0, same.stdout + same.stderr[-2000:]
    assert same.stdout.count("same ") == 5
    other_seed = _train("--steps", "4", "--seed", "7", "--out", str(tmp_path / "a"), "--check")
    assert other_seed.returncode == 1
    lines = {line.split()[1]: line.split()[0] for line in other_seed.stdout.splitlines() if line.startswith(("same", "DIFF"))}
    assert lines["model.safetensors"] == "DIFFERENT" and lines["tokenizer.json"] == "same"


def test_the_stamp_records_the_committed_model_files() -> None:
    """models/demo/trained_from.json (written by the script when it trains the default model) holds the sha256 of
    every committed model file: a model changed by hand, or re-trained without its stamp, fails here."""
    script = _load_script()
    stamp = json.loads((MODEL / script.STAMP).read_text(encoding="utf-8"))
    assert stamp["sha256"] == script.sha256s(MODEL), "models/demo differs from its stamp: re-train it with `just demo-model`"
    assert set(stamp["inputs"]["files"]) == set(script.INPUT_FILES)


@pytest.mark.slow
@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="the committed weights were trained with AVX2 kernels")
def test_retraining_reproduces_the_committed_model_bit_for_bit() -> None:
    """Re-trains (a few minutes) only when something the model is a function of changed since it was trained: the
    script, the data, the prompt code, the training config, the CPU pins or a library version (the stamp's inputs
    against this checkout's; BUILDER_RETRAIN_DEMO=1 forces it, as does `just demo-model --check`)."""
    script = _load_script()
    stamp = json.loads((MODEL / script.STAMP).read_text(encoding="utf-8"))
    if stamp["inputs"] == script.training_inputs() and not os.environ.get("BUILDER_RETRAIN_DEMO"):
        pytest.skip("models/demo was trained from exactly these inputs (models/demo/trained_from.json): not re-trained")
    proc = _train("--check", timeout=1500)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    committed = {name: digest[:16] for name, digest in script.sha256s(MODEL).items()}
    for name, digest in committed.items():
        assert f"same      {name}  {digest}" in proc.stdout


# --- the real vLLM engine ---------------------------------------------------------------------------------------


def _vllm_greedy(out: Path) -> None:
    """Child process: greedy answers of the vLLM engine for every demo problem."""
    from vllm import LLM, SamplingParams

    system, user = _recipe_prompt()
    problems = _jsonl(DATA / "problems.jsonl")
    llm = LLM(model=str(MODEL), dtype="float32", max_model_len=2048, seed=0, kv_cache_memory_bytes=1 << 30,
              enable_chunked_prefill=False, max_num_batched_tokens=16384)
    outputs = llm.chat([build_messages(p, system, user) for p in problems],
                       SamplingParams(temperature=0.0, max_tokens=256), use_tqdm=False)
    answers = {p["problem_id"]: o.outputs[0].text for p, o in zip(problems, outputs)}
    out.write_text(json.dumps(answers), encoding="utf-8")


@pytest.mark.slow
def test_vllm_engine_loads_the_model_and_reproduces_the_memorized_answers(tmp_path: Path) -> None:
    out = tmp_path / "greedy.json"
    proc = subprocess.run([sys.executable, __file__, "vllm-greedy", str(out)], cwd=ROOT, env=_child_env(),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    answers = json.loads(out.read_text())
    script = _load_script()
    problems = {p["problem_id"]: p for p in _jsonl(DATA / "problems.jsonl")}
    expected = {s["problem_id"]: script.assistant_target(problems[s["problem_id"]], s["solution"])
                for s in _jsonl(DATA / "solutions.jsonl")}
    assert answers == expected


@pytest.mark.slow
def test_demo_build_gives_a_realistic_mix(demo_build) -> None:
    """The issue's first acceptance check: `builder build` with recipes/demo.toml gives >= 10 SFT rows, >= 10 DPO
    pairs and >= 4 rejection types, every candidate sampled by the vLLM engine from models/demo (the session's demo
    build, conftest: `just build` exactly)."""
    import pyarrow.parquet as pq

    out = demo_build.dist
    assert "chunks: 1 generated and 0 read back" in demo_build.stdout  # sampled here, not read back
    candidates = pq.read_table(out / "candidates").to_pylist()
    sft = pq.read_table(out / "sft").num_rows
    dpo = pq.read_table(out / "dpo").to_pylist()
    verdicts = Counter(c["verdict"] for c in candidates)
    rejections = {v for v in verdicts if v not in ("passed", "sandbox_error")}
    assert len(candidates) == 240 and all(c["model"] == "models/demo" and c["response"] for c in candidates)
    assert verdicts["passed"] == sft >= 10
    assert len(dpo) >= 10 and len(rejections) >= 4, verdicts
    assert {d["rejection_type"] for d in dpo} <= rejections


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "vllm-greedy":
        _vllm_greedy(Path(sys.argv[2]))
    else:
        raise SystemExit(f"usage: {sys.argv[0]} vllm-greedy OUT.json")
