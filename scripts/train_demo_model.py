"""Train the tiny demo model (models/demo) that the default CPU recipe samples from.

    python scripts/train_demo_model.py              # re-train into models/demo
    python scripts/train_demo_model.py --check      # re-train into a temporary folder, compare sha256 with models/demo

It is a deliberately tiny Llama (2 layers, hidden 128, 2 heads of 64) with a byte-level BPE tokenizer trained on the
demo corpus. It memorizes one accepted solution per demo problem (data/demo), on prompts built with exactly the
demo recipe's prompt (builder.prompt.build_messages with recipes/demo.toml's [prompt]); the loss is on the
assistant turn only. Sampled at a temperature, it reproduces some solutions and corrupts others, so the demo build
shows passes and several kinds of failure. It knows nothing beyond those problems.

Training is deterministic from the seed: one CPU thread, torch deterministic algorithms, a fixed data order, and
the saved files are byte-identical from run to run on the same software versions (--check verifies it). Training
the default model also writes models/demo/trained_from.json: the sha256 of the script, the data, the recipe and the
prompt code, the training config, the CPU pins, the library versions, and of every model file; the test suite
re-trains only when one of those inputs differs in the checkout it runs in.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: Pinned by main() before torch loads: ATen's vectorized kernels and MKL pick their code path from the CPU
#: (AVX-512 on one machine, AVX2 on another) and different paths round differently (measured: the AVX-512 and AVX2
#: runs of this script differ in the last bits). With every path pinned to AVX2 and one thread, two x86-64 CPUs
#: with AVX2 run the same instructions; ARM machines cannot reproduce the bytes.
CPU_PINS = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "AVX2,STRICT",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from builder.core.prompt import build_messages  # noqa: E402

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
PAD, IM_START, IM_END = SPECIAL_TOKENS
#: ChatML, as Qwen uses it: every message is `<|im_start|>{role}\n{content}<|im_end|>\n`.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
#: Files of the saved model; --check compares all of them.
MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
#: Beside the model: what it was trained from (see :func:`training_inputs`) and the sha256 of its files. The tests
#: re-train the model (minutes) only when the inputs of this checkout differ from the stamp's.
STAMP = "trained_from.json"
#: The files the model is a function of (relative to the repository): this script, the data, the recipe whose
#: [prompt] builds the prompts and the code that builds them.
INPUT_FILES = ("scripts/train_demo_model.py", "data/demo/problems.jsonl", "data/demo/solutions.jsonl", "recipes/demo.toml",
               "builder/core/prompt.py", "builder/core/languages.py")
#: The libraries whose versions decide the bytes (a changed pin re-trains)
LIBRARIES = ("torch", "transformers", "tokenizers", "safetensors", "accelerate", "numpy", "jinja2")


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 1234
    vocab_size: int = 2048
    hidden_size: int = 128
    intermediate_size: int = 512
    num_layers: int = 2
    num_heads: int = 2
    head_dim: int = 64
    max_position_embeddings: int = 2048
    steps: int = 250
    batch_size: int = 6
    learning_rate: float = 3e-3
    warmup_steps: int = 20
    weight_decay: float = 0.0


def assistant_target(problem: dict[str, Any], solution: str) -> str:
    """The assistant turn the model memorizes: one short reasoning line, then the program in a python block."""
    title = (problem.get("title") or problem["problem_id"]).strip()
    reasoning = f"{title}: read the input, compute what the statement asks, print it."
    return f"<think>\n{reasoning}\n</think>\n\n```python\n{solution.strip()}\n```"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def recipe_prompt(recipe: Path) -> tuple[str | None, str]:
    """[prompt] system/user of a recipe (read with tomllib, exactly as written)."""
    with recipe.open("rb") as f:
        data = tomllib.load(f)
    prompt = data.get("prompt", {})
    from builder.core.prompt import DEFAULT_USER

    return prompt.get("system"), prompt.get("user", DEFAULT_USER)


def build_examples(problems_path: Path, solutions_path: Path, recipe: Path) -> list[tuple[list[dict[str, str]], str]]:
    """(prompt messages, assistant target) per training solution, in problem_id order."""
    system, user = recipe_prompt(recipe)
    problems = {p["problem_id"]: p for p in read_jsonl(problems_path)}
    examples = []
    for sol in sorted(read_jsonl(solutions_path), key=lambda s: (s["problem_id"], s["candidate_id"])):
        problem = problems[sol["problem_id"]]
        examples.append((build_messages(problem, system, user), assistant_target(problem, sol["solution"])))
    return examples


def train_tokenizer(texts: list[str], vocab_size: int) -> Any:
    """Byte-level BPE on the demo corpus (every byte is encodable, so any text round-trips)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return tok


def save_tokenizer(tok: Any, out: Path, max_len: int) -> None:
    """tokenizer.json + tokenizer_config.json (with the chat template), written explicitly so the bytes are stable."""
    tok.save(str(out / "tokenizer.json"), pretty=True)
    added = {
        str(tok.token_to_id(t)): {
            "content": t, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True,
        }
        for t in SPECIAL_TOKENS
    }
    config = {
        "added_tokens_decoder": added,
        "bos_token": None,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": IM_END,
        "model_max_length": max_len,
        "pad_token": PAD,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": None,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _set_determinism(seed: int) -> None:
    import random

    import numpy as np
    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(examples: list[tuple[list[dict[str, str]], str]], out: Path, cfg: TrainConfig, log: bool = True) -> dict[str, Any]:
    """Train tokenizer + model on the examples and save both under ``out``; returns a small training summary."""
    _set_determinism(cfg.seed)
    import tokenizers
    import torch
    import transformers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    capability = torch.backends.cpu.get_cpu_capability()
    if capability != "AVX2":
        print(
            f"warning: torch runs {capability} CPU kernels, not AVX2 (torch loaded before main() pinned them, or "
            "not an x86-64 CPU with AVX2): the weights will not be byte-identical to the committed ones",
            file=sys.stderr,
        )

    out.mkdir(parents=True, exist_ok=True)
    # Render the prompts with the chat template itself (it needs no vocabulary), as transformers renders it.
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    template = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(CHAT_TEMPLATE)
    prompts = [template.render(messages=m, add_generation_prompt=True) for m, _ in examples]
    targets = [t + IM_END for _, t in examples]
    tok = train_tokenizer([p + t for p, t in zip(prompts, targets)], cfg.vocab_size)
    save_tokenizer(tok, out, cfg.max_position_embeddings)
    hf_tok = PreTrainedTokenizerFast.from_pretrained(str(out))
    for (messages, _), rendered in zip(examples, prompts):  # the saved template renders exactly what we train on
        if hf_tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) != rendered:
            raise RuntimeError("the saved chat template renders a different prompt than the training one")

    rows = []
    for p, t in zip(prompts, targets):
        prompt_ids = tok.encode(p, add_special_tokens=False).ids
        target_ids = tok.encode(t, add_special_tokens=False).ids
        rows.append((prompt_ids, target_ids))
    pad_id, eos_id = tok.token_to_id(PAD), tok.token_to_id(IM_END)
    longest = max(len(a) + len(b) for a, b in rows)
    if longest > cfg.max_position_embeddings:
        raise RuntimeError(f"an example has {longest} tokens, over {cfg.max_position_embeddings}")

    config = LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads,
        head_dim=cfg.head_dim,
        max_position_embeddings=cfg.max_position_embeddings,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=tok.token_to_id(IM_START),
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        dtype="float32",
    )
    model = LlamaForCausalLM(config)
    model.train()

    # Batches of similar length (fixed order), shuffled per epoch with a seeded generator.
    order = sorted(range(len(rows)), key=lambda i: (len(rows[i][0]) + len(rows[i][1]), i))
    batches = [order[i : i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
    tensors = []
    for batch in batches:
        width = max(len(rows[i][0]) + len(rows[i][1]) for i in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, i in enumerate(batch):
            a, b = rows[i]
            ids[r, : len(a) + len(b)] = torch.tensor(a + b)
            labels[r, len(a) : len(a) + len(b)] = torch.tensor(b)
            mask[r, : len(a) + len(b)] = 1
        tensors.append((ids, mask, labels))

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optim = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.learning_rate,
        betas=(0.9, 0.98),
        foreach=False,
    )

    def lr_at(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

    sched = torch.optim.lr_scheduler.LambdaLR(optim, lr_at)
    gen = torch.Generator().manual_seed(cfg.seed)
    queue: list[int] = []
    start = time.perf_counter()
    losses: list[float] = []
    for step in range(cfg.steps):
        if not queue:
            queue = torch.randperm(len(tensors), generator=gen).tolist()
        ids, mask, labels = tensors[queue.pop()]
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=False)
        optim.step()
        sched.step()
        optim.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if log and (step % 25 == 0 or step == cfg.steps - 1):
            recent = losses[-len(tensors) :]
            print(
                f"step {step:4d}/{cfg.steps}  loss {sum(recent) / len(recent):.4f}  {time.perf_counter() - start:6.1f}s",
                file=sys.stderr,
                flush=True,
            )

    model.eval()
    model.save_pretrained(str(out), safe_serialization=True)
    GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=eos_id, pad_token_id=pad_id, do_sample=True, temperature=1.0
    ).save_pretrained(str(out))
    final = losses[-len(tensors) :]
    return {
        "examples": len(rows),
        "max_tokens": longest,
        "target_tokens": sum(len(b) for _, b in rows),
        "vocab_size": tok.get_vocab_size(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "final_loss": sum(final) / len(final),
        "seconds": time.perf_counter() - start,
        "cpu_capability": capability,
        "versions": {m.__name__: m.__version__ for m in (torch, transformers, tokenizers)},
    }


def sha256s(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in MODEL_FILES}


def training_inputs(cfg: TrainConfig | None = None) -> dict[str, Any]:
    """Everything the default model's bytes are a function of: the input files' sha256, the training config, the CPU
    pins and the library versions (None: not installed)."""
    from importlib import metadata

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "files": {rel: hashlib.sha256((ROOT / rel).read_bytes()).hexdigest() for rel in INPUT_FILES},
        "config": asdict(cfg or TrainConfig()),
        "cpu_pins": dict(CPU_PINS),
        "versions": {name: version(name) for name in LIBRARIES},
    }


def write_stamp(out: Path, cfg: TrainConfig) -> None:
    stamp = {"inputs": training_inputs(cfg), "sha256": sha256s(out)}
    (out / STAMP).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", type=Path, default=ROOT / "data/demo/problems.jsonl")
    parser.add_argument("--solutions", type=Path, default=ROOT / "data/demo/solutions.jsonl")
    parser.add_argument("--recipe", type=Path, default=ROOT / "recipes/demo.toml", help="its [prompt] builds the prompts")
    parser.add_argument("--out", type=Path, default=ROOT / "models/demo")
    parser.add_argument("--seed", type=int, default=TrainConfig.seed)
    parser.add_argument("--steps", type=int, default=TrainConfig.steps)
    parser.add_argument("--check", action="store_true", help="train into a temporary folder and compare with --out")
    args = parser.parse_args(argv)
    os.environ.update(CPU_PINS)  # before torch loads (train() imports it)

    cfg = TrainConfig(seed=args.seed, steps=args.steps)
    examples = build_examples(args.problems, args.solutions, args.recipe)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            summary = train(examples, Path(tmp), cfg)
            fresh, committed = sha256s(Path(tmp)), sha256s(args.out)
        for name in MODEL_FILES:
            same = fresh[name] == committed[name]
            print(f"{'same' if same else 'DIFFERENT':9} {name}  {fresh[name][:16]}  (committed {committed[name][:16]})")
        print(json.dumps(summary))
        return 0 if fresh == committed else 1
    summary = train(examples, args.out, cfg)
    defaults = (args.problems, args.solutions, args.recipe) == (ROOT / "data/demo/problems.jsonl", ROOT / "data/demo/solutions.jsonl", ROOT / "recipes/demo.toml")
    if defaults and cfg == TrainConfig():
        write_stamp(args.out, cfg)  # the model of the default inputs: the tests compare the stamp, not re-train
    print(json.dumps({**summary, "config": asdict(cfg), "sha256": sha256s(args.out)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
