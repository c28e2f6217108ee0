"""The sft_tokenized config: the text and the loss mask checked independently of how they were made, for the demo
model's tokenizer (a template without generation markers), a tokenizer whose merges cross the assistant boundary, a
template whose turns are not prefixes of each other, and when no tokenizer can be used."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from datasets import Dataset, load_dataset

from builder.core.errors import UserError
from builder.core.meta import BuildMeta
from builder.dataset.dist import write_dist
from builder.dataset.tokenized import IGNORE_INDEX, TOKENIZED_FEATURES, tokenized_config
from fakes.synthetic import synthetic_candidates, synthetic_problems

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "models" / "demo"
META: dict[str, Any] = {"name": "tok", "seed": 4, "prompt": {"system": "Be brief.", "user": "Solve it.\n\n{problem}"}}


def check_rows(tokenized: Dataset, sft: Dataset, tokenizer: Any, end_of_turn: str) -> int:
    """Every row, independently of the builder: the text is the template's, the ids decode to it, the labelled tokens
    decode to exactly the assistant's content and end-of-turn token, every other token is -100, and the unlabelled
    head decodes to the prompt with the generation prompt. Returns the rows checked."""
    by_id = {row["id"]: row for row in sft}
    for row in tokenized:
        messages = by_id[row["id"]]["messages"]
        assert row["chat_template_applied"] == tokenizer.apply_chat_template(messages, tokenize=False)
        ids, labels = row["input_ids"], row["labels"]
        assert len(ids) == len(labels)
        assert tokenizer.decode(ids, skip_special_tokens=False) == row["chat_template_applied"]
        labelled = [i for i, label in enumerate(labels) if label != IGNORE_INDEX]
        assert all(labels[i] == ids[i] for i in labelled)
        assert all(label == IGNORE_INDEX for i, label in enumerate(labels) if i not in set(labelled))
        assert labelled == list(range(labelled[0], labelled[-1] + 1))  # one assistant turn: one contiguous span
        assert tokenizer.decode([ids[i] for i in labelled], skip_special_tokens=False) == messages[-1]["content"] + end_of_turn
        prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
        assert tokenizer.decode(ids[: labelled[0]], skip_special_tokens=False) == prompt
        assert (row["problem_id"], row["candidate_id"], row["license"]) == tuple(by_id[row["id"]][k] for k in ("problem_id", "candidate_id", "license"))
    return len(tokenized)


@pytest.mark.skipif(not (DEMO / "tokenizer.json").is_file(), reason="the demo model is not in this checkout")
def test_demo_tokenizer_every_row_checked(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    problems = synthetic_problems(30, seed=9)
    out = tmp_path / "tok"
    write_dist(out, synthetic_candidates(problems, 200, seed=9), problems, BuildMeta.model_validate({**META, "model": str(DEMO)}))
    tokenizer = AutoTokenizer.from_pretrained(str(DEMO))
    assert "{% generation %}" not in tokenizer.chat_template  # no markers: the spans had to be measured
    sft = load_dataset(str(out), "sft", split="train")
    tokenized = load_dataset(str(out), "sft_tokenized", split="train")
    assert tokenized.features == TOKENIZED_FEATURES
    assert check_rows(tokenized, sft, tokenizer, "<|im_end|>") == len(sft) > 50
    record = json.loads((out / "build.json").read_text())["tokenized"]
    assert record == {"tokenizer": str(DEMO), "rows": len(sft), "left_out": 0}


def _bpe_tokenizer(folder: Path, template: str) -> Path:
    """A byte-level BPE that learned to merge "AB", and a template whose generation prompt ends in "A": an answer
    starting with "B" merges across the assistant boundary."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(["ABBA ABC AB ABAB xABy"] * 50, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", clean_up_tokenization_spaces=False)
    fast.chat_template = template
    folder.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(folder))
    return folder


MERGING = (
    "{%- for m in messages %}{%- if m['role'] == 'assistant' %}{{- 'A' + m['content'] + '</s>' }}"
    "{%- else %}{{- m['role'] + ': ' + m['content'] + '\\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- 'A' }}{%- endif %}"
)


def _sft(responses: list[str]) -> Dataset:
    rows = []
    for i, response in enumerate(responses):
        messages = [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": response}]
        rows.append({"id": f"p{i}_sft_0", "problem_id": f"p{i}", "candidate_id": f"p{i}_0", "license": "MIT", "messages": messages})
    return Dataset.from_list(rows)


def test_a_merge_across_the_boundary_is_split_exactly(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    folder = _bpe_tokenizer(tmp_path / "bpe", MERGING)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    sft = _sft(["BBA", "BC and more", "xAB", "B"])
    whole = tokenizer(tokenizer.apply_chat_template(sft[0]["messages"], tokenize=False), add_special_tokens=False)
    tokens = tokenizer.convert_ids_to_tokens(whole["input_ids"])
    assert "ABBA" in tokens  # the plain tokenization merges the prompt's "A" with the answer's "BBA": it straddles
    tokenized, record = tokenized_config(sft, BuildMeta.model_validate({"model": str(folder)}))
    assert tokenized is not None and record.rows == 4 and record.left_out == 0
    assert check_rows(tokenized, sft, tokenizer, "</s>") == 4
    assert tokenized[0]["input_ids"] != whole["input_ids"]  # that row was tokenized segment by segment


def test_a_template_whose_turns_are_not_prefixes_leaves_rows_out(tmp_path: Path) -> None:
    changing = MERGING.replace("{{- 'A' }}{%- endif %}", "{{- 'Assistant:' }}{%- endif %}")  # prompt differs from the turn
    folder = _bpe_tokenizer(tmp_path / "bpe", changing)
    tokenized, record = tokenized_config(_sft(["BBA", "C"]), BuildMeta.model_validate({"model": str(folder)}))
    assert tokenized is not None and len(tokenized) == 0
    assert (record.rows, record.left_out) == (0, 2)


def test_no_usable_tokenizer(tmp_path: Path) -> None:
    sft = _sft(["x"])
    none, record = tokenized_config(sft, BuildMeta.model_validate({"model": "no-org/no-such-model-here"}))
    assert none is None and record.skipped == "the tokenizer is not available without a download"
    off, record = tokenized_config(sft, BuildMeta.model_validate({"model": str(DEMO), "dataset": {"tokenized": False}}))
    assert off is None and record.skipped == "turned off ([dataset] tokenized = false)"
    folder = _bpe_tokenizer(tmp_path / "plain", MERGING)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    for extra in folder.glob("chat_template.*"):
        extra.unlink()
    skipped, record = tokenized_config(sft, BuildMeta.model_validate({"model": str(folder)}))
    assert skipped is None and record.skipped == "the tokenizer cannot be used: it has no chat template"
    with pytest.raises(UserError, match="no chat template"):
        tokenized_config(sft, BuildMeta.model_validate({"model": str(folder), "dataset": {"tokenized": True}}))
    with pytest.raises(UserError, match="does not load"):
        tokenized_config(sft, BuildMeta.model_validate({"model": str(tmp_path / "missing"), "dataset": {"tokenized": True}}))
