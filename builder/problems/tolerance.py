"""The float tolerance a problem statement states: its value, its kind (absolute, relative or either) and the phrase.

Sources rarely carry a tolerance field, yet statements say what the original judge accepted ("Your output will be
considered correct if the absolute or relative error from the true value is at most 10^{-9}"). Without it the judge's
default (1e-6, absolute or relative) would accept answers the statement rejects. :func:`statement_tolerance` finds the
first sentence that speaks of an error, a tolerance or of being "within" something, and a number below 1 in it:

- numbers: ``10^{-9}``, ``10 ^ {-5}``, ``10^-6``, ``10^(-6)``, ``$$$10^{-6}$$$``, ``2 \\cdot 10^{-5}``, ``5 × 10^{-7}``,
  ``1e-6``, ``1E-06``, ``10⁻⁶``, ``10<sup>-6</sup>``, a decimal such as ``0.000001``, and ``10 - 6`` / ``10-6``
  (a superscript lost when HTML was flattened, as in many CodeContests statements);
- kind: ``absolute`` and ``relative`` both named (in any order: "absolute or relative", "relative or absolute") →
  ``either`` (``|a - b| <= tol * max(1, |b|)``); only ``absolute`` → ``absolute``; only ``relative`` → ``relative``;
  neither, with "within" or "differ" ("within 10^{-6} of the correct answer") → ``absolute``; neither, with "error"
  or "tolerance" → ``either``.

:func:`add_statement_tolerances` is the problems stage's step: every problem without a tolerance gets the stated one
(``tolerance_source = "statement"``); one whose source gave a value keeps it (``tolerance_source = "source"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from datasets import Dataset

from builder.core.caching import code_hash, fingerprint

STATEMENT, SOURCE = "statement", "source"

_SUPERSCRIPT = re.compile("⁻([⁰¹²³⁴⁵⁶⁷⁸⁹]+)")
_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
_MINUS = "-−–—"
#: a sentence speaks of the tolerance when it has one of these (and a number below 1)
_KEYWORD = re.compile(r"\b(?:errors?|tolerance|within|differs?)\b", re.I)
_ABSOLUTE = re.compile(r"\babsolute(?:ly)?\b", re.I)
_RELATIVE = re.compile(r"\brelative(?:ly)?\b", re.I)
_WITHIN = re.compile(r"\b(?:within|differs?)\b", re.I)
_ERRORWORD = re.compile(r"\b(?:errors?|tolerance)\b", re.I)
_COEF = r"(?:(?P<coef>\d+(?:\.\d+)?)\s*(?:\*|x|×|·|\\cdot|\\times)\s*)?"
_NUMBERS = [
    # 10^{-9}, 10 ^ {-5}, 10^-6, 10^(-6), 10^{{-6}}, 2 \cdot 10^{-5}, 10**-6
    re.compile(_COEF + r"\b10\s*(?:\^|\*\*)\s*[{(]*\s*[" + _MINUS + r"]\s*(?P<exp>\d{1,3})\s*[})]*"),
    # 10<sup>-6</sup>
    re.compile(_COEF + r"\b10\s*<sup>\s*[" + _MINUS + r"]\s*(?P<exp>\d{1,3})\s*</sup>", re.I),
    # 1e-6, 1E-06, 2.5e-7
    re.compile(r"(?<![\w.])(?P<mant>\d+(?:\.\d+)?)[eE][" + _MINUS + r"](?P<exp>\d{1,3})\b"),
    # 0.000001, .0001
    re.compile(r"(?<![\w.])(?P<dec>0?\.\d*[1-9]\d*)(?!\w|\.\d)"),
    # 10 - 6, 10-6 (a flattened superscript; only ever read inside a tolerance sentence)
    re.compile(_COEF + r"\b10\s?[" + _MINUS + r"]\s?(?P<flat>[1-9]\d?)(?!\d|\.\d)"),
]
_LATEX = re.compile(r"\${1,3}|\\[,;!: ]|\\left|\\right|\\mathrm\{([^{}]*)\}|\\text\{([^{}]*)\}")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z$(\\])|\n+")


@dataclass(frozen=True)
class StatedTolerance:
    value: float
    kind: str  # "either", "absolute" or "relative"
    #: the sentence it was read from (cleaned of LaTeX dollars), for audits and the phrasing counts
    phrase: str


def _clean(text: str) -> str:
    text = _SUPERSCRIPT.sub(lambda m: "^-" + m.group(1).translate(_DIGITS), text)
    text = _LATEX.sub(lambda m: m.group(1) or m.group(2) or " ", text)
    return re.sub(r"[ \t]+", " ", text)


def _number(sentence: str) -> float | None:
    """The first number below 1 (and above 0) that a sentence states, in the most specific form of
    :data:`_NUMBERS` that it uses."""
    for pattern in _NUMBERS:
        for m in pattern.finditer(sentence):
            groups = m.groupdict()
            try:
                if groups.get("mant") is not None:
                    value = float(groups["mant"]) * 10.0 ** -int(groups["exp"])
                elif groups.get("exp") is not None:
                    value = float(groups.get("coef") or 1) * 10.0 ** -int(groups["exp"])
                elif groups.get("dec") is not None:
                    value = float(groups["dec"])
                else:
                    value = float(groups.get("coef") or 1) * 10.0 ** -int(groups["flat"])
            except (ValueError, OverflowError):
                continue
            if 0.0 < value < 1.0:
                return value
    return None


def _kind(sentence: str) -> str:
    absolute, relative = bool(_ABSOLUTE.search(sentence)), bool(_RELATIVE.search(sentence))
    if absolute and relative:
        return "either"
    if absolute:
        return "absolute"
    if relative:
        return "relative"
    if _WITHIN.search(sentence) and not _ERRORWORD.search(sentence):
        return "absolute"
    return "either"


def statement_tolerance(text: str | None) -> StatedTolerance | None:
    """The tolerance the statement states (the first sentence that states one), or None."""
    if not text or not _KEYWORD.search(text):
        return None
    for sentence in _SENTENCE.split(_clean(text)):
        if not _KEYWORD.search(sentence):
            continue
        value = _number(sentence)
        if value is not None:
            return StatedTolerance(value=value, kind=_kind(sentence), phrase=sentence.strip())
    return None


def phrasing(phrase: str) -> str:
    """A stated tolerance's sentence with its number and the words around the keywords reduced to a template, so
    statements phrased alike count together ("... absolute or relative error ... at most <tol>")."""
    text = phrase
    for pattern in _NUMBERS:
        text = pattern.sub("<tol>", text)
    text = re.sub(r"\s+", " ", text).strip()
    m = re.search(r"(?i)(absolute|relative|errors?|tolerance|within|differ)", text)
    start = m.start() if m else 0
    end = text.find("<tol>", start)
    return text[start : end + len("<tol>")] if end >= 0 else text[start:]


def _tolerances(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"float_tolerance": [], "tolerance_kind": [], "tolerance_source": []}
    for text, tol, kind, source in zip(batch["problem"], batch["float_tolerance"], batch["tolerance_kind"], batch["tolerance_source"]):
        if tol is not None:  # the source gave one: kept, and said where it came from
            out["float_tolerance"].append(tol)
            out["tolerance_kind"].append(kind)
            out["tolerance_source"].append(source or SOURCE)
            continue
        stated = statement_tolerance(text)
        out["float_tolerance"].append(stated.value if stated else None)
        out["tolerance_kind"].append(stated.kind if stated else None)
        out["tolerance_source"].append(STATEMENT if stated else None)
    return out


def add_statement_tolerances(problems: Dataset, *, num_proc: int | None = None) -> Dataset:
    """``problems`` with the statement's tolerance where the source gave none (cached: input, code)."""
    if len(problems) == 0:
        return problems
    return problems.map(
        _tolerances,
        batched=True,
        batch_size=1000,
        input_columns=None,
        features=problems.features,
        num_proc=num_proc if num_proc and num_proc > 1 and len(problems) > 1000 else None,
        new_fingerprint=fingerprint("tolerance", problems, code_hash(__name__)),
        desc="Tolerances from statements",
    )


def counts(problems: Dataset) -> dict[str, int]:
    """How many problems have a tolerance from their statement, from their source, and of each kind."""
    table = problems.select_columns(["tolerance_source", "tolerance_kind"]).to_dict()
    out = {"statement": 0, "source": 0}
    for source, kind in zip(table["tolerance_source"], table["tolerance_kind"]):
        if source in out:
            out[source] += 1
        if source == STATEMENT:
            out[f"statement_{kind}"] = out.get(f"statement_{kind}", 0) + 1
    return out

