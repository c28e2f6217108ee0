"""Every adapter through its Hub-id code path, against the in-process Hub double (tests/hub_double.py) serving the
upstream-shaped fixtures under the upstreams' own ids: the same problems as from the local folders. The repositories
that keep a loading script fail under plain ``load_dataset`` exactly as the real ones do, and load here anyway."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fakes.hub_double import HubDouble, use_temporary_hf_home  # noqa: E402

from builder.core.errors import UserError  # noqa: E402
from builder.problems.sources import KINDS, load_source  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "sources"
sys.path.insert(0, str(FIXTURES))
from make_fixtures import FOLDERS  # noqa: E402

#: (kind, subset, split): every adapter, in the shapes the fixtures have
CASES = [
    ("taco", None, None),
    ("taco", "ALL", "test"),
    ("apps", None, None),
    ("apps", None, "test"),
    ("livecodebench", "release_v5", None),
    ("livecodebench", "v1_v3", None),
    ("livecodebench", None, None),
    ("codeforces", None, None),
    ("codeforces", "verifiable", None),
    ("deepcoder", "taco", None),
    ("deepcoder", "codeforces", None),
    ("deepcoder", "lcbv5", "test"),
    ("code_contests", None, None),
    ("kodcode", None, None),
]
SCRIPTS = {"taco": "TACO.py", "apps": "apps.py", "livecodebench": "code_generation_lite.py"}


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The Hub double with every fixture folder under its upstream's id, a fresh HF cache, no real network."""
    from huggingface_hub.hf_file_system import HfFileSystem

    use_temporary_hf_home(tmp_path / "hf", monkeypatch)
    real_connect = socket.socket.connect

    def no_network(self: socket.socket, address: object) -> None:  # everything must go through the double
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"real network access to {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", no_network)
    HfFileSystem.clear_instance_cache()
    double = HubDouble(page_size=4)  # small pages: listings follow Link headers
    for kind, folder in FOLDERS.items():
        double.seed_folder(KINDS[kind][1], folder)
    with double.install():
        yield double
    HfFileSystem.clear_instance_cache()


def _rows(result) -> list[dict]:
    return [{k: v for k, v in p.items() if k != "origin"} for p in result.problems]


@pytest.mark.parametrize(("kind", "subset", "split"), CASES)
def test_hub_id_path_gives_the_local_problems(hub: HubDouble, kind: str, subset: str | None, split: str | None) -> None:
    # a local copy reads the generated tests it holds; from the Hub they are fetched only when asked (below)
    local_options = {"generated_tests": False} if kind == "codeforces" else {}
    local = load_source(kind, str(FOLDERS[kind]), subset=subset, split=split, **local_options)
    remote = load_source(kind, subset=subset, split=split)  # path: the kind's Hub id
    assert remote.path == KINDS[kind][1]
    assert _rows(remote) == _rows(local) and len(local.problems) > 0
    assert remote.counts == local.counts and remote.notes == local.notes
    assert remote.solutions.to_list() == local.solutions.to_list()
    assert list(remote.quarantine["reason"]) == list(local.quarantine["reason"])
    assert all(p["origin"].startswith(KINDS[kind][1]) for p in remote.problems)


@pytest.mark.parametrize("kind", sorted(SCRIPTS))
def test_script_repositories_refuse_load_dataset_like_the_real_ones(hub: HubDouble, kind: str) -> None:
    """The fixtures reproduce the upstream failure: ``datasets`` 5 refuses the repository and the local folder."""
    import datasets

    for path in (KINDS[kind][1], str(FOLDERS[kind])):
        with pytest.raises(RuntimeError, match=f"Dataset scripts are no longer supported, but found {SCRIPTS[kind]}"):
            datasets.load_dataset(path)


def test_files_come_from_one_pinned_commit(hub: HubDouble) -> None:
    """A script repository is read at the commit its file list came from (``hf://...@<commit>/...``), and a new
    commit is read afresh, not from the cache of the previous one."""
    import json

    first = load_source("livecodebench", subset="v6")
    sha = hub.repo("livecodebench/code_generation_lite").refs["main"]
    assert hub.count("GET", rf"/resolve/{sha}/test6\.jsonl$") == 1
    row = json.loads((FOLDERS["livecodebench"] / "test6.jsonl").read_text().splitlines()[0])
    row["question_id"] = "abc999_a"
    new = hub.seed("livecodebench/code_generation_lite", {"test6.jsonl": (json.dumps(row) + "\n").encode()})
    second = load_source("livecodebench", subset="v6")
    assert first.problems["problem_id"] == ["abc904_a"] and second.problems["problem_id"] == ["abc999_a"]
    assert hub.count("GET", rf"/resolve/{new.oid}/test6\.jsonl$") == 1


def test_generated_tests_fetched_from_the_hub_when_asked(hub: HubDouble) -> None:
    """From the Hub, generated tests are fetched only with generated_tests=True; without them the problem whose
    official tests are incomplete is skipped, with them it is kept with official + generated tests."""
    without = load_source("codeforces", subset="verifiable")
    assert "1/A" not in without.problems["problem_id"]
    assert without.counts["skipped: official tests incomplete and no generated tests (generated_tests=true fetches them)"] == 1
    fetched = load_source("codeforces", subset="verifiable", generated_tests=True)
    a = next(p for p in fetched.problems if p["problem_id"] == "1/A")
    assert len(a["tests"]) == 4 and a["official_tests_complete"] is False
    assert hub.count("GET", r"/resolve/[^/]+/generated_tests/test_cases_0001\.parquet$") >= 1


def test_missing_repository_is_one_line(hub: HubDouble) -> None:
    with pytest.raises(UserError, match="no such dataset repository on the Hub"):
        load_source("taco", "nobody/TACO")
