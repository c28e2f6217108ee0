"""The ``sft_tokenized`` config: every ``sft`` conversation through the chat template and tokenizer of the generating
model (or the one ``[dataset] tokenizer`` names), with the loss mask made here, so no trainer has to guess it.

Columns: ``chat_template_applied`` (the template's text of the whole conversation), ``input_ids`` (that text
tokenized, no special tokens added: the template writes its own), ``labels`` (the token id on assistant tokens,
``-100`` on every other token), plus join keys and the licence. No ``attention_mask``: before padding it is all ones,
and collators (TRL's ``SFTTrainer``, ``DataCollatorWithPadding``) make it when they pad.

**Assistant spans are measured, not assumed.** Chat templates need not mark the assistant's part (the demo model's
has no ``{% generation %}`` markers, so ``SFTConfig(assistant_only_loss=True)`` cannot be used with it). For each
assistant message ``i`` the template is rendered twice: the conversation before it with the generation prompt (what
the model sees when it starts to answer) and the conversation up to and including it. The first must be a prefix of
the second and of the whole text; the assistant span is what lies between, ending after the template's last
end-of-turn token (the tokenizer's ``eos_token``) when only whitespace follows it: what the model writes, up to the
token that stops generation.

The text is tokenized in one batched call of the fast tokenizer with offsets; a token is labelled when it lies inside
a span. A token that straddles a span boundary (a merge across it) makes that row tokenized segment by segment
instead, so the boundary is exact. Every row is then checked: its ids must decode to its text, and its labelled ids
to exactly its assistant spans; a row that does not (a tokenizer that normalizes text, say) is left out and counted
(``build.json``'s ``tokenized.left_out``, and the card).
"""

from __future__ import annotations

import hashlib
from typing import Any

from datasets import Dataset, Features, Sequence, Value

from builder.core.caching import code_hash, fingerprint
from builder.core.errors import UserError
from builder.core.meta import BuildMeta, TokenizedRecord
from builder.dataset.batching import batch_kwargs
from builder.dataset.pages import releasing

NAME = "sft_tokenized"
IGNORE_INDEX = -100

TOKENIZED_FEATURES = Features(
    {
        "id": Value("string"),
        "problem_id": Value("string"),
        "candidate_id": Value("string"),
        "license": Value("string"),
        "chat_template_applied": Value("string"),
        "input_ids": Sequence(Value("int32")),
        "labels": Sequence(Value("int32")),
    }
)

Span = tuple[int, int]


# --- the tokenizer ---------------------------------------------------------------------------------


#: text bytes per tokenizing batch: its token ids, offsets, labels and decoded copies, as Python objects, take tens of
#: times the text's size (a batch of long reasoning rows at the stage's usual 4 MB made the peak grow with the build)
TOKENIZE_BATCH_BYTES = 1 << 20


def tokenizer_name(meta: BuildMeta) -> str | None:
    """``[dataset] tokenizer``, else the tokenizer that counted tokens, else the generating model's."""
    return meta.dataset.tokenizer or meta.tokenizer or meta.model


def load_tokenizer(meta: BuildMeta) -> tuple[Any | None, TokenizedRecord]:
    """The tokenizer of the config, or None and why (recorded in ``build.json``).

    ``[dataset] tokenized`` unset: only a tokenizer that loads without a download (a local folder or the Hugging Face
    cache, where vLLM left it); ``true``: downloaded if need be, and a tokenizer that cannot be used is an error;
    ``false``: none.
    """
    setting = meta.dataset.tokenized
    if setting is False:
        return None, TokenizedRecord(skipped="turned off ([dataset] tokenized = false)")
    name = tokenizer_name(meta)
    if not name:
        return None, TokenizedRecord(skipped="no tokenizer named (no model, no [dataset] tokenizer)")
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - any loading failure: not here without a download
        if not setting:
            return None, TokenizedRecord(tokenizer=name, skipped="the tokenizer is not available without a download")
        try:
            tokenizer = AutoTokenizer.from_pretrained(name)
        except Exception as again:  # noqa: BLE001
            raise UserError(f"[dataset] tokenized = true, but the tokenizer {name!r} does not load: {_line(again or exc)}") from None
    problem = None
    if not getattr(tokenizer, "is_fast", False):
        problem = "it is not a fast tokenizer (no character offsets)"
    elif not getattr(tokenizer, "chat_template", None):
        problem = "it has no chat template"
    if problem:
        if setting:
            raise UserError(f"[dataset] tokenized = true, but the tokenizer {name!r} cannot be used: {problem}")
        return None, TokenizedRecord(tokenizer=name, skipped=f"the tokenizer cannot be used: {problem}")
    return tokenizer, TokenizedRecord(tokenizer=name)


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def tokenizer_digest(tokenizer: Any) -> str:
    """What decides the tokens: the tokenizer's definition, its chat template and end-of-turn token."""
    digest = hashlib.sha256(tokenizer.backend_tokenizer.to_str().encode("utf-8"))
    digest.update(str(tokenizer.chat_template).encode("utf-8"))
    digest.update(str(tokenizer.eos_token).encode("utf-8"))
    return digest.hexdigest()


# --- spans and labels ------------------------------------------------------------------------------


def _render(tokenizer: Any, conversations: list[list[dict[str, str]]], generation_prompt: bool) -> list[str]:
    if not conversations:
        return []
    texts = tokenizer.apply_chat_template(conversations, tokenize=False, add_generation_prompt=generation_prompt)
    return [str(t) for t in texts]


def assistant_spans(tokenizer: Any, conversations: list[list[dict[str, str]]], texts: list[str]) -> list[list[Span] | None]:
    """Character spans of the assistant turns in each rendered conversation (None: the template does not render
    earlier turns as a prefix of later ones, so the spans cannot be measured)."""
    before, upto, owner = [], [], []
    for row, conversation in enumerate(conversations):
        for i, message in enumerate(conversation):
            if message["role"] == "assistant":
                before.append(conversation[:i])
                upto.append(conversation[: i + 1])
                owner.append(row)
    prefixes = _render(tokenizer, before, generation_prompt=True)
    through = _render(tokenizer, upto, generation_prompt=False)
    eos = tokenizer.eos_token or ""
    spans: list[list[Span] | None] = [[] for _ in conversations]
    for row, prefix, done in zip(owner, prefixes, through):
        text, found = texts[row], spans[row]
        if found is None:
            continue
        if not (done.startswith(prefix) and text.startswith(done)) or (found and len(prefix) < found[-1][1]):
            spans[row] = None
            continue
        turn = done[len(prefix):]
        cut = turn.rfind(eos) + len(eos) if eos and eos in turn else len(turn)
        if turn[cut:].strip():  # text of the assistant's own after the last end-of-turn token: keep the whole turn
            cut = len(turn)
        found.append((len(prefix), len(prefix) + cut))
    return spans


def _labels_from_offsets(ids: list[int], offsets: list[tuple[int, int]], spans: list[Span]) -> list[int] | None:
    """Labels of one row from its token offsets, or None when a token straddles a span boundary."""
    labels = []
    for token, (start, end) in zip(ids, offsets):
        inside = False
        for a, b in spans:
            if start < a < end or start < b < end:
                return None
            if a <= start and end <= b and (start < end or start < b):
                inside = True
                break
        labels.append(token if inside else IGNORE_INDEX)
    return labels


def _by_segments(tokenizer: Any, text: str, spans: list[Span]) -> tuple[list[int], list[int]]:
    """A row tokenized piece by piece (outside / inside the spans), so every span boundary is a token boundary."""
    pieces: list[tuple[str, bool]] = []
    at = 0
    for a, b in spans:
        pieces += [(text[at:a], False), (text[a:b], True)]
        at = b
    pieces.append((text[at:], False))
    pieces = [(t, inside) for t, inside in pieces if t]
    encoded = tokenizer([t for t, _ in pieces], add_special_tokens=False)["input_ids"] if pieces else []
    ids: list[int] = []
    labels: list[int] = []
    for (_, inside), piece in zip(pieces, encoded):
        ids += piece
        labels += piece if inside else [IGNORE_INDEX] * len(piece)
    return ids, labels


def tokenize_batch(batch: dict[str, list[Any]], tokenizer: Any) -> dict[str, list[Any]]:
    """``datasets.map`` function (batched) over ``sft`` rows: the columns of :data:`TOKENIZED_FEATURES`; rows whose
    tokens do not give back their text and assistant turns exactly are left out."""
    conversations = [[{"role": m["role"], "content": m["content"]} for m in c] for c in batch["messages"]]
    texts = _render(tokenizer, conversations, generation_prompt=False)
    spans = assistant_spans(tokenizer, conversations, texts)
    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True) if texts else {"input_ids": [], "offset_mapping": []}
    rows: list[tuple[int, list[int], list[int]]] = []
    for row, (ids, offsets, found) in enumerate(zip(encoded["input_ids"], encoded["offset_mapping"], spans)):
        if found is None:
            continue
        labels = _labels_from_offsets(ids, offsets, found)
        if labels is None:
            ids, labels = _by_segments(tokenizer, texts[row], found)
        rows.append((row, list(ids), labels))
    # the check, for every row: ids give back the text, labelled ids exactly the assistant turns (the Rust decoder,
    # as is: no clean-up of spaces, special tokens kept)
    decode = tokenizer.backend_tokenizer.decode_batch
    decoded = decode([ids for _, ids, _ in rows], skip_special_tokens=False)
    assistant = decode([[t for t, label in zip(ids, labels) if label != IGNORE_INDEX] for _, ids, labels in rows], skip_special_tokens=False)
    out: dict[str, list[Any]] = {name: [] for name in TOKENIZED_FEATURES}
    for (row, ids, labels), text_back, turns_back in zip(rows, decoded, assistant):
        found = spans[row] or []
        if text_back != texts[row] or turns_back != "".join(texts[row][a:b] for a, b in found):
            continue
        for name in ("id", "problem_id", "candidate_id", "license"):
            out[name].append(batch[name][row])
        out["chat_template_applied"].append(texts[row])
        out["input_ids"].append(ids)
        out["labels"].append(labels)
    return out


def tokenized_config(sft: Dataset, meta: BuildMeta) -> tuple[Dataset | None, TokenizedRecord]:
    """The ``sft_tokenized`` config of ``sft`` and its record for ``build.json`` (None and why, when there is no
    usable tokenizer; see :func:`load_tokenizer`)."""
    tokenizer, record = load_tokenizer(meta)
    if tokenizer is None:
        return None, record
    if len(sft) == 0:
        return Dataset.from_dict({name: [] for name in TOKENIZED_FEATURES}, features=TOKENIZED_FEATURES), record
    out = sft.map(
        releasing(tokenize_batch), fn_kwargs={"tokenizer": tokenizer}, batched=True, **batch_kwargs(sft, 256, TOKENIZE_BATCH_BYTES), features=TOKENIZED_FEATURES,
        remove_columns=sft.column_names,
        new_fingerprint=fingerprint("sft_tokenized", sft, tokenizer_digest(tokenizer), code_hash(__name__)),
        desc="Tokenizing SFT rows",
    )
    return out, record.model_copy(update={"rows": len(out), "left_out": len(sft) - len(out)})
