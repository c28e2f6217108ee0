"""A tiny random-weight Llama and its tokenizer, made locally (nothing is downloaded).

    python tests/tinymodel.py OUT_DIR [tiny|small]   # writes config, weights, tokenizer (+ chat template) into OUT_DIR

The model has hidden size 128, 2 heads of 64 (vLLM's CPU attention needs head_dim >= 64), 2 layers, and a byte-level
BPE tokenizer of ``VOCAB_SIZE`` tokens trained with `tokenizers` on the statements and responses of the local test
fixtures; the chat template is ChatML. The weights are random (seeded), except that the end-of-turn token's (tied)
embedding is scaled up so that a sample stops on its own every few dozen tokens: the model samples gibberish, which is
all the generation tests need (real engine, real chat template, real token ids, "stop" and "length" finishes).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
CORPUS_FILES = (TESTS / "fixtures" / "lcb" / "problems.jsonl", TESTS / "fixtures" / "lcb" / "candidates.jsonl")
VOCAB_SIZE = 512
EOS_SCALE = 8.0
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def _corpus() -> list[str]:
    texts: list[str] = []
    for path in CORPUS_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                texts.extend(str(row[k]) for k in ("problem", "response", "solution") if row.get(k))
    return texts


#: Model shapes: "tiny" for tests and CPU benchmarks; "small" (~100M parameters) for GPU throughput benchmarks.
SIZES = {
    "tiny": {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 2},
    "small": {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 8, "num_attention_heads": 16},
}


def make_tiny_model(out: Path, *, seed: int = 0, max_len: int = 2048, size: str = "tiny") -> Path:
    """Write the model (``size`` in :data:`SIZES`, heads of 64) into ``out`` (created) and return it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    texts = _corpus()
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=max_len,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(out))

    torch.manual_seed(seed)
    eos_id = tok.token_to_id("<|im_end|>")
    config = LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        **SIZES[size],
        num_key_value_heads=SIZES[size]["num_attention_heads"],
        head_dim=64,
        max_position_embeddings=max_len,
        tie_word_embeddings=True,
        bos_token_id=tok.token_to_id("<|im_start|>"),
        eos_token_id=eos_id,
        pad_token_id=tok.token_to_id("<|endoftext|>"),
        dtype="float32",
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # make <|im_end|> likely enough (~2% a token) that samples end with "stop" as well as "length"
        model.model.embed_tokens.weight[eos_id] *= EOS_SCALE
    model.save_pretrained(str(out))
    GenerationConfig(bos_token_id=config.bos_token_id, eos_token_id=eos_id, pad_token_id=config.pad_token_id).save_pretrained(str(out))
    return out


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and sys.argv[2] not in SIZES):
        sys.exit(f"usage: python tests/tinymodel.py OUT_DIR [{'|'.join(SIZES)}]")
    print(make_tiny_model(Path(sys.argv[1]), size=sys.argv[2] if len(sys.argv) == 3 else "tiny"))
