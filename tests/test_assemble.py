"""The sft / dpo / kto / candidates / problems configs: fields, TRL's conversational rule, pairing, balance, join keys,
licences, rewards, line endings, JSONL copies, pass@k, determinism."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from datasets import Dataset, load_dataset

from builder.core import taxonomy as T
from builder.dataset.candidates import (
    CANDIDATES_CONFIG_FEATURES,
    MEASURED_COLUMNS,
    candidates_config,
    fill_token_counts,
    normalize_candidates,
)
from builder.dataset.configs import choose_pairs, dpo_config
from builder.dataset.problems import empirical_difficulty, pass_at_k, problems_config
from builder.dataset.dist import write_dist
from builder.core.prompt import build_messages
from builder.core.schema import CANDIDATE_FEATURES
from builder.core.meta import BuildMeta
from fakes.synthetic import synthetic_candidates, synthetic_problems

SEED_FIELDS = ["id", "problem", "response", "solution", "test_pass_rate", "tests_passed", "tests_total", "source", "difficulty"]
RECIPE = 'name = "asm"\nseed = 99\n\n[dataset]\ndpo_pairs_per_problem = 3\nlicense = "MIT"\n'
META: dict[str, Any] = {
    "name": "asm",
    "recipe": RECIPE,
    "recipe_hash": "f" * 64,
    "seed": 99,
    "model": "demo-model",
    "prompt": {"system": "Be brief.", "user": "Solve it.\n\n{problem}"},
    "dataset": {"dpo_pairs_per_problem": 3, "license": "MIT"},
}


def is_conversational(example: dict[str, Any]) -> bool:
    """TRL's ``trl.data_utils.is_conversational``, reimplemented exactly (TRL is not a dependency)."""
    supported_keys = ["prompt", "chosen", "rejected", "completion", "messages"]
    example_keys = {key for key in example.keys() if key in supported_keys}
    if example_keys:
        key = example_keys.pop()
        maybe_messages = example[key]
        if isinstance(maybe_messages, list):
            maybe_message = maybe_messages[0]
            if isinstance(maybe_message, dict) and "role" in maybe_message and "content" in maybe_message:
                return True
    return False


def build(out: Path, seed: int = 3, meta: dict[str, Any] | None = None) -> Path:
    problems = synthetic_problems(90, seed=seed)
    candidates = synthetic_candidates(problems.select(range(85)), 700, seed=seed)
    write_dist(out, candidates, problems, BuildMeta.model_validate(meta or META))
    return out


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("asm") / "asm")


@pytest.fixture(scope="module")
def source_rows() -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    problems = synthetic_problems(90, seed=3)
    candidates = synthetic_candidates(problems.select(range(85)), 700, seed=3)
    return candidates.to_list(), {p["problem_id"]: p for p in problems.to_list()}


def test_every_config_loads_with_load_dataset(dist: Path) -> None:
    sizes = {}
    for config in ("sft", "dpo", "kto", "candidates", "problems"):
        ds = load_dataset(str(dist), config, split="train")
        sizes[config] = len(ds)
        assert len(ds) > 0
    assert sizes["candidates"] == 700 and sizes["problems"] == 90
    assert not (dist / "sft_tokenized").exists()  # "demo-model" names no tokenizer that loads without a download
    assert json.loads((dist / "build.json").read_text())["tokenized"] == {
        "tokenizer": "demo-model", "rows": 0, "left_out": 0, "skipped": "the tokenizer is not available without a download",
    }


def test_sft_keeps_the_seed_fields_and_trl_messages(dist: Path, source_rows) -> None:
    candidates, problems = source_rows
    sft = load_dataset(str(dist), "sft", split="train")
    assert sft.column_names == [*SEED_FIELDS, "language", "problem_id", "candidate_id", "license", "messages"]
    passed = [c for c in candidates if c["verdict"] == "passed"]
    assert len(sft) == len(passed)
    for row, cand in zip(sft, passed):
        assert row["id"] == f"{cand['problem_id']}_sft_{cand['candidate_index']}"
        assert (row["problem_id"], row["candidate_id"]) == (cand["problem_id"], cand["candidate_id"])
        problem = problems[cand["problem_id"]]
        assert row["license"] == problem["license"]
        assert row["problem"] == problem["problem"]
        assert (row["response"], row["solution"], row["tests_passed"], row["tests_total"]) == (
            cand["response"], cand["solution"], cand["tests_total"], cand["tests_total"]
        )
        assert row["test_pass_rate"] == 1.0 and (row["source"], row["difficulty"]) == (cand["source"], cand["difficulty"])
        assert is_conversational({"messages": row["messages"]})
        assert all(set(m) == {"role", "content"} for m in row["messages"])
        assert row["messages"] == [*build_messages(problem, "Be brief.", "Solve it.\n\n{problem}"), {"role": "assistant", "content": cand["response"]}]
    assert len(set(sft["id"])) == len(sft)


def test_dpo_pairs_follow_the_rules(dist: Path, source_rows) -> None:
    candidates, problems = source_rows
    by_id = {c["candidate_id"]: c for c in candidates}
    dpo = load_dataset(str(dist), "dpo", split="train")
    assert dpo.column_names == [
        "prompt", "chosen", "rejected", "problem_id", "rejection_type", "chosen_id", "rejected_id",
        "chosen_pass_rate", "rejected_pass_rate", "source", "difficulty", "language", "license",
    ]
    per_problem: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in dpo:
        for key in ("prompt", "chosen", "rejected"):
            assert is_conversational({key: row[key]}), key
            assert all(set(m) == {"role", "content"} for m in row[key])
        chosen, rejected = by_id[row["chosen_id"]], by_id[row["rejected_id"]]
        assert chosen["verdict"] == T.PASSED
        assert T.is_model_failure(rejected["verdict"]) and rejected["verdict"] != T.SANDBOX_ERROR
        assert row["rejection_type"] == rejected["verdict"]
        assert chosen["problem_id"] == rejected["problem_id"] == row["problem_id"]
        assert row["chosen"] == [{"role": "assistant", "content": chosen["response"]}]
        assert row["rejected"] == [{"role": "assistant", "content": rejected["response"]}]
        assert row["prompt"] == build_messages(problems[row["problem_id"]], "Be brief.", "Solve it.\n\n{problem}")
        assert (row["chosen_pass_rate"], row["rejected_pass_rate"]) == (chosen["test_pass_rate"], rejected["test_pass_rate"])
        assert row["license"] == problems[row["problem_id"]]["license"]
        per_problem[row["problem_id"]].append(row)

    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in candidates:
        groups[c["problem_id"]].append(c)
    covered_types = 0
    for problem_id, cands in groups.items():
        n_pass = sum(c["verdict"] == T.PASSED for c in cands)
        failing = [c for c in cands if T.is_model_failure(c["verdict"])]
        pairs = per_problem.get(problem_id, [])
        k = 3  # from the recipe's [dataset] table
        assert len(pairs) == min(k, n_pass * len(failing)), problem_id
        assert len({(p["chosen_id"], p["rejected_id"]) for p in pairs}) == len(pairs)
        types = {c["verdict"] for c in failing}
        # spread: as many rejection types as pairs allow, and no chosen reused while another is unused
        assert len({p["rejection_type"] for p in pairs}) == min(len(types), len(pairs)), problem_id
        assert len({p["chosen_id"] for p in pairs}) == min(n_pass, len(pairs)), problem_id
        covered_types += len(types) > 1 and len(pairs) > 1
    assert covered_types > 10  # the data really exercised the spreading


def test_dpo_never_pairs_a_sandbox_error_and_depends_on_the_seed() -> None:
    problems = synthetic_problems(1, seed=0)
    pid = problems[0]["problem_id"]
    base = synthetic_candidates(problems, 1, seed=0).to_list()[0]
    rows = []
    for i, verdict in enumerate(["passed", "sandbox_error", "passed", "sandbox_error", "wa", "timeout", "passed", "wa", "no_code", "wa"]):
        rows.append({**base, "candidate_id": f"{pid}_{i}", "candidate_index": i, "verdict": verdict, "response": f"r{i}"})
    cands = Dataset.from_list(rows, features=CANDIDATE_FEATURES)
    only_errors = Dataset.from_list([r for r in rows if r["verdict"] in ("passed", "sandbox_error")], features=CANDIDATE_FEATURES)
    assert len(dpo_config(only_errors, problems, BuildMeta(seed=1))) == 0
    picks = {}
    for seed in range(12):
        ds = dpo_config(cands, problems, BuildMeta.model_validate({"seed": seed, "dataset": {"dpo_pairs_per_problem": 3}}))
        assert sorted(ds["rejection_type"]) == ["no_code", "timeout", "wa"]  # three pairs, three types
        assert not {"1", "3"} & {cid.rsplit("_", 1)[1] for cid in ds["rejected_id"]}
        picks[seed] = tuple(zip(ds["chosen_id"], ds["rejected_id"]))
        assert picks[seed] == tuple(zip(*(dpo_config(cands, problems, BuildMeta.model_validate({"seed": seed, "dataset": {"dpo_pairs_per_problem": 3}}))[c] for c in ("chosen_id", "rejected_id"))))
    assert len(set(picks.values())) > 3  # the seed decides which candidates are paired


def test_choose_pairs_exhausts_distinct_pairs() -> None:
    import random

    pairs = choose_pairs([1, 2], [(5, "wa"), (6, "wa"), (7, "timeout")], 100, random.Random(0))
    assert len(pairs) == 6 == len(set(pairs))
    assert choose_pairs([], [(1, "wa")], 2, random.Random(0)) == []
    assert choose_pairs([1], [], 2, random.Random(0)) == []


def test_candidates_config_drops_only_the_measurements(dist: Path, source_rows) -> None:
    candidates, _ = source_rows
    ds = load_dataset(str(dist), "candidates", split="train")
    assert ds.column_names == [*(c for c in CANDIDATE_FEATURES if c not in MEASURED_COLUMNS), "reward", "license"]
    assert ds.features == CANDIDATES_CONFIG_FEATURES
    assert ds["candidate_id"] == [c["candidate_id"] for c in candidates]
    licenses = {p["problem_id"]: p["license"] for p in load_dataset(str(dist), "problems", split="train")}
    for row, cand in zip(ds, candidates):
        killed = cand["verdict"] in ("timeout", "memory")
        assert row["license"] == licenses[cand["problem_id"]]
        assert row["reward"] == (None if cand["verdict"] == T.SANDBOX_ERROR else cand["tests_passed"] / cand["tests_total"])
        for key in ds.column_names:
            if key in ("reward", "license"):
                continue
            if killed and key in ("failed_actual_head", "failed_stderr_tail"):
                assert row[key] is None
            else:
                assert row[key] == cand[key], key


def test_published_tracebacks_hold_no_machine_paths() -> None:
    import sysconfig

    import builder

    problems = synthetic_problems(1, seed=6)
    base = synthetic_candidates(problems, 1, seed=6).to_list()[0]
    stdlib = sysconfig.get_paths()["stdlib"]
    runner = Path(builder.__file__).resolve().parent / "sandbox" / "runner.py"
    trace = f'Traceback (most recent call last):\n  File "{runner}", line 76, in execute\n  File "{stdlib}/threading.py", line 982, in run\nIndexError: x'
    rows = [
        {**base, "candidate_id": "a", "verdict": "logic_error", "failed_stderr_tail": trace, "failed_actual_head": "1\n"},
        {**base, "candidate_id": "b", "verdict": "timeout", "failed_stderr_tail": "partial", "failed_actual_head": "12"},
    ]
    out = candidates_config(Dataset.from_list(rows, features=CANDIDATE_FEATURES), problems)
    assert out[0]["failed_stderr_tail"] == (
        'Traceback (most recent call last):\n  File "<builder>/builder/sandbox/runner.py", line 76, in execute\n'
        '  File "<stdlib>/threading.py", line 982, in run\nIndexError: x'
    )
    assert out[0]["failed_actual_head"] == "1\n"
    assert (out[1]["failed_stderr_tail"], out[1]["failed_actual_head"]) == (None, None)
    assert out[1]["exception"] == base["exception"]


def test_problems_config_counts_pass_at_k_and_labels(dist: Path, source_rows) -> None:
    candidates, problems = source_rows
    ds = load_dataset(str(dist), "problems", split="train")
    assert len(ds) == len(problems)
    for row in ds:
        cands = [c for c in candidates if c["problem_id"] == row["problem_id"]]
        judged = [c for c in cands if c["verdict"] != T.SANDBOX_ERROR]
        c = sum(x["verdict"] == T.PASSED for x in judged)
        assert (row["num_candidates"], row["num_judged"], row["num_passed"], row["num_tests"]) == (
            len(cands), len(judged), c, len(problems[row["problem_id"]]["tests"])
        )
        assert row["tests"] == problems[row["problem_id"]]["tests"]
        assert row["prompt"] == build_messages(problems[row["problem_id"]], "Be brief.", "Solve it.\n\n{problem}")
        assert is_conversational({"prompt": row["prompt"]})
        if judged:
            assert row["pass_rate"] == pytest.approx(c / len(judged)) and row["pass_at_1"] == pytest.approx(c / len(judged))
        else:
            assert row["pass_rate"] is None and row["pass_at_k"] == [] and row["empirical_difficulty"] == "unjudged"
        for k, value in enumerate(row["pass_at_k"], 1):
            assert value == pytest.approx(1 - math.comb(len(judged) - c, k) / math.comb(len(judged), k), abs=1e-12)
    assert Counter(ds["empirical_difficulty"])["unjudged"] == 5  # problems 85..89 got no candidates


def test_pass_at_k_and_labels_edge_cases() -> None:
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(5, 2, 4) == 1.0  # n - c < k
    assert pass_at_k(8, 3, 2) == pytest.approx(1 - math.comb(5, 2) / math.comb(8, 2))
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)
    assert [empirical_difficulty(9, c) for c in (0, 1, 3, 5, 6, 8, 9)] == ["unsolved", "hard", "medium", "medium", "easy", "easy", "solved_all"]
    assert empirical_difficulty(0, 0) == "unjudged"


def test_verified_corpus_without_indices_gets_unique_sft_ids() -> None:
    """LCB-style candidates: several models, no candidate_index (io fills 0 for all): renumbered within the problem."""
    problems = synthetic_problems(2, seed=1)
    base = synthetic_candidates(problems, 2, seed=1).to_list()
    rows = []
    for p in problems["problem_id"]:
        for model in ("o1-mini", "o1-preview"):
            rows.append({**base[0], "problem_id": p, "candidate_id": f"{model}_{p}", "candidate_index": 0, "verdict": "passed", "model": model})
    cands = normalize_candidates(Dataset.from_list(rows, features=CANDIDATE_FEATURES))
    assert cands["candidate_index"] == [0, 1, 0, 1]
    extra = Dataset.from_list(rows).remove_columns(["candidate_index", "reasoning"])  # columns may be missing too
    assert normalize_candidates(extra)["candidate_index"] == [0, 1, 0, 1]
    assert normalize_candidates(extra).features == CANDIDATE_FEATURES


def _tiny_tokenizer(folder: Path) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, **{w: i + 1 for i, w in enumerate("we need to count the pairs python import sys print sum".split())}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "[UNK]"}))
    return folder


def test_token_counts_from_the_local_tokenizer_or_unavailable(tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    problems = synthetic_problems(3, seed=2)
    cands = synthetic_candidates(problems, 12, seed=2)
    cands = cands.remove_columns("num_tokens").add_column("num_tokens", [None] * 12, feature=CANDIDATE_FEATURES["num_tokens"])
    cands = cands.select_columns(list(CANDIDATE_FEATURES))

    same, source = fill_token_counts(cands, BuildMeta(model="some-org/not-local"))
    assert source == "unavailable" and same["num_tokens"] == [None] * 12

    folder = _tiny_tokenizer(tmp_path / "model")
    filled, source = fill_token_counts(cands, BuildMeta(model=str(folder)))
    assert source == "tokenizer"
    reference = Tokenizer.from_file(str(folder / "tokenizer.json"))
    assert filled["num_tokens"] == [len(reference.encode(r or "").ids) for r in cands["response"]]

    out = tmp_path / "dist"
    write_dist(out, cands, problems, BuildMeta.model_validate({**META, "model": "some-org/not-local"}))
    card = (out / "README.md").read_text()
    assert "Token counts are unavailable" in card and not (out / "assets" / "token_lengths.png").exists()
    assert json.loads((out / "build.json").read_text())["token_counts"] == "unavailable"


def test_problems_config_without_candidates() -> None:
    problems = synthetic_problems(4, seed=4)
    empty = Dataset.from_dict({c: [] for c in CANDIDATE_FEATURES}, features=CANDIDATE_FEATURES)
    ds = problems_config(empty, problems)
    assert ds["num_candidates"] == [0] * 4 and ds["empirical_difficulty"] == ["unjudged"] * 4


def test_two_builds_are_byte_identical(tmp_path: Path) -> None:
    a = build(tmp_path / "a" / "asm", seed=8)
    b = build(tmp_path / "b" / "asm", seed=8)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    assert {str(p) for p in files_a} >= {
        "README.md", "build.json", "sft/train-00000-of-00001.parquet", "dpo/train-00000-of-00001.parquet",
        "candidates/train-00000-of-00001.parquet", "problems/train-00000-of-00001.parquet", "assets/rejection_types.png",
    }
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    c = build(tmp_path / "c" / "asm", seed=8, meta={**META, "seed": 100})
    assert (c / "dpo/train-00000-of-00001.parquet").read_bytes() != (a / "dpo/train-00000-of-00001.parquet").read_bytes()
    assert (c / "sft/train-00000-of-00001.parquet").read_bytes() == (a / "sft/train-00000-of-00001.parquet").read_bytes()


# --- kto ---------------------------------------------------------------------------------------------


def _kto(candidates: Dataset, problems: Dataset, balance: str, seed: int = 99) -> Dataset:
    from builder.dataset.kto import kto_config

    meta = BuildMeta.model_validate({**META, "seed": seed, "dataset": {"kto_balance": balance}})
    return kto_config(normalize_candidates(candidates), problems, meta)


def test_kto_rows_are_trl_unpaired_preferences_balanced_as_asked(dist: Path, source_rows) -> None:
    candidates, problems = source_rows
    by_id = {c["candidate_id"]: c for c in candidates}
    order = {c["candidate_id"]: i for i, c in enumerate(candidates)}
    kto = load_dataset(str(dist), "kto", split="train")
    assert kto.column_names == [
        "prompt", "completion", "label", "problem_id", "candidate_id", "verdict", "reward", "source", "difficulty", "language",
        "license",
    ]
    for row in kto:
        cand = by_id[row["candidate_id"]]
        assert row["label"] == (cand["verdict"] == T.PASSED) and row["verdict"] == cand["verdict"]
        assert cand["verdict"] != T.SANDBOX_ERROR
        assert row["prompt"] == build_messages(problems[cand["problem_id"]], "Be brief.", "Solve it.\n\n{problem}")
        assert row["completion"] == [{"role": "assistant", "content": cand["response"]}]
        assert is_conversational({"prompt": row["prompt"]}) and is_conversational({"completion": row["completion"]})
        assert row["reward"] == cand["tests_passed"] / cand["tests_total"]
        assert (row["problem_id"], row["license"]) == (cand["problem_id"], problems[cand["problem_id"]]["license"])
    assert [order[c] for c in kto["candidate_id"]] == sorted(order[c] for c in kto["candidate_id"])  # candidate order
    # global (the default): every row of the smaller side, as many of the larger
    passed = sum(c["verdict"] == T.PASSED for c in candidates)
    failed = sum(T.is_model_failure(c["verdict"]) for c in candidates)
    assert Counter(kto["label"]) == {True: min(passed, failed), False: min(passed, failed)}
    smaller = T.PASSED if passed <= failed else None
    assert {c for c in kto["candidate_id"] if (by_id[c]["verdict"] == T.PASSED) == (smaller is not None)} == {
        c["candidate_id"] for c in candidates if (c["verdict"] == T.PASSED) == (smaller is not None) and c["verdict"] != T.SANDBOX_ERROR
    }

    cands = Dataset.from_list(candidates, features=CANDIDATE_FEATURES)
    probs = Dataset.from_list(list(problems.values()))
    everything = _kto(cands, probs, "none")
    assert len(everything) == passed + failed and T.SANDBOX_ERROR not in set(everything["verdict"])
    per_problem = _kto(cands, probs, "problem")
    groups: dict[str, Counter[bool]] = defaultdict(Counter)
    for row in per_problem:
        groups[row["problem_id"]][row["label"]] += 1
    for problem_id in {c["problem_id"] for c in candidates}:
        n_pass = sum(c["problem_id"] == problem_id and c["verdict"] == T.PASSED for c in candidates)
        n_fail = sum(c["problem_id"] == problem_id and T.is_model_failure(c["verdict"]) for c in candidates)
        assert groups[problem_id][True] == groups[problem_id][False] == min(n_pass, n_fail), problem_id
    assert _kto(cands, probs, "global")["candidate_id"] == kto["candidate_id"]  # deterministic
    assert _kto(cands, probs, "global", seed=5)["candidate_id"] != kto["candidate_id"]  # the seed draws the larger side


def test_kto_order_does_not_depend_on_row_order() -> None:
    """The seeded choice hashes candidate ids: shuffling the candidates keeps the same rows."""
    problems = synthetic_problems(6, seed=7)
    cands = synthetic_candidates(problems, 80, seed=7)
    a = set(_kto(cands, problems, "global")["candidate_id"])
    b = set(_kto(cands.shuffle(seed=1).flatten_indices(), problems, "global")["candidate_id"])
    assert a == b and len(a) > 10


# --- statements, licences, rewards, JSONL --------------------------------------------------------------


def test_statement_line_endings_are_normalized_everywhere_and_only_them(tmp_path: Path) -> None:
    problems = synthetic_problems(8, seed=12)
    crlf = problems.map(
        lambda p: {
            "problem": p["problem"].replace("\n", "\r\n") + "Lone\rcarriage\r\n\r\nend  \t",
            "title": p["title"] + "\r\n",
            "tests": [{"input": t["input"].replace("\n", "\r\n"), "output": t["output"]} for t in p["tests"]],
        }
    )
    out = tmp_path / "crlf"
    write_dist(out, synthetic_candidates(crlf, 90, seed=12), crlf, BuildMeta.model_validate(META))
    originals = {p["problem_id"]: p for p in crlf}

    def normalized(text: str) -> str:
        return text.replace("\r\n", "\n").replace("\r", "\n")

    texts: list[str] = []
    for row in load_dataset(str(out), "problems", split="train"):
        original = originals[row["problem_id"]]
        assert row["problem"] == normalized(original["problem"]) and row["title"] == normalized(original["title"])
        assert row["tests"] == original["tests"]  # test data is never touched
        assert any("\r\n" in t["input"] for t in row["tests"])
        texts += [row["problem"], *(m["content"] for m in row["prompt"])]
    for row in load_dataset(str(out), "sft", split="train"):
        assert row["problem"] == normalized(originals[row["problem_id"]]["problem"])
        texts += [row["problem"], *(m["content"] for m in row["messages"][:-1])]
    for config in ("dpo", "kto"):
        for row in load_dataset(str(out), config, split="train"):
            texts += [m["content"] for m in row["prompt"]]
    assert texts and not any("\r" in t for t in texts)
    assert any("Lone\ncarriage\n\nend  \t" in t for t in texts)  # everything but the line ends verbatim


def test_binary_rewards_and_sandbox_errors_have_none() -> None:
    from builder.dataset.candidates import rewards

    import pyarrow as pa

    verdicts = pa.array(["passed", "wa", "sandbox_error", None, "timeout"])
    rates = pa.array([1.0, 0.5, 0.0, 0.0, 0.25])
    assert rewards(verdicts, rates, "pass_rate").to_pylist() == [1.0, 0.5, None, None, 0.25]
    assert rewards(verdicts, rates, "binary").to_pylist() == [1.0, 0.0, None, None, 0.0]
    with pytest.raises(ValueError):
        rewards(verdicts, rates, "other")
    problems = synthetic_problems(3, seed=2)
    cands = synthetic_candidates(problems, 30, seed=2)
    binary = candidates_config(cands, problems, "binary")
    assert binary["reward"] == [None if v == T.SANDBOX_ERROR else float(v == T.PASSED) for v in cands["verdict"]]


def test_jsonl_copies_beside_the_parquet_files(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    out = build(tmp_path / "j" / "asm", meta={**META, "dataset": {**META["dataset"], "formats": ["parquet", "jsonl"]}})
    for config in ("sft", "dpo", "kto", "candidates", "problems"):
        shards = sorted((out / config).glob("train-*.parquet"))
        assert [p.with_suffix(".jsonl") for p in shards] == sorted((out / config).glob("*.jsonl"))
        parquet_rows = [row for p in shards for row in pq.read_table(p).to_pylist()]
        jsonl_rows = [json.loads(line) for p in shards for line in p.with_suffix(".jsonl").read_text(encoding="utf-8").splitlines()]
        assert jsonl_rows == parquet_rows, config  # the same rows, in the same order, numbers exact
        loaded = load_dataset(str(out), config, split="train")  # the card's config loads the Parquet files only
        assert len(loaded) == len(parquet_rows)
        from_json = load_dataset("json", data_files=[str(p.with_suffix(".jsonl")) for p in shards], split="train")
        assert from_json.cast(loaded.features).to_list() == loaded.to_list(), config
    # a rebuild without JSONL leaves none behind
    build(out, meta=META)
    assert not list(out.rglob("*.jsonl"))


def test_dataset_settings_are_checked_with_one_line_errors() -> None:
    from builder.core.errors import UserError
    from builder.core.recipe import parse_recipe

    base = {"name": "x", "sources": [{"kind": "local", "path": "p"}], "model": {"path": "m"}}
    ok = parse_recipe({**base, "dataset": {"formats": ["parquet", "jsonl"], "kto_balance": "problem", "reward": "binary", "tokenized": False}})
    assert (ok.dataset.formats, ok.dataset.kto_balance, ok.dataset.reward, ok.dataset.tokenized) == (("parquet", "jsonl"), "problem", "binary", False)
    assert BuildMeta.model_validate(json.loads(json.dumps(BuildMeta(dataset=ok.dataset).as_json()))).dataset == ok.dataset  # build.json round trip
    for dataset, message in (
        ({"formats": ["csv"]}, "r.toml: dataset.formats must list formats among parquet, jsonl, got ['csv']"),
        ({"formats": ["jsonl"]}, 'r.toml: dataset.formats must include "parquet"'),
        ({"formats": ["parquet", "parquet"]}, "r.toml: dataset.formats must not repeat a format"),
        ({"kto_balance": "pairs"}, "r.toml: dataset.kto_balance must be one of global, problem, none, got 'pairs'"),
        ({"reward": "partial"}, "r.toml: dataset.reward must be one of pass_rate, binary, got 'partial'"),
        ({"tokenized": "yes"}, "r.toml: dataset.tokenized must be true or false, got 'yes'"),
    ):
        with pytest.raises(UserError) as info:
            parse_recipe({**base, "dataset": dataset}, where="r.toml")
        assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_batches_shrink_for_long_rows_and_keep_their_size_for_short_ones() -> None:
    """The dataset stage's maps hold about BATCH_BYTES of rows at a time: 500 short rows, far fewer long ones (a
    reasoning model's responses), never zero."""
    from datasets import Dataset

    from builder.dataset.batching import BATCH_BYTES, batch_kwargs

    short = Dataset.from_dict({"response": ["print(1)"] * 600})
    assert batch_kwargs(short, 500) == {"batch_size": 500, "writer_batch_size": 500}
    long = Dataset.from_dict({"response": ["x" * (1 << 20)] * 40})  # 1 MiB each
    size = batch_kwargs(long, 500)["batch_size"]
    assert size == batch_kwargs(long, 500)["writer_batch_size"]
    assert 1 <= size <= BATCH_BYTES // (1 << 20) and size < 40
    huge = Dataset.from_dict({"response": ["x" * (BATCH_BYTES + 1)]})
    assert batch_kwargs(huge, 500)["batch_size"] == 1
    assert batch_kwargs(short.select([]), 500)["batch_size"] == 500
