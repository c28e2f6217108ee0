"""An OpenAI-compatible chat-completions server on loopback that replays recorded responses at a fixed token rate.

It stands in for ``vllm serve`` in the streaming build's benchmark and kill tests: generation takes a known time that
does not depend on the CPU cores execution needs. A request's problem is found from its prompt (the problem statement
is in the user message); its ``n`` choices are that problem's recorded responses in order (cycled when it has fewer).
Each response is a recorded solution wrapped in a ```` ```python ```` fence, optionally after a ``<think>`` block of
``reasoning_words`` deterministic words (long reasoning, as a reasoning model writes; for memory measurements).

One GPU stream is modelled by a global virtual clock: a request's choices are done at
``max(now, clock) + tokens / rate`` and the clock moves there, so however many requests are in flight, generating
``T`` tokens takes ``T / rate`` seconds. Tokens are counted as words and punctuation marks (about what a BPE
tokenizer gives for code); every choice carries ``token_ids`` of that length, so the build records exact counts.

``GET /stats`` returns the requests received so far per problem, in arrival order (kill tests stop a build at a
chosen request, and count what a resumed build asked for again).

Run it as a process (``ReplayServer`` does): ``python tests/fakes/replay_server.py --problems P --candidates C
--rate R``; it prints ``port <n>`` once it listens.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TOKEN = re.compile(r"\w+|[^\w\s]")
_WORDS = ("first", "the", "input", "gives", "a", "list", "so", "we", "count", "each", "value", "then", "check",
          "whether", "sum", "is", "odd", "or", "even", "and", "print", "answer", "modulo", "prime", "loop")


def count_tokens(text: str) -> int:
    return len(TOKEN.findall(text))


def reasoning_text(problem_id: str, index: int, words: int) -> str:
    """``words`` deterministic words of "reasoning" for one response."""
    seed = int.from_bytes(hashlib.sha256(f"{problem_id}/{index}".encode()).digest()[:8], "big")
    out = []
    for i in range(words):
        seed = (seed * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out.append(_WORDS[(seed >> 33) % len(_WORDS)])
        if i % 16 == 15:
            out.append(".\n")
    return " ".join(out)


def fenced(solution: str) -> str:
    return f"```python\n{solution.rstrip()}\n```"


def load_responses(problems: Path, candidates: Path, reasoning_words: int = 0) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(statement -> problem id, problem id -> responses in candidate order) from normalized problem and candidate
    files (``solution`` wrapped in a fence, or ``response`` as recorded where there is no ``solution``)."""
    statements: dict[str, str] = {}
    for line in problems.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            statements[row["problem"]] = row["problem_id"]
    responses: dict[str, list[str]] = {}
    for line in candidates.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        pid = row["problem_id"]
        body = fenced(row["solution"]) if row.get("solution") is not None else row["response"]
        mine = responses.setdefault(pid, [])
        if reasoning_words:
            body = f"<think>\n{reasoning_text(pid, len(mine), reasoning_words)}\n</think>\n\n{body}"
        mine.append(body)
    return statements, responses


class Replay:
    """The server's state: responses, the virtual clock and the request log."""

    def __init__(self, statements: dict[str, str], responses: dict[str, list[str]], rate: float) -> None:
        self.statements = statements
        self.responses = responses
        self.rate = rate
        self.lock = threading.Lock()
        self.clock = 0.0
        self.requests: list[str] = []
        self.tokens = 0
        # longest statements first: a statement that is part of another never takes its request
        self._by_length = sorted(statements, key=len, reverse=True)

    def problem_of(self, messages: Iterable[dict[str, Any]]) -> str | None:
        text = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
        for statement in self._by_length:
            if statement in text:
                return self.statements[statement]
        return None

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        pid = self.problem_of(body.get("messages") or [])
        if pid is None or pid not in self.responses:
            return 400, {"error": {"message": "no recorded responses for this prompt"}}
        n = int(body.get("n") or 1)
        recorded = self.responses[pid]
        texts = [recorded[i % len(recorded)] for i in range(n)]
        counts = [count_tokens(t) for t in texts]
        with self.lock:
            self.requests.append(pid)
            self.tokens += sum(counts)
            now = time.monotonic()
            self.clock = max(now, self.clock) + sum(counts) / self.rate
            done = self.clock
        delay = done - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        choices = [
            {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop", "token_ids": list(range(c))}
            for i, (text, c) in enumerate(zip(texts, counts))
        ]
        return 200, {
            "id": f"replay-{len(self.requests)}", "object": "chat.completion", "model": body.get("model", "replay"),
            "choices": choices, "usage": {"completion_tokens": sum(counts)},
        }

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"requests": list(self.requests), "tokens": self.tokens}


def serve(replay: Replay, port: int = 0) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client went away (a killed build)
                self.close_connection = True

        def do_GET(self) -> None:  # noqa: N802
            if self.path.rstrip("/").endswith("/stats"):
                self._send(200, replay.stats())
            else:
                self._send(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._send(400, {"error": {"message": "malformed JSON"}})
                return
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, {"error": {"message": "not found"}})
                return
            self._send(*replay.answer(body))

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):  # a killed build's, quietly
                super().handle_error(request, client_address)

    return Server(("127.0.0.1", port), Handler)


class ReplayServer:
    """The server in a process of its own (its CPU use does not share the build's interpreter); a context manager.

    ``url`` is the ``base_url`` for a recipe (``http://127.0.0.1:<port>/v1``); :meth:`stats` the request log."""

    def __init__(self, problems: Path, candidates: Path, rate: float, reasoning_words: int = 0) -> None:
        self.args = [
            sys.executable, str(Path(__file__).resolve()), "--problems", str(problems), "--candidates", str(candidates),
            "--rate", repr(float(rate)), "--reasoning-words", str(reasoning_words),
        ]
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> ReplayServer:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("port "):
            self.proc.kill()
            raise RuntimeError(f"the replay server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}/v1"
        return self

    def stats(self) -> dict[str, Any]:
        import urllib.request

        with urllib.request.urlopen(f"{self.url}/stats", timeout=30) as resp:
            return json.loads(resp.read())

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=Path, required=True)
    parser.add_argument("--candidates", type=Path, required=True)
    parser.add_argument("--rate", type=float, required=True, help="tokens per second of the one modelled stream")
    parser.add_argument("--reasoning-words", type=int, default=0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    statements, responses = load_responses(args.problems, args.candidates, args.reasoning_words)
    server = serve(Replay(statements, responses, args.rate), args.port)
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
