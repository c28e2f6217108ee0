"""A build in Python and C++ end to end: generation through the real OpenAI-compatible backend (a loopback server plays
the model and answers each prompt in the language it asks for), extraction of ```cpp blocks, compilation and execution
in the sandbox (a Kattis output validator and an interactor included), the configs, the statistics and the card.

The "model" answers from the problemtools example submissions (tests/fixtures/kattis): for every problem and language
the first sample is an accepted submission and the second a wrong one, so every config has rows of both languages.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from datasets import load_dataset

from builder.core.recipe import load_recipe
from builder.judge.compiled import toolchain_problem
from kattis_judges import write_problems

pytestmark = [pytest.mark.slow, pytest.mark.skipif(toolchain_problem("cpp") is not None, reason="no g++ on this machine")]
KATTIS = Path(__file__).resolve().parent / "fixtures" / "kattis"

#: problem -> language -> (accepted, wrong) submission ids
ANSWERS = {
    "kattis-different": {"cpp": ("kattis-different_accepted_different_cc", "kattis-different_wrong_answer_different_no_abs"),
                         "python": ("kattis-different_accepted_different_py3", None)},
    "kattis-hello": {"cpp": ("kattis-hello_accepted_hello_cc", "kattis-hello_wrong_answer_hello"),
                     "python": ("kattis-hello_accepted_hello", None)},
    "kattis-guess": {"cpp": ("kattis-guess_accepted_guess", "kattis-guess_wrong_answer_guess_0"),
                     "python": ("kattis-guess_wrong_answer_guess_modulo", None)},
}


class _Model:
    """The model behind the endpoint: which problem a prompt is about (its statement), which language it asks for."""

    def __init__(self) -> None:
        problems = [json.loads(line) for line in (KATTIS / "problems.jsonl").open(encoding="utf-8")]
        self.statements = {p["problem"]: p["problem_id"] for p in problems if p["problem_id"] in ANSWERS}
        rows = [json.loads(line) for name in ("candidates.jsonl", "candidates_cpp.jsonl") for line in (KATTIS / name).open()]
        self.solutions = {r["candidate_id"]: r["solution"] for r in rows}
        self.requests: list[tuple[str, str]] = []

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        system = next(m["content"] for m in body["messages"] if m["role"] == "system")
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        language = "cpp" if "```cpp" in system else "python"
        problem = next(pid for text, pid in self.statements.items() if text in user)
        self.requests.append((problem, language))
        good, bad = ANSWERS[problem][language]
        fence = "cpp" if language == "cpp" else "python"
        choices = []
        for i in range(body["n"]):
            pick = good if i % 2 == 0 or bad is None else bad
            text = f"The plan for {problem}.\n\n```{fence}\n{self.solutions[pick].rstrip()}\n```\n"
            choices.append({"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop",
                            "token_ids": list(range(len(text.split())))})
        return {"choices": choices, "usage": {"completion_tokens": sum(len(c["message"]["content"].split()) for c in choices)}}


@pytest.fixture(scope="module")
def endpoint():
    model = _Model()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            data = json.dumps(model.answer(body)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield model, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_cpp_candidates_flow_through_the_whole_build(tmp_path: Path, endpoint) -> None:
    from builder.pipeline import build

    model, url = endpoint
    problems = write_problems(KATTIS, tmp_path / "problems.jsonl")
    keep = tmp_path / "three.jsonl"
    keep.write_text("".join(line for line in problems.open() if json.loads(line)["problem_id"] in ANSWERS))
    recipe_path = tmp_path / "cpp.toml"
    recipe_path.write_text(f"""
name = "cpp"
seed = 3

[[sources]]
kind = "local"
path = {json.dumps(str(keep))}

[model]
backend = "openai"
path = "replayed-model"
base_url = "{url}"

[sampling]
n = 2

[generation]
languages = ["python", "cpp"]

[execution]
workers = 2
time_limit_s = 2.0
memory_limit_mb = 512
""")
    recipe = load_recipe(recipe_path)
    result = build(recipe, dist_root=tmp_path / "dist", work_root=tmp_path / "work", echo=lambda _line: None)
    dist = result.dist_dir
    assert sorted(model.requests) == sorted((p, lang) for p in ANSWERS for lang in ("python", "cpp"))

    candidates = {r["candidate_id"]: r for r in load_dataset(str(dist), "candidates", split="train")}
    assert len(candidates) == 3 * 2 * 2
    by = {(r["problem_id"], r["language"], r["candidate_index"]): r for r in candidates.values()}
    for problem in ANSWERS:  # language k has indices k*n .. k*n+n-1: Python 0-1, C++ 2-3
        assert by[(problem, "cpp", 2)]["verdict"] == "passed", by[(problem, "cpp", 2)]
        assert by[(problem, "cpp", 3)]["verdict"] == "wa", by[(problem, "cpp", 3)]
        assert by[(problem, "cpp", 2)]["solution"].startswith("#include")
    assert by[("kattis-guess", "python", 0)]["verdict"] == "wa"  # judged interactively by the real interactor

    sft = load_dataset(str(dist), "sft", split="train")
    cpp_rows = [r for r in sft if r["language"] == "cpp"]
    assert len(cpp_rows) == 3 and all("```cpp" in r["messages"][0]["content"] for r in cpp_rows)
    assert all("```python" in r["messages"][0]["content"] for r in sft if r["language"] == "python")
    dpo = load_dataset(str(dist), "dpo", split="train")
    assert {r["language"] for r in dpo} == {"cpp"}  # Python answers here are one good or one bad each: no pairs
    for row in dpo:
        assert candidates[row["chosen_id"]]["language"] == candidates[row["rejected_id"]]["language"] == "cpp"
    problems_config = load_dataset(str(dist), "problems", split="train")
    assert [(r["problem_id"], r["language"]) for r in problems_config][:2] == [(problems_config[0]["problem_id"], "python"),
                                                                              (problems_config[0]["problem_id"], "cpp")]
    assert len(problems_config) == 6
    for config in ("kto", "candidates", "sft", "dpo", "problems"):
        assert "language" in load_dataset(str(dist), config, split="train").column_names

    build_json = json.loads((dist / "build.json").read_text())
    assert "g++ -std=gnu++17 -O2 -pipe" in build_json["sandbox"]["compilers"]["cpp"]
    card = (dist / "README.md").read_text()
    assert "Pass rate and rejection types by language" in card and "C++ (GNU C++17)" in card
