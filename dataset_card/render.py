"""Render the dataset card: the Jinja template ``card.md.j2`` through ``huggingface_hub.DatasetCard``.

Inputs are the statistics (``builder.dataset.stats.compute_stats``), the build metadata (``build.json``), the configs'
features (from the parquet schemas) and the chart files drawn. The output is a deterministic string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from builder.dataset.card.fields import field_rows
from datasets import Features
from huggingface_hub import DatasetCard, DatasetCardData

from builder.core.meta import BuildMeta, LimitsRecord, ProblemsRecord
from builder.dataset.stats import CONFIGS, fmt_float, fmt_int, fmt_pct

TEMPLATE = Path(__file__).with_name("card.md.j2")
HUB_LICENSES = {
    "apache-2.0", "mit", "bsd-2-clause", "bsd-3-clause", "cc0-1.0", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0",
    "cc-by-sa-3.0", "cc-by-3.0", "cc-by-nc-sa-4.0", "odc-by", "odbl", "gpl-3.0", "lgpl-3.0", "unlicense", "other",
}
TAGS = ["code", "reasoning", "competitive-programming", "execution-verified", "sft", "dpo", "synthetic"]
TOKEN_PHRASES = {
    "generation": "as reported by the generation engine",
    "tokenizer": "counted with the generation model's tokenizer, since the responses came without counts",
    "unavailable": "unavailable (no counts came with the responses and no local tokenizer was named)",
}


#: what each config is, in the card's overview table
CONFIG_ROWS = {
    "sft": "responses that pass every test: the problem, the response, the program extracted from it and its test results, plus the conversation in TRL's `messages` format",
    "sft_tokenized": "the `sft` rows through the generating model's chat template and tokenizer: `input_ids`, and `labels` with every non-assistant token masked (`-100`)",
    "dpo": "preference pairs: chosen passes every test, rejected fails (with its rejection type)",
    "kto": "unpaired preferences (TRL's KTO format): each judged response with `label` true when it passes every test",
    "candidates": "every candidate with its verdict, per-test summary and reward",
    "problems": "one row per problem: tests, pass counts, unbiased pass@k, an empirical difficulty label and a ready `prompt` (for RL)",
}
KTO_BALANCE_PHRASES = {
    "global": "as many desirable as undesirable rows overall: every row of the smaller side, and as many of the larger one, drawn with the seed",
    "problem": "per problem, as many desirable as undesirable rows, drawn with the seed (problems with only one kind give none)",
    "none": "every judged response, unbalanced",
}
REWARD_PHRASES = {
    "pass_rate": "the share of the problem's tests the response passed",
    "binary": "1 when the response passed every test, else 0",
}


def size_category(rows: int) -> str:
    """The Hub's size_categories bucket for a row count."""
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]
    for bound, label in bounds:
        if rows < bound:
            return label
    return "n>1T" if rows >= 1_000_000_000_000 else "1B<n<10B"


def hub_license(value: str | None) -> str:
    text = (value or "").strip().lower()
    return text if text in HUB_LICENSES else "other"


def dataset_license(meta: BuildMeta, stats: Mapping[str, Any]) -> str:
    """The recipe's ``[dataset] license``; else the sources' licence when they all share one; else ``other``."""
    if meta.dataset.license:
        return hub_license(meta.dataset.license)
    licenses = {row["license"] for row in stats["licenses"]}
    return hub_license(licenses.pop()) if len(licenses) == 1 else "other"


def card_data(stats: Mapping[str, Any], meta: BuildMeta, schemas: Mapping[str, Features], pretty_name: str, license: str) -> DatasetCardData:
    """The YAML front matter: every config with its data files and dataset_info."""
    sizes = stats["configs"]
    names = [name for name in CONFIGS if name in schemas]
    configs = []
    for name in names:
        # the Parquet files only: JSONL copies may lie beside them ([dataset] formats)
        entry: dict[str, Any] = {"config_name": name, "data_files": [{"split": "train", "path": f"{name}/train-*.parquet"}]}
        if name == "sft":
            entry["default"] = True
        configs.append(entry)
    info = [
        {
            "config_name": name,
            "features": schemas[name]._to_yaml_list(),
            "splits": [{"name": "train", "num_bytes": sizes[name]["dataset_size"], "num_examples": sizes[name]["rows"]}],
            "download_size": sizes[name]["download_size"],
            "dataset_size": sizes[name]["dataset_size"],
        }
        for name in names
    ]
    return DatasetCardData(
        pretty_name=pretty_name,
        license=license,
        language=["en"],
        task_categories=["text-generation"],
        size_categories=[size_category(max(s["rows"] for s in sizes.values()))],
        tags=TAGS,
        configs=configs,
        dataset_info=info,
    )


def plain(value: Any) -> str:
    """A value of ``build.json`` in words for a table cell: no Python syntax (``[]``, ``{}``, ``['pid', ...]``)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "–"
    if isinstance(value, (list, tuple)):
        return ", ".join(plain(v) for v in value) if value else "none"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {plain(v)}" for k, v in value.items()) if value else "none"
    return str(value).replace("|", "\\|")


def model_phrase(meta: BuildMeta, models: list[str]) -> str:
    """The model as the card names it: a link for a Hub id, the folder for a local model."""
    if not meta.model:
        return ", ".join(f"`{m}`" for m in models) if models else "the generating model(s)"
    if meta.model_source == "hub":
        return f"[`{meta.model}`](https://huggingface.co/{meta.model})"
    if meta.model_source == "local":
        return f"`{meta.model}` (a local model folder)"
    if meta.model_source == "endpoint":
        return f"`{meta.model}` (served by an OpenAI-compatible endpoint)"
    return f"`{meta.model}`"


def model_note(meta: BuildMeta) -> str:
    """The card's paragraph about the model: the recipe's words, or what a reader needs to look it up."""
    if meta.dataset.model_description:
        return meta.dataset.model_description
    if meta.model_source == "hub":
        return f"Its model card on the Hub says what it is and how it was trained: [{meta.model}](https://huggingface.co/{meta.model})."
    return "The recipe does not describe it (set `model_description` in the recipe's `[dataset]` table)."


DEFAULT_USES = (
    "Training models that write Python programs for competitive-programming problems: supervised fine-tuning on the "
    "responses that pass every test, preference training on pairs of passing and failing responses, reinforcement "
    "learning with the tests as the reward; and studying how a model's programs fail (every candidate keeps its "
    "verdict and rejection type)."
)
DEFAULT_OUT_OF_SCOPE = (
    "Measuring a model's skill: the problems are public and may be in a model's pretraining data, and a verdict is only "
    "as strong as the problem's tests. Other programming languages, interactive problems, and problems that accept "
    "several answers without a checker are not covered. The responses are a model's, not human solutions."
)
DEFAULT_PERSONAL = (
    "The problems are public programming-contest statements with their tests, and the responses were generated by a "
    "model; the build collected no personal data. Statements may name their authors or fictional characters, and a "
    "model can reproduce text it was trained on: report anything personal to the contact below."
)


def uses_context(meta: BuildMeta) -> dict[str, str]:
    d = meta.dataset
    return {
        "intended": d.intended_uses or DEFAULT_USES,
        "out_of_scope": d.out_of_scope_uses or DEFAULT_OUT_OF_SCOPE,
        "personal": d.personal_information or DEFAULT_PERSONAL,
        "curators": d.curators or "Not given (set `curators` in the recipe's `[dataset]` table).",
        "contact": d.contact or "Not given (set `contact` in the recipe's `[dataset]` table); the dataset's Hub page has a Community tab for questions.",
    }


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (dict, list)):
        return f"`{value}`"
    return "–" if value is None else str(value)


def fence(text: str | None) -> str:
    """A code fence longer than any backtick run in ``text`` (prompts and recipes often contain ```python)."""
    runs = [len(m) for m in re.findall(r"`+", text or "")]
    return "`" * max(3, max(runs, default=0) + 1)


#: how a limits mode reads on the card (step 4 of "How it was made", the sentence under the table, the limitation)
_LIMIT_MODES = {
    "own": (
        "each problem's own time and memory limits; {values} where a problem states none",
        "Each test ran under its problem's own time limit (CPU seconds) and memory limit; where a problem states none, "
        "the values above apply (counted as defaulted).",
        "Time limits are CPU time on the build machine, not on the original judge's: a `timeout` here may pass on a "
        "faster machine. Problems that state no limits ran under the defaults above, not their original judge's.",
    ),
    "cap": (
        "each problem's own time and memory limits capped at {values}, which also apply where a problem states none",
        "Each test ran under its problem's own time limit (CPU seconds) and memory limit, capped at the values above, "
        "which also apply where a problem states none.",
        "Time limits are CPU time on the build machine, not on the original judge's: a `timeout` here may pass on a "
        "faster machine. Capped problems ran under lower limits than their original judge's.",
    ),
    "flat": (
        "{values} for every problem, whatever limits it states",
        "Every test ran under the values above (CPU seconds and MB), whatever limits its problem states.",
        "Time limits are CPU time on the build machine, and every problem ran under the same limits: they differ from "
        "the original judges', so a `timeout` here may pass there (and on a faster machine).",
    ),
}
_ORIGINS_SHOWN = {"own": ("own", "capped", "defaulted"), "cap": ("own", "capped", "defaulted"), "flat": ("own", "overridden", "defaulted")}


def limits_context(record: LimitsRecord | None) -> dict[str, Any]:
    """What the card says about the time and memory limits, from ``build.json``'s ``limits`` section.

    A section without ``mode`` comes from a build made before limit modes existed, when a problem's own limits were
    capped at the values (mode ``cap``, no counts).
    """
    limits = record.model_dump(exclude_none=True, exclude_unset=True) if record is not None else {}
    mode = str(limits.get("mode") or "cap")
    phrase, sentence, limitation = _LIMIT_MODES.get(mode, _LIMIT_MODES["cap"])
    time_s, memory_mb = limits.get("time_limit_s"), limits.get("memory_limit_mb")
    values = f"{time_s:g} s CPU and {memory_mb} MB" if isinstance(time_s, (int, float)) and memory_mb else "the values below"
    rows = [("limits", f"`{mode}`")] if "mode" in limits else []
    rows += [(key, _value(limits[key])) for key in ("time_limit_s", "memory_limit_mb") if key in limits]
    counts = ""
    if isinstance(limits.get("time"), Mapping) and isinstance(limits.get("memory"), Mapping):
        shown = _ORIGINS_SHOWN.get(mode, _ORIGINS_SHOWN["cap"])
        parts = {kind: ", ".join(f"{fmt_int(limits[kind].get(o, 0))} {o}" for o in shown) for kind in ("time", "memory")}
        rows += [("problems", fmt_int(limits.get("problems"))), ("time limits", parts["time"]), ("memory limits", parts["memory"])]
        counts = f" (of {fmt_int(limits.get('problems'))} problems, time limits: {parts['time']}; memory limits: {parts['memory']})"
    extra = [(str(k), _value(v)) for k, v in limits.items() if k not in ("mode", "time_limit_s", "memory_limit_mb", "problems", "time", "memory")]
    return {
        "mode": mode,
        "phrase": phrase.format(values=values) + counts,
        "rows": rows + extra,
        "sentence": sentence,
        "limitation": limitation,
    }


def problems_phrase(record: ProblemsRecord | None) -> str:
    """What the problems stage did besides loading, in a few sentences (nothing for a build without a record)."""
    if record is None:
        return ""
    if record.dedup:
        text = f"Problems whose normalized statements repeat an earlier one were merged into it ({fmt_int(record.merged)} merged)."
    else:
        text = "Problems were not deduplicated."
    if record.near_dedup:
        text += (
            f" Near-duplicates (MinHash LSH, estimated Jaccard similarity of word 5-grams at least "
            f"{record.near_dedup_threshold:g}) were merged into the first problem of their group "
            f"({fmt_int(record.near_merged)} merged into {fmt_int(record.near_groups)} groups; the `problems` config's "
            f"`near_duplicates` lists each group)."
        )
    if record.decontamination:
        methods = {d.method for d in record.decontamination}
        how = []
        if "ngram" in methods:
            how.append(f"sharing at least {_threshold(record, 'ngram')} of a benchmark problem's word {record.ngram_size or 13}-grams")
        if "embedding" in methods:
            how.append(f"whose statement embedding is within cosine {_threshold(record, 'embedding')} of one")
        text += (
            f" Problems {' or '.join(how)} (benchmarks: {', '.join(f'`{b}`' for b in _benchmarks(record))}) were dropped "
            f"({fmt_int(record.contaminated)} dropped; see Problem checks)."
        )
    elif record.benchmark:  # a build from before n-grams and several benchmarks
        text += (
            f" Problems whose statement embedding is within cosine {record.threshold:g} of a problem of `{record.benchmark}`"
            f" were dropped ({fmt_int(record.contaminated)} dropped)."
        )
    else:
        text += " No decontamination against a benchmark was asked for."
    if record.tolerance_from_statement:
        text += f" {fmt_int(record.tolerance_from_statement)} problems took their float tolerance from their statement."
    if record.validation is not None:
        text += " Reference solutions were run against every problem's tests before generation (see Problem checks)."
    return text


def _benchmarks(record: ProblemsRecord) -> list[str]:
    return list(dict.fromkeys(d.benchmark for d in record.decontamination))


def _threshold(record: ProblemsRecord, method: str) -> str:
    return next((f"{d.threshold:g}" for d in record.decontamination if d.method == method), "–")


#: how each decontamination method reads in the card's table
_METHODS = {"ngram": "word {n}-gram overlap (share of the benchmark problem's)", "embedding": "embedding cosine (all-MiniLM-L6-v2)"}


def _rate(failures: int, trials: int) -> str:
    from builder.problems.validate import wilson_interval

    rate = wilson_interval(failures, trials)
    return "–" if rate is None else f"{fmt_pct(rate[0])} ({fmt_pct(rate[1])}–{fmt_pct(rate[2])})"


def problem_checks(record: ProblemsRecord | None) -> dict[str, Any] | None:
    """The card's "Problem checks": decontamination per benchmark and method, tolerances read from statements, and
    reference-solution validation per source with the judge's false-negative rate (Wilson 95% interval)."""
    if record is None or not (record.decontamination or record.validation is not None or record.tolerance_from_statement):
        return None
    decontamination = [
        {"benchmark": d.benchmark, "problems": fmt_int(d.problems), "method": _METHODS.get(d.method, d.method).format(n=record.ngram_size or 13),
         "threshold": f"{d.threshold:g}", "removed": fmt_int(d.removed)}
        for d in record.decontamination
    ]
    kinds = ", ".join(f"{fmt_int(n)} {kind}" for kind, n in record.tolerance_kinds.items())
    tolerance = (
        f"{fmt_int(record.tolerance_from_statement)} problems whose source gives no float tolerance state one in their "
        f"statement; it was read from there and used ({kinds}: `either` = absolute or relative error, "
        f"`|a − b| ≤ tol · max(1, |b|)`); the `problems` config records it in `float_tolerance`, `tolerance_kind` and "
        f"`tolerance_source`."
        if record.tolerance_from_statement else ""
    )
    validation = None
    v = record.validation
    if v is not None:
        rows = []
        total: dict[str, int] = {}
        for src in v.sources:
            counts = src.model_dump(exclude={"source"})
            for key, value in counts.items():
                total[key] = total.get(key, 0) + value
            rows.append({"source": src.source, **{k: fmt_int(n) for k, n in counts.items()}, "fnr": _rate(src.correct_rejected, src.correct_run)})
        totals = {k: fmt_int(n) for k, n in total.items()}
        run, rejected = total.get("correct_run", 0), total.get("correct_rejected", 0)
        rate = _rate(rejected, run)
        verdicts = ", ".join(f"`{verdict}` {fmt_int(n)}" for verdict, n in sorted(v.rejected_verdicts.items(), key=lambda kv: (-kv[1], kv[0])))
        validation = {
            "k": v.references,
            "rows": rows,
            "total": {**totals, "fnr": rate},
            "sentence": (
                f"The judge rejected {fmt_int(rejected)} of the {fmt_int(run)} correct reference solutions it ran: a "
                f"false-negative rate of {rate} (95% Wilson score interval)"
                + (f"; their verdicts: {verdicts}." if verdicts else ".")
                if run else "No correct reference solution could be run, so the judge's false-negative rate is unknown."
            ),
        }
    return {"decontamination": decontamination, "tolerance": tolerance, "validation": validation}


def _pairs(mapping: Any) -> list[tuple[str, str]]:
    if not isinstance(mapping, Mapping):
        return []
    return [(str(k), _value(v)) for k, v in mapping.items()]


def render_card_text(
    stats: Mapping[str, Any], meta: BuildMeta, schemas: Mapping[str, Features], charts: list[str],
    examples: Mapping[str, str] | None = None,
) -> str:
    """The whole README.md: YAML front matter and the card body. ``examples``: config -> an example row as JSON text
    (:func:`builder.dataset.card.examples.example_rows`)."""
    from builder.dataset.charts import CHARTS, has_rating_buckets

    from builder import __version__

    name = meta.name
    pretty_name = meta.dataset.pretty_name or name
    license = dataset_license(meta, stats)
    repo_id = meta.dataset.repo_id or name
    models = stats["summary"]["models"]
    sampling = _pairs(dict(sorted(meta.sampling.model_dump().items())) if meta.sampling is not None else None)
    sampling_phrase = ", ".join(f"{k} {v}" for k, v in sampling) if sampling else "settings not recorded"
    sources = [
        {
            "kind": src.kind,
            "path": src.path,
            "problems": fmt_int(src.problems),
            "quarantined": fmt_int(src.quarantined),
            "license": src.license or "–",
        }
        for src in meta.sources
    ]
    versions = dict(meta.versions)
    versions.setdefault("builder", __version__)
    context = {
        "s": stats,
        "meta": meta,
        "pretty_name": pretty_name,
        "license": license,
        "repo_id": repo_id,
        "model_phrase": model_phrase(meta, models),
        "model_note": model_note(meta),
        "uses": uses_context(meta),
        "examples": dict(examples or {}),
        "rating_buckets": has_rating_buckets([row["bucket"] for row in stats["by_difficulty"]]),
        "sampling": sampling,
        "sampling_phrase": sampling_phrase,
        "prompt_recorded": "prompt" in meta.model_fields_set,
        "system_prompt": meta.prompt.system,
        "user_prompt": meta.prompt.user,
        "limits": limits_context(meta.limits),
        "problems_phrase": problems_phrase(meta.problems),
        "checks": problem_checks(meta.problems),
        "sandbox": [(str(k).replace("_", " "), "not used" if v is None else plain(v)) for k, v in meta.sandbox.items()],
        "versions": _pairs(versions),
        "sources": sources,
        "token_phrase": TOKEN_PHRASES.get(str(meta.token_counts), TOKEN_PHRASES["generation"]),
        "charts": charts,
        "alt": {file: alt for file, (_, alt) in CHARTS.items()},
        "fields": [(c, field_rows(c, schemas[c])) for c in CONFIGS if c in schemas],
        "configs": [c for c in CONFIGS if c in schemas],
        "config_rows": {c: CONFIG_ROWS[c] for c in CONFIGS if c in schemas},
        "tokenized": meta.tokenized,
        "jsonl": "jsonl" in meta.dataset.formats,
        "kto_balance": KTO_BALANCE_PHRASES.get(meta.dataset.kto_balance, meta.dataset.kto_balance),
        "reward_phrase": REWARD_PHRASES.get(meta.dataset.reward, meta.dataset.reward),
        "licenses": stats["licenses"],
        "citation_key": re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") or "dataset",
        "builder_version": versions["builder"],
        "num": fmt_int,
        "pct": fmt_pct,
        "fence": fence,
        "dec": fmt_float,
    }
    data = card_data(stats, meta, schemas, pretty_name, license)
    card = DatasetCard.from_template(data, template_path=str(TEMPLATE), **context)
    text = str(card)
    return text if text.endswith("\n") else text + "\n"
