"""One progress display per run, and how much a run prints.

:class:`Progress` is a single line on the terminal: the stage, candidates judged of those expected (rate and ETA),
chunks generated and the verdicts so far. Libraries' own bars and messages (vLLM, ``datasets``, ``transformers``) do
not reach the terminal during a build: they go to the run's log file (:func:`quiet_libraries`).

``VERBOSITY`` is how much the command line asked for: 0 (``-q``: errors and the final summary only), 1 (default:
this display and stage lines), 2 (``-v``: the libraries' chatter on the terminal too).
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections import Counter
from typing import IO

VERBOSITY = 1
#: the displays on screen now (closed by :func:`close_all` when a run ends early, so its last line ends)
_OPEN: weakref.WeakSet[Progress] = weakref.WeakSet()
#: verdicts in the order the display lists them
_ORDER = ("passed", "wa", "no_stdin", "empty_output", "syntax_error", "no_code", "logic_error", "runtime_error", "timeout", "memory", "sandbox_error")


class Progress:
    """``total`` candidates to judge (None when unknown); ``chunks``: generation chunks, when there is generation."""

    def __init__(self, total: int | None, chunks: int | None = None, *, stream: IO[str] | None = None, enabled: bool | None = None) -> None:
        from tqdm.auto import tqdm

        self.enabled = VERBOSITY >= 1 if enabled is None else enabled
        self.chunks = chunks
        self.generated = 0
        self.verdicts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stage = ""
        self.bar = tqdm(
            total=total, unit="cand", desc="starting", file=stream or sys.stderr, disable=not self.enabled,
            dynamic_ncols=True, smoothing=0.1, mininterval=0.25,
            bar_format="{desc}: {n_fmt}/{total_fmt} candidates [{elapsed}<{remaining}, {rate_fmt}]{postfix}",
        )
        _OPEN.add(self)

    def stage(self, text: str) -> None:
        """The stage the run is in (``loading the engine``, ``generating``, ``writing dist/demo``)."""
        with self._lock:
            self._stage = text
            self.bar.set_description_str(text, refresh=True)

    def chunk_generated(self) -> None:
        with self._lock:
            self.generated += 1
            self._postfix()

    def judged(self, verdict: str) -> None:
        with self._lock:
            self.verdicts[verdict] += 1
            self.bar.update(1)
            self._postfix()

    def _postfix(self) -> None:
        parts = []
        if self.chunks is not None:
            parts.append(f"generated {self.generated}/{self.chunks} chunks")
        counts = " ".join(f"{v} {self.verdicts[v]}" for v in _ORDER if self.verdicts[v])
        if counts:
            parts.append(counts)
        self.bar.set_postfix_str(" | ".join(parts), refresh=False)

    def write(self, line: str) -> None:
        """A line above the display (it stays on screen)."""
        if self.enabled:
            self.bar.write(line, file=self.bar.fp)

    def close(self) -> None:
        _OPEN.discard(self)
        self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def close_all() -> None:
    """Close every display still open (its line is finished), e.g. before an interrupted run's last line."""
    for display in list(_OPEN):
        try:
            display.close()
        except Exception:  # noqa: BLE001 - the run is ending; the display is cosmetic
            pass
