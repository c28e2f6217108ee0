"""Charts: one PNG per function, the shared look, deterministic bytes (also across processes), edge cases."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from datasets import Dataset

import builder.dataset.charts as charts
from builder.dataset.dist import write_dist
from builder.core.schema import CANDIDATE_FEATURES
from builder.dataset.stats import compute_stats
from fakes.synthetic import synthetic_candidates, synthetic_problems
from builder.dataset.charts import style
from builder.core.meta import BuildMeta

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stats(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    problems = synthetic_problems(150, seed=13)
    out = tmp_path_factory.mktemp("charts") / "c"
    write_dist(out, synthetic_candidates(problems, 1300, seed=13), problems, BuildMeta(name="c", seed=1))
    return compute_stats(out)


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def pixels(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    return (imread(path)[..., :3] * 255).round().astype(np.uint8)


def has_color(image: np.ndarray, hex_color: str, min_pixels: int = 200) -> bool:
    rgb = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
    return int((np.abs(image.astype(np.int16) - rgb).max(axis=-1) <= 2).sum()) >= min_pixels


def test_every_chart_is_a_clean_png_in_the_shared_look(stats: dict[str, Any], tmp_path: Path) -> None:
    paths = charts.draw_all(stats, tmp_path)
    assert [p.name for p in paths] == list(charts.CHARTS)
    for path in paths:
        data = path.read_bytes()
        chunks = png_chunks(data)
        kinds = [k for k, _ in chunks]
        assert b"tIME" not in kinds  # no timestamp
        text = b"".join(body for k, body in chunks if k in (b"tEXt", b"iTXt", b"zTXt"))
        assert b"Software" not in text and b"matplotlib" not in text.lower()
        width, height = struct.unpack(">II", chunks[0][1][:8])
        assert width >= style.WIDTH_IN * style.DPI - 1 and 250 <= height <= 1200, (path.name, width, height)
        image = pixels(path)
        assert len(np.unique(image.reshape(-1, 3), axis=0)) > 20, f"{path.name} looks blank"
    assert has_color(pixels(tmp_path / "difficulty_pass_rate.png"), style.PASSED)
    assert has_color(pixels(tmp_path / "pass_count_histogram.png"), style.FAILED)  # the 0-passing bar
    rejection = pixels(tmp_path / "rejection_types.png")
    for verdict in ("wa", "timeout", "logic_error"):
        assert has_color(rejection, style.VERDICT_COLORS[verdict]), verdict
    tokens = pixels(tmp_path / "token_lengths.png")
    assert has_color(tokens, style.PASSED, 50) and has_color(tokens, style.FAILED_DARK, 50)  # failed: a dark outline


def test_charts_are_byte_identical_across_processes(stats: dict[str, Any], tmp_path: Path) -> None:
    first = {p.name: p.read_bytes() for p in charts.draw_all(stats, tmp_path / "a")}
    again = {p.name: p.read_bytes() for p in charts.draw_all(stats, tmp_path / "b")}
    assert first == again
    (tmp_path / "stats.json").write_text(json.dumps(stats))
    code = (
        "import json, sys; from pathlib import Path; import charts; "
        "charts.draw_all(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "stats.json"), str(tmp_path / "c")], check=True, cwd=ROOT,
                   env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert {p.name: p.read_bytes() for p in sorted((tmp_path / "c").glob("*.png"))} == first


def test_charts_follow_the_statistics(stats: dict[str, Any], tmp_path: Path) -> None:
    base = charts.difficulty_pass_rate_chart(stats, tmp_path / "base.png").read_bytes()
    changed = json.loads(json.dumps(stats))
    changed["by_difficulty"][0]["pass_rate"] = 0.01
    assert charts.difficulty_pass_rate_chart(changed, tmp_path / "changed.png").read_bytes() != base


def _one_problem_stats(tmp_path: Path, verdicts: list[str], tokens: int | None) -> dict[str, Any]:
    problems = synthetic_problems(1, seed=2)
    base = synthetic_candidates(problems, 1, seed=2).to_list()[0]
    rows = [{**base, "candidate_id": f"x_{i}", "candidate_index": i, "verdict": v, "num_tokens": tokens} for i, v in enumerate(verdicts)]
    write_dist(tmp_path, Dataset.from_list(rows, features=CANDIDATE_FEATURES), problems, BuildMeta(name="one", seed=0))
    return compute_stats(tmp_path)


def test_edge_cases_skip_what_cannot_be_drawn(tmp_path: Path) -> None:
    all_pass = _one_problem_stats(tmp_path / "p", ["passed", "passed"], None)
    # one problem, one source: the heatmap would repeat the difficulty chart
    assert charts.charts_for(all_pass) == ["difficulty_pass_rate.png", "pass_count_histogram.png"]
    with pytest.raises(ValueError, match="unavailable"):
        charts.token_lengths_chart(all_pass, tmp_path / "t.png")
    assert sorted(p.name for p in (tmp_path / "p" / "assets").glob("*.png")) == sorted(charts.charts_for(all_pass))

    only_errors = _one_problem_stats(tmp_path / "e", ["sandbox_error"], 12)
    assert charts.charts_for(only_errors) == ["rejection_types.png"]
    charts.draw_all(only_errors, tmp_path / "e_assets")
    assert (tmp_path / "e_assets" / "rejection_types.png").stat().st_size > 1000
