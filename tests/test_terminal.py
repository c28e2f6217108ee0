"""The run's terminal: what the libraries print goes to the build log, and the run's last line stays the last line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: a run interrupted while a library's progress bar is open (vLLM's "Processed prompts" during a generation): the bar
#: is still referenced by the interrupted frame when the run's output is handed back to the terminal
INTERRUPTED_BAR = """
import sys
from tqdm import tqdm
from builder.core.terminal import run_output

held = []
try:
    with run_output(__import__("pathlib").Path(sys.argv[1])) as terminal:
        terminal.write("ours\\n")
        held.append(tqdm(total=2, desc="Processed prompts", file=sys.stderr))
        raise KeyboardInterrupt
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr, flush=True)
del held[:]  # collected after the run's last line, as the interrupted frame is
"""


def test_a_library_bar_left_open_ends_in_the_log_not_after_the_last_line(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    proc = subprocess.run([sys.executable, "-c", INTERRUPTED_BAR, str(log)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == ["ours", "interrupted"]
    assert "Processed prompts" in log.read_text()
