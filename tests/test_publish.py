"""`builder publish` against an in-process Hub (tests/hub_double.py): one idempotent commit, then load_dataset."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fakes.hub_double import HubDouble  # noqa: E402

from builder.cli import cli  # noqa: E402
from builder.core.errors import UserError  # noqa: E402
from builder import publish as pub  # noqa: E402
from builder.core.meta import BuildMeta

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")

TOKEN = "hf_dOuBlEtOkEn0123456789abcdefXYZ"
USER = "tester"
REPO = f"{USER}/demo"

META = {
    "name": "demo",
    "recipe": 'name = "demo"\nseed = 1\n',
    "recipe_hash": "ab" * 32,
    "seed": 1,
    "model": "models/demo",
    "backend": "vllm",
    "sampling": {"n": 8, "temperature": 0.8, "top_p": 0.95, "top_k": -1, "max_tokens": 256},
    "prompt": {"system": None, "user": "Solve the following problem.\n\n{problem}"},
    "limits": {"time_limit_s": 4.0, "memory_limit_mb": 512},
    "sandbox": {"executor": "forkserver", "level": "namespaces+cgroup+seccomp"},
    "versions": {"builder": "0.1.0"},
    "dataset": {"dpo_pairs_per_problem": 2, "pretty_name": "Demo", "license": "mit"},
    "sources": [{"kind": "local", "path": "data/demo/problems.jsonl", "problems": 30, "quarantined": 0,
                 "license": "mit"}],
}


def _build(dist: Path, *, seed: int, sft_shards: int) -> Path:
    """A real built folder (builder.dist.write_dist on synthetic judged candidates), sft in ``sft_shards`` shards."""
    from builder.dataset.dist import render_card, shard_name, write_dist
    from fakes.synthetic import synthetic_candidates, synthetic_problems

    problems = synthetic_problems(30, seed=seed)
    write_dist(dist, synthetic_candidates(problems, 30 * 8, seed=seed), problems, BuildMeta.model_validate({**META, "seed": seed}))
    if sft_shards > 1:
        shards = sorted((dist / "sft").glob("train-*.parquet"))
        table = pa.concat_tables([pq.read_table(f) for f in shards])
        for f in shards:
            f.unlink()
        step = -(-len(table) // sft_shards)
        for i in range(sft_shards):
            pq.write_table(table.slice(i * step, step), dist / "sft" / shard_name(i, sft_shards))
        render_card(dist)
    return dist


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """v1: sft in 3 shards; v2: the same rows in 1 shard (a rebuild with fewer shards); v3: another build."""
    root = tmp_path_factory.mktemp("builds")
    return {
        "v1": _build(root / "v1", seed=1, sft_shards=3),
        "v2": _build(root / "v2", seed=1, sft_shards=1),
        "v3": _build(root / "v3", seed=2, sft_shards=1),
    }


def put(builds: dict[str, Path], version: str, tmp_path: Path) -> Path:
    """(Re)build ``tmp_path/dist/demo`` as ``version``: the folder a user publishes."""
    dist = tmp_path / "dist" / "demo"
    if dist.exists():
        shutil.rmtree(dist)
    shutil.copytree(builds[version], dist)
    return dist


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The Hub double, a fresh HF cache under tmp_path, HF_TOKEN set, no retry sleeps, no real network."""
    import datasets
    from huggingface_hub import constants
    from huggingface_hub.hf_file_system import HfFileSystem

    home = tmp_path / "hf"
    for name, value in {
        "HF_HOME": home, "HF_HUB_CACHE": home / "hub", "HF_ASSETS_CACHE": home / "assets",
        "HF_TOKEN_PATH": home / "token", "HF_STORED_TOKENS_PATH": home / "stored_tokens",
        "HF_XET_CACHE": home / "xet", "AGENT_HARNESSES_PATH": home / ".agent_harnesses.json",
    }.items():
        monkeypatch.setattr(constants, name, str(value))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for name, value in {
        "HF_CACHE_HOME": str(home), "HF_DATASETS_CACHE": home / "datasets", "HF_MODULES_CACHE": home / "modules",
        "DOWNLOADED_DATASETS_PATH": home / "datasets" / "downloads",
        "EXTRACTED_DATASETS_PATH": home / "datasets" / "downloads" / "extracted",
    }.items():
        monkeypatch.setattr(datasets.config, name, value)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(home / "datasets"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr("builder.publish.hub.RETRY_BACKOFF_S", 0.0)

    real_connect = socket.socket.connect

    def no_network(self: socket.socket, address: object) -> None:  # everything must go through the double
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"real network access to {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", no_network)
    HfFileSystem.clear_instance_cache()
    double = HubDouble(user=USER, token=TOKEN, page_size=5)  # small pages: the tree listing follows Link headers
    with double.install():
        yield double
    HfFileSystem.clear_instance_cache()


def rows_of(dist: Path, config: str) -> list[dict]:
    files = sorted((dist / config).glob("train-*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files]).to_pylist()


def load_from_hub(repo_id: str, config: str, **kwargs) -> list[dict]:
    import datasets

    return datasets.load_dataset(repo_id, config, split="train", **kwargs).to_list()


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_publish_then_load_dataset_returns_the_local_rows(
    builds: dict[str,
    Path],
    hub: HubDouble,
    tmp_path: Path,
) -> None:
    dist = put(builds, "v1", tmp_path)
    code, out = run_cli("publish", str(dist), "--repo-id", REPO)
    assert code == 0, out
    assert "committed" in out
    repo = hub.repo(REPO)
    assert len(repo.log()) == 2  # the repository's first commit and ours
    commit = repo.log()[0]
    configs = ("sft", "sft_tokenized", "dpo", "kto", "candidates", "problems")
    rows = {config: len(rows_of(dist, config)) for config in configs}
    counts = ", ".join(f"{config} {rows[config]}" for config in configs)
    assert commit.title == f"Publish demo: {counts} rows (model models/demo; recipe abababababab)"
    assert f"- sft/train: {rows['sft']} rows" in commit.description.splitlines()
    remote = hub.files(REPO)
    local = {p.relative_to(dist).as_posix(): p.read_bytes() for p in dist.rglob("*") if p.is_file()}
    assert {k: v for k, v in remote.items() if k != ".gitattributes"} == local
    assert repo.head("main").files["sft/train-00000-of-00003.parquet"].lfs  # parquet went through LFS
    assert not repo.head("main").files["README.md"].lfs

    for config in ("sft", "dpo", "candidates", "problems"):
        assert load_from_hub(REPO, config) == rows_of(dist, config)
    assert hub.hosts <= {"huggingface.co", "lfs-double.invalid", "datasets-server.huggingface.co", "s3.amazonaws.com"}
    assert any((tmp_path / "hf" / "hub").glob("datasets--tester--demo")), "downloads go to the temporary HF cache"


def test_the_published_folder_downloads_back_with_a_card_that_checks_clean(
    builds: dict[str, Path], hub: HubDouble, tmp_path: Path
) -> None:
    """What .github/workflows/card.yml does when dist/ is not committed: download, then `builder card --check`."""
    from huggingface_hub import snapshot_download

    dist = put(builds, "v1", tmp_path)
    pub.publish(dist, REPO, echo=lambda _: None)
    downloaded = Path(snapshot_download(REPO, repo_type="dataset", local_dir=tmp_path / "downloaded"))
    for path in dist.rglob("*"):
        if path.is_file():
            assert (downloaded / path.relative_to(dist)).read_bytes() == path.read_bytes()
    code, out = run_cli("card", str(downloaded), "--check")
    assert code == 0, out


def test_republishing_an_unchanged_folder_makes_no_commit(
    builds: dict[str,
    Path],
    hub: HubDouble,
    tmp_path: Path,
) -> None:
    dist = put(builds, "v1", tmp_path)
    pub.publish(dist, REPO, echo=lambda _: None)
    commits = len(hub.repo(REPO).log())
    uploads = hub.count("PUT", "^/lfs-upload/")
    lines: list[str] = []
    result = pub.publish(dist, REPO, echo=lines.append)
    assert not result.committed
    assert len(hub.repo(REPO).log()) == commits
    assert hub.count("POST", "/commit/") == 1 and hub.count("PUT", "^/lfs-upload/") == uploads
    assert lines[-1].startswith("nothing to commit")
    assert len(result.plan.keep) == len(result.validation.files) and not result.plan.add


def test_rebuild_with_fewer_shards_removes_the_stale_ones(
    builds: dict[str,
    Path],
    hub: HubDouble,
    tmp_path: Path,
) -> None:
    dist = put(builds, "v1", tmp_path)
    pub.publish(dist, REPO, echo=lambda _: None)
    hub.repos[("dataset", REPO)]  # noqa: B018 - exists
    dist = put(builds, "v2", tmp_path)
    result = pub.publish(dist, REPO, echo=lambda _: None)
    assert result.committed
    assert set(result.plan.delete) == {"sft/train-00001-of-00003.parquet", "sft/train-00002-of-00003.parquet",
                                       "sft/train-00000-of-00003.parquet"}
    assert "dpo/train-00000-of-00001.parquet" in result.plan.keep
    remote = hub.files(REPO)
    assert sorted(p for p in remote if p.startswith("sft/")) == ["sft/train-00000-of-00001.parquet"]
    assert len(hub.repo(REPO).log()) == 3  # one commit per publish
    assert load_from_hub(REPO, "sft") == rows_of(dist, "sft")


def test_files_outside_the_builders_folders_are_left_alone(
    builds: dict[str,
    Path],
    hub: HubDouble,
    tmp_path: Path,
) -> None:
    from huggingface_hub import CommitOperationAdd, HfApi

    dist = put(builds, "v1", tmp_path)
    pub.publish(dist, REPO, echo=lambda _: None)
    HfApi(token=TOKEN).create_commit(REPO, [CommitOperationAdd("notes/extra.txt", b"hand-written")],
                                     commit_message="by hand", repo_type="dataset")
    result = pub.publish(dist, REPO, echo=lambda _: None)
    assert not result.committed and "notes/extra.txt" in hub.files(REPO)


def test_dry_run_touches_nothing(builds: dict[str, Path], hub: HubDouble, tmp_path: Path) -> None:
    dist = put(builds, "v1", tmp_path)
    code, out = run_cli("publish", str(dist), "--repo-id", REPO, "--dry-run")
    assert code == 0, out
    assert "(the repository would be created)" in out and "add     sft/train-00000-of-00003.parquet" in out
    assert hub.repos == {} and hub.lfs_store == {}
    writes = [r for r in hub.requests if r[0] in ("POST", "PUT", "DELETE")]
    assert writes == []

    pub.publish(dist, REPO, echo=lambda _: None)
    put(builds, "v2", tmp_path)
    before = (len(hub.repo(REPO).log()), len(hub.lfs_store), len(hub.requests))
    code, out = run_cli("publish", str(dist), "--repo-id", REPO, "--dry-run")
    assert code == 0, out
    assert "delete  sft/train-00002-of-00003.parquet" in out and "keep    dpo/train-00000-of-00001.parquet" in out
    assert "add     sft/train-00000-of-00001.parquet" in out
    new = hub.requests[before[2]:]
    assert all(method in ("GET", "HEAD") for method, _ in new), new
    assert (len(hub.repo(REPO).log()), len(hub.lfs_store)) == before[:2]


def test_a_failed_validation_uploads_nothing(builds: dict[str, Path], hub: HubDouble, tmp_path: Path) -> None:
    dist = put(builds, "v1", tmp_path)
    for shard in (dist / "dpo").glob("*.parquet"):  # the card declares dpo, the folder has none
        shard.unlink()
    code, out = run_cli("publish", str(dist), "--repo-id", REPO)
    assert code == 2
    assert "dpo" in out and "Traceback" not in out
    assert hub.requests == []

    dist = put(builds, "v1", tmp_path)
    (dist / "sft" / "train-00001-of-00003.parquet").write_bytes(b"PAR1 this is not parquet")
    code, out = run_cli("publish", str(dist), "--repo-id", REPO)
    assert code == 2 and "config 'sft'" in out and hub.requests == []

    dist = put(builds, "v1", tmp_path)
    chart = sorted((dist / "assets").glob("*.png"))[0]
    chart.unlink()
    code, out = run_cli("publish", str(dist), "--repo-id", REPO)
    assert code == 2 and f"is stale: assets/{chart.name} is missing" in out and hub.requests == []

    dist = put(builds, "v2", tmp_path)  # the card of another build: the statistics don't match the data
    (dist / "README.md").write_bytes((builds["v3"] / "README.md").read_bytes())
    code, out = run_cli("publish", str(dist), "--repo-id", REPO)
    assert code == 2 and "README.md is out of date" in out and hub.requests == []


def test_a_file_over_the_hub_limit_is_refused(
    builds: dict[str,
    Path],
    hub: HubDouble,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dist = put(builds, "v1", tmp_path)
    monkeypatch.setattr("builder.publish.validate.HUB_MAX_FILE_BYTES", 1000)
    with pytest.raises(UserError, match="the Hub refuses files over"):
        pub.publish(dist, REPO, echo=lambda _: None)
    assert hub.requests == []


def test_the_token_never_appears_in_output_logs_or_files(
    builds: dict[str, Path],
    hub: HubDouble,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from huggingface_hub import constants
    from huggingface_hub.utils import logging as hf_logging

    monkeypatch.setattr(constants, "HF_DEBUG", True)  # huggingface_hub logs every request as a curl command
    hf_logging.set_verbosity_debug()
    caplog.set_level(logging.DEBUG)
    try:
        dist = put(builds, "v1", tmp_path)
        outputs = [run_cli("publish", str(dist), "--repo-id", REPO)[1]]
        put(builds, "v2", tmp_path)
        outputs.append(run_cli("publish", str(dist), "--repo-id", REPO, "--dry-run")[1])
        outputs.append(run_cli("publish", str(dist), "--repo-id", REPO, "--revision", "next", "--create-pr")[1])
        hub.fail(403, method="POST", path="/commit/")
        put(builds, "v3", tmp_path)
        outputs.append(run_cli("publish", str(dist), "--repo-id", REPO)[1])
        load_from_hub(REPO, "sft")
    finally:
        hf_logging.set_verbosity_warning()
    captured = capfd.readouterr()
    assert "no write access" in outputs[-1]
    assert hub.repo(REPO).prs == 1
    everything = "\n".join([*outputs, captured.out, captured.err, caplog.text])
    assert "(authenticated: True)" in everything and "<TOKEN>" in everything  # debug logging really was on
    assert TOKEN not in everything
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    for commit in hub.repo(REPO).commits.values():
        assert TOKEN not in commit.title + commit.description
        assert all(TOKEN.encode() not in hub._content(blob) for blob in commit.files.values())


def test_a_folder_holding_the_token_is_not_published(builds: dict[str, Path], hub: HubDouble, tmp_path: Path) -> None:
    dist = put(builds, "v1", tmp_path)
    (dist / "build.json").write_text(json.dumps({"name": "demo", "env": {"HF_TOKEN": TOKEN}}), encoding="utf-8")
    code, out = run_cli("publish", str(dist), "--repo-id", REPO)
    assert code == 2 and "contains your Hugging Face token" in out and TOKEN not in out
    assert hub.requests == []


@pytest.mark.parametrize("kind", ["spawn", "auto"])
def test_a_sandboxed_program_cannot_see_the_token(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from builder.sandbox import Limits, make_sandbox

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", TOKEN)
    code = (
        "import os\n"
        "env = dict(os.environ)\n"
        "try:\n"
        "    env['/proc/self/environ'] = open('/proc/self/environ', 'rb').read().decode('latin-1')\n"
        "except OSError:\n"
        "    pass\n"
        "print(repr(env))\n"
    )
    with make_sandbox(kind) as sandbox:
        result = sandbox.run(code, b"", Limits(cpu_s=5, memory_mb=256))
    assert result.status == "exited" and result.exit_code == 0, result
    assert b"PATH" in result.stdout  # the program ran and printed its environment
    assert TOKEN.encode() not in result.stdout and b"HF_TOKEN" not in result.stdout


def test_offline_mode_fails_fast(
    builds: dict[str,
    Path],
    hub: HubDouble,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dist = put(builds, "v1", tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, out = run_cli("publish", str(dist), "--repo-id", REPO)
    assert code == 2
    assert "HF_HUB_OFFLINE is set" in out and "Traceback" not in out
    assert hub.requests == []


def test_no_token_is_one_clear_message(
    builds: dict[str,
    Path],
    hub: HubDouble,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dist = put(builds, "v1", tmp_path)
    monkeypatch.delenv("HF_TOKEN")
    code, out = run_cli("publish", str(dist), "--repo-id", REPO)
    assert code == 2 and "no Hugging Face token" in out
    assert hub.requests == []
    code, out = run_cli("publish", str(dist), "--repo-id", REPO, "--dry-run")  # reading needs no token
    assert code == 0 and "would be created" in out


def test_a_rate_limit_then_success_is_retried(builds: dict[str, Path], hub: HubDouble, tmp_path: Path) -> None:
    dist = put(builds, "v1", tmp_path)
    hub.fail(429, method="POST", path="/commit/", times=2)
    hub.fail(503, method="POST", path="^/api/repos/create$")
    hub.fail(method="GET", path="^/api/whoami-v2$", connect_error=True)
    lines: list[str] = []
    result = pub.publish(dist, REPO, echo=lines.append)
    assert result.committed
    retries = [line for line in lines if "retrying" in line]
    assert len(retries) == 4, lines
    assert any("HTTP 429" in line for line in retries) and any("HTTP 503" in line for line in retries)
    assert any("ConnectError" in line for line in retries)
    assert len(hub.repo(REPO).log()) == 2
    assert load_from_hub(REPO, "dpo") == rows_of(dist, "dpo")


def test_a_persistent_outage_ends_in_one_clear_message(builds: dict[str, Path], hub: HubDouble, tmp_path: Path) -> None:
    dist = put(builds, "v1", tmp_path)
    hub.fail(method="GET", path="^/api/whoami-v2$", connect_error=True, times=100)
    code, out = run_cli("publish", str(dist), "--repo-id", REPO)
    assert code == 2 and "cannot reach the Hub" in out and "Traceback" not in out
    assert len(out.strip().splitlines()[-1]) < 300
    assert hub.repos == {}


def test_no_rights_is_a_clear_message(builds: dict[str, Path], hub: HubDouble, tmp_path: Path) -> None:
    dist = put(builds, "v1", tmp_path)
    code, out = run_cli("publish", str(dist), "--repo-id", "someone-else/demo")
    assert code == 2
    assert "no write access to datasets/someone-else/demo (403 Forbidden)" in out
    assert hub.repos == {}

    hub.tokens[TOKEN] = (USER, "read")
    code, out = run_cli("publish", str(dist), "--repo-id", REPO)
    assert code == 2 and "read-only" in out

    hub.tokens.pop(TOKEN)
    code, out = run_cli("publish", str(dist), "--repo-id", REPO)
    assert code == 2 and "rejected the token (401 Unauthorized)" in out


def test_revision_and_pull_request(builds: dict[str, Path], hub: HubDouble, tmp_path: Path) -> None:
    dist = put(builds, "v1", tmp_path)
    pub.publish(dist, REPO, echo=lambda _: None)
    put(builds, "v2", tmp_path)
    result = pub.publish(dist, REPO, revision="v2", echo=lambda _: None)
    assert result.committed and result.plan.delete
    repo = hub.repo(REPO)
    assert "sft/train-00000-of-00003.parquet" in hub.files(REPO, "main")
    assert "sft/train-00000-of-00003.parquet" not in hub.files(REPO, "v2")
    assert load_from_hub(REPO, "sft", revision="v2") == rows_of(dist, "sft")

    result = pub.publish(dist, REPO, create_pr=True, message="Rebuild with fewer shards", echo=lambda _: None)
    assert result.pr_url and result.pr_url.endswith("/discussions/1")
    assert repo.head("refs/pr/1").title == "Rebuild with fewer shards"
    assert hub.files(REPO, "refs/pr/1") == hub.files(REPO, "v2")
    assert "sft/train-00000-of-00003.parquet" in hub.files(REPO, "main")  # main untouched until merged


def test_a_concurrent_commit_makes_publish_plan_again(builds: dict[str, Path], hub: HubDouble, tmp_path: Path) -> None:
    from huggingface_hub import CommitOperationAdd, HfApi

    dist = put(builds, "v1", tmp_path)
    pub.publish(dist, REPO, echo=lambda _: None)
    put(builds, "v2", tmp_path)
    api = HfApi(token=TOKEN)
    original = pub.plan_publish
    calls = []

    def plan_then_someone_commits(*args, **kwargs):
        plan = original(*args, **kwargs)
        if not calls:  # between our plan and our commit, somebody else adds a shard
            api.create_commit(REPO, [CommitOperationAdd("sft/train-00009-of-00009.parquet", b"x")],
                              commit_message="concurrent", repo_type="dataset")
        calls.append(plan)
        return plan

    pub_plan = pytest.MonkeyPatch()
    pub_plan.setattr(pub, "plan_publish", plan_then_someone_commits)
    try:
        result = pub.publish(dist, REPO, echo=lambda _: None)
    finally:
        pub_plan.undo()
    assert len(calls) == 2 and "sft/train-00009-of-00009.parquet" in result.plan.delete
    assert sorted(p for p in hub.files(REPO) if p.startswith("sft/")) == ["sft/train-00000-of-00001.parquet"]


def test_repo_id_must_name_a_namespace(builds: dict[str, Path], hub: HubDouble, tmp_path: Path) -> None:
    dist = put(builds, "v1", tmp_path)
    code, out = run_cli("publish", str(dist), "--repo-id", "demo")
    assert code == 2 and "USER/NAME" in out and hub.requests == []
    code, out = run_cli("publish", str(dist), "--repo-id", "tester/no spaces")
    assert code == 2 and "is not a valid repository id" in out and hub.requests == []


def test_private_creates_a_private_repository(builds: dict[str, Path], hub: HubDouble, tmp_path: Path) -> None:
    dist = put(builds, "v1", tmp_path)
    code, out = run_cli("publish", str(dist), "--repo-id", REPO, "--private")
    assert code == 0, out
    assert hub.repo(REPO).private
    hub.tokens["hf_other"] = ("other", "write")
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    with pytest.raises(RepositoryNotFoundError):  # invisible to anyone else
        list(HfApi(token="hf_other").list_repo_tree(REPO, repo_type="dataset"))
    assert load_from_hub(REPO, "dpo") == rows_of(dist, "dpo")  # visible with the owner's token (HF_TOKEN)

    hub.repos.clear()
    pub.publish(dist, REPO, echo=lambda _: None)
    lines: list[str] = []
    pub.publish(dist, REPO, private=True, echo=lines.append)
    assert not hub.repo(REPO).private and any("does not change its visibility" in line for line in lines)


def test_the_card_is_rendered_for_the_repository_it_goes_to(builds: dict[str, Path], hub: HubDouble, tmp_path: Path) -> None:
    """A build without [dataset] repo_id names its card after the local folder (load_dataset("demo", ...));
    publishing renders it for the repository, records the id in build.json, and `card --check` still holds."""
    import json

    dist = put(builds, "v1", tmp_path)
    before = (dist / "README.md").read_text(encoding="utf-8")
    assert 'load_dataset("demo", "sft"' in before and f"datasets/{REPO}" not in before

    code, out = run_cli("publish", str(dist), "--repo-id", REPO, "--dry-run")
    assert code == 0, out
    assert f"card: would be rendered for {REPO} (it names demo)" in out
    assert (dist / "README.md").read_text(encoding="utf-8") == before  # a dry run writes nothing

    code, out = run_cli("publish", str(dist), "--repo-id", REPO)
    assert code == 0, out
    assert f"card: rendered for {REPO} (it named demo)" in out
    card = (dist / "README.md").read_text(encoding="utf-8")
    assert 'load_dataset("demo"' not in card
    assert f'load_dataset("{REPO}", "sft", split="train")' in card
    assert f"\\url{{https://huggingface.co/datasets/{REPO}}}" in card
    assert json.loads((dist / "build.json").read_text())["dataset"]["repo_id"] == REPO
    assert hub.files(REPO)["README.md"] == card.encode("utf-8")
    assert run_cli("card", str(dist), "--check")[0] == 0

    code, out = run_cli("publish", str(dist), "--repo-id", REPO)  # now it names the repository: nothing to redo
    assert code == 0 and "card: rendered" not in out and "nothing to commit" in out
