"""Response extraction: a raw model response -> its reasoning and the final program (Python, C++ or C).

Rules, in the order they apply:

1. **Reasoning tags.** Text inside ``<think>…</think>`` is reasoning; only the text after the last ``</think>``
   (the answer) is searched for code, so code that appears only inside the reasoning does not count. A lone
   ``</think>`` (the chat template opened the tag in the prompt) closes reasoning that began at the start of
   the response. An unclosed ``<think>`` means the whole response is reasoning: ``no_code``.
2. **Fenced blocks** are read line by line: a fence is 3+ backticks or tildes, with any indentation (blocks
   nested in Markdown lists are common); it closes on a line holding only the same fence character, at least as
   many times; the content is dedented by the opener's indentation. An unclosed final fence runs to the end of
   the text (a response cut by ``max_tokens``). A doubled opener (```` ```python ```` on two consecutive lines)
   counts once, so nested fences still give the program.
3. **Which block.** The final program is the last block, outside the reasoning, labelled ``python``/``py``/
   ``python3``/``py3`` (any case, ``python3.11`` too), or unlabelled *and* looking like Python (unlabelled blocks
   that end a response are often sample input/output). Blocks labelled with another language (``plaintext``,
   ``shell``, ``text``, ``json``, ``cpp``, …) are not code. An empty block is not code: an earlier one is taken.
4. **Fragments** (``resolve_fragments=True``, the default). When that last block is only a fragment (it defines
   no function or class and uses names it does not bind) and an earlier code block defines those names:
   - if the earlier block is not a complete program (outside its functions it neither reads stdin nor calls a
     function it defines), the program is the earlier block followed by the fragment: ``def main(): …`` then
     ``threading.Thread(target=main).start()``, which is what the response tells the reader to run;
   - if the earlier block is a complete program, the last block (often a demonstration on the samples,
     ``print(solve(2, 4))  # Expected Output: 4``) stays the final program, as rule 3 says: a response whose final
     block is not its solution is judged (and rejected) as written, so it does not become an SFT sample.
   LiveCodeBench's and MapCoder's extractors always take the fragment alone, a program that cannot run
   (NameError); ``resolve_fragments=False`` does the same.
5. ``no_code`` when nothing is found. The code is stripped of surrounding whitespace.

When there is no reasoning tag, the reasoning is the text before the first line of the program's block (the whole
response, stripped, when there is no code).

**C and C++** (a candidate's ``language``, :mod:`builder.core.languages`): the same rules 1, 2 and 5; rule 3 takes the
last block labelled for that language (C++: ``cpp``, ``c++``, ``cxx``, ``cc``; C: ``c``; any case) or unlabelled and
looking like C/C++ (an ``#include`` line or a ``main`` function); a Python block is not code there, nor is a C++ block
for C. Rule 4 is Python's only: a C or C++ program is taken as its last block.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass
from typing import Any, Literal

from datasets import Dataset, Features

from builder.core import languages as L
from builder.core.caching import code_hash, fingerprint
from builder.core.schema import EXTRACTION_FEATURES

EXTRACTED = "extracted"
GIVEN = "given"
NO_CODE = "no_code"

Status = Literal["extracted", "no_code"]

#: Info-string languages that mark a Python block: python, py, python3, py3, python3.11, ... (any case).
_PYTHON_LABEL = re.compile(r"^(python|py)(3(\.\d+)?)?$")

_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_DEFINITION = re.compile(r"^[ \t]*(async[ \t]+)?(def|class)[ \t]", re.MULTILINE)
_BUILTINS = frozenset(dir(builtins)) | {"__name__", "__file__", "__builtins__", "__doc__", "__spec__"}


@dataclass(frozen=True)
class Extraction:
    """What a response holds: its reasoning, and the final program (``None`` when ``status == "no_code"``)."""

    reasoning: str
    code: str | None
    status: Status


@dataclass(frozen=True)
class _Block:
    label: str  # first word of the info string, lowercased ("" when unlabelled)
    content: str
    start: int  # character offset (in the searched text) of the opening fence line


# --------------------------------------------------------------------------------------------------- fences


def _opener(line: str) -> re.Match[str] | None:
    m = _FENCE.match(line)
    if m is None:
        return None
    if m["fence"][0] == "`" and "`" in m["info"]:  # CommonMark: a backtick fence's info has no backtick
        return None
    return m


def _is_closer(line: str, char: str, length: int) -> bool:
    stripped = line.strip()
    run = len(stripped) - len(stripped.lstrip(char))
    return run >= length and stripped == char * run


def _label(info: str) -> str:
    """The language of an info string: its first word, lowercased, without ``{.…}`` or a ``:filename`` suffix."""
    words = info.strip().split()
    if not words:
        return ""
    return words[0].lower().lstrip("{.").rstrip("}").split(":")[0]


def _is_python_label(label: str) -> bool:
    return _PYTHON_LABEL.match(label) is not None


def _dedent(line: str, indent: int) -> str:
    i = 0
    while i < indent and i < len(line) and line[i] in " \t":
        i += 1
    return line[i:]


def _blocks(text: str) -> list[_Block]:
    """Every fenced block of ``text``, in order."""
    lines = [line + "\n" for line in text.split("\n")]  # not splitlines(): \x0c or \u2028 are no line ends
    lines[-1] = lines[-1][:-1]
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    blocks: list[_Block] = []
    i = 0
    while i < len(lines):
        m = _opener(lines[i].rstrip("\r\n"))
        if m is None:
            i += 1
            continue
        start = offsets[i]
        # A doubled opener: the next line opens again with an info string (so it cannot close this block).
        while i + 1 < len(lines):
            nxt = _opener(lines[i + 1].rstrip("\r\n"))
            if nxt is None or nxt["fence"][0] != m["fence"][0] or not nxt["info"].strip():
                break
            i += 1
            m = nxt
        char, length, indent = m["fence"][0], len(m["fence"]), len(m["indent"])
        body: list[str] = []
        i += 1
        while i < len(lines) and not _is_closer(lines[i], char, length):
            body.append(_dedent(lines[i], indent))
            i += 1
        blocks.append(_Block(label=_label(m["info"]), content="".join(body), start=start))
        i += 1  # past the closing fence (or the end)
    return blocks


# ------------------------------------------------------------------------------------------- python sniffing

_PYTHONISH_LINE = re.compile(
    r"^\s*(def |class |import |from \S+ import |for .+ in .+:|while .+:|if .+:|elif .+:|else:|return\b|print\(|"
    r"[A-Za-z_][\w, ]*\s*=\s*\S)"
)


def _parse(code: str) -> ast.Module | None:
    """The syntax tree of ``code``, or None when it does not parse (or is too deep to: model text is hostile)."""
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _substantive(stmt: ast.stmt) -> bool:
    """A statement that is real code, not a bare value (sample output such as ``3``, ``YES`` or ``[1, 2]`` parses)."""
    if isinstance(stmt, ast.AnnAssign):  # "Input: 3"
        return stmt.value is not None
    if isinstance(stmt, ast.Expr):
        return isinstance(stmt.value, ast.Call | ast.Await | ast.Yield | ast.YieldFrom | ast.NamedExpr)
    return True


def _is_complete_program(code: str) -> bool:
    """Whether a program runs by itself: outside its functions it reads stdin or calls a function it defines.

    ``def main(): …`` alone, or with top-level set-up (``sys.setrecursionlimit(…)``, ``threading.stack_size(…)``),
    is not complete; with ``main()``, ``if __name__ == "__main__": main()`` or ``n = int(input())`` it is.
    """
    tree = _parse(code)
    if tree is None:
        return True
    scopes = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    defined = {s.name for s in tree.body if isinstance(s, scopes)}
    todo: list[ast.AST] = [s for s in tree.body if not isinstance(s, scopes)]
    while todo:
        node = todo.pop()
        if isinstance(node, scopes | ast.Lambda):
            continue
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in defined | {"input", "open"}:
                return True
            if isinstance(func, ast.Attribute) and any(
                isinstance(n, ast.Attribute) and n.attr == "stdin" or isinstance(n, ast.Name) and n.id == "stdin"
                for n in ast.walk(func.value)
            ):
                return True
        todo.extend(ast.iter_child_nodes(node))
    return False


def looks_like_python(code: str) -> bool:
    """Whether an unlabelled block holds a program rather than sample input/output or prose."""
    tree = _parse(code)
    if tree is None:
        # A program cut short (max_tokens) or with a bug still counts when several lines read as Python.
        hits = sum(bool(_PYTHONISH_LINE.match(line)) for line in code.splitlines())
        return hits >= 2
    return any(_substantive(stmt) for stmt in tree.body)


def _names(code: str) -> tuple[set[str], set[str], bool] | None:
    """(names bound anywhere, names loaded anywhere, defines a function/class) or None when it does not parse."""
    tree = _parse(code)
    if tree is None:
        return None
    bound: set[str] = set()
    loaded: set[str] = set()
    defines = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
            defines = True
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            bound.update(node.names)
    return bound, loaded, defines


def _completion(fragment: str, earlier: list[_Block]) -> _Block | None:
    """The nearest earlier block that defines every name ``fragment`` uses without binding, if it is a fragment."""
    if not earlier or _DEFINITION.search(fragment):  # fast path: a block with a def/class is no fragment
        return None
    names = _names(fragment)
    if names is None:
        return None
    bound, loaded, defines = names
    free = loaded - bound - _BUILTINS
    if defines or not free:
        return None
    for block in reversed(earlier):
        other = _names(block.content)
        if other is not None and free <= other[0]:
            return block
    return None


# ---------------------------------------------------------------------------------------------- extraction


def _split_reasoning(response: str) -> tuple[str | None, str]:
    """(reasoning from tags or None when there are none, the answer text to search for code)."""
    close = response.rfind(_THINK_CLOSE)
    if close >= 0:
        head = response[:close]
        opened = head.find(_THINK_OPEN)
        if opened >= 0:
            head = head[:opened] + head[opened + len(_THINK_OPEN) :]
        answer = response[close + len(_THINK_CLOSE) :]
        reopened = answer.find(_THINK_OPEN)
        if reopened >= 0:  # a new reasoning section that never closes: not part of the answer
            head += "\n" + answer[reopened + len(_THINK_OPEN) :]
            answer = answer[:reopened]
        reasoning = head.replace(_THINK_OPEN, "").replace(_THINK_CLOSE, "")
        return reasoning.strip(), answer
    opened = response.find(_THINK_OPEN)
    if opened >= 0:  # unclosed: everything is reasoning
        return (response[:opened] + response[opened + len(_THINK_OPEN) :]).strip(), ""
    return None, response


_C_LIKE = re.compile(r"^[ \t]*#[ \t]*include\b|\bmain[ \t]*\([^)]*\)[\s]*\{", re.MULTILINE)


def looks_like_c(code: str) -> bool:
    """Whether an unlabelled block holds a C or C++ program (an ``#include`` line or a ``main`` function)."""
    return _C_LIKE.search(code) is not None


def _is_code_block(block: _Block, language: str = L.PYTHON) -> bool:
    if not block.content.strip():
        return False
    if language != L.PYTHON:
        return block.label in L.SPECS[language].labels or (block.label == "" and looks_like_c(block.content))
    if _is_python_label(block.label):
        return True
    return block.label == "" and looks_like_python(block.content)


def extract_response(response: str | None, *, resolve_fragments: bool = True, language: str = L.PYTHON) -> Extraction:
    """The reasoning and the final program in ``language`` (Python by default) of a raw model response (see the
    module docstring).

    With ``resolve_fragments=False`` the last code block is taken as it is, even when it is only a fragment that
    cannot run alone (the behaviour of LiveCodeBench's and MapCoder's extractors).
    """
    response = response or ""
    language = L.normalize(language)
    tagged, answer = _split_reasoning(response)
    candidates = [b for b in _blocks(answer) if _is_code_block(b, language)]
    if not candidates:
        return Extraction(reasoning=tagged if tagged is not None else response.strip(), code=None, status=NO_CODE)
    last = candidates[-1]
    code, first = last.content.strip(), last
    if resolve_fragments and language == L.PYTHON:
        head = _completion(last.content, candidates[:-1])
        # Definitions, then the line that runs them: both. When the earlier block already runs by itself, the last
        # block (a demonstration on the samples) is the final program, as the rule says, and is judged as such.
        if head is not None and not _is_complete_program(head.content):
            first = head
            code = head.content.strip() + "\n\n" + code
    reasoning = tagged if tagged is not None else answer[: first.start].strip()
    return Extraction(reasoning=reasoning, code=code, status=EXTRACTED)


# --------------------------------------------------------------------------------------------------- stage


def _present(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def extract_batch(batch: dict[str, list[Any]], resolve_fragments: bool = True) -> dict[str, list[Any]]:
    """``datasets.map`` function (batched): adds reasoning, solution and extraction."""
    n = len(next(iter(batch.values()))) if batch else 0
    responses = batch.get("response", [None] * n)
    solutions = batch.get("solution", [None] * n)
    languages = batch.get("language", [None] * n)
    out: dict[str, list[Any]] = {"reasoning": [], "solution": [], "extraction": []}
    for response, solution, language in zip(responses, solutions, languages, strict=True):
        if _present(response):
            ex = extract_response(response, resolve_fragments=resolve_fragments, language=L.normalize(language))
            out["reasoning"].append(ex.reasoning)
            out["solution"].append(ex.code or "")
            out["extraction"].append(ex.status)
        elif _present(solution):
            out["reasoning"].append("")
            out["solution"].append(solution)
            out["extraction"].append(GIVEN)
        else:
            out["reasoning"].append("")
            out["solution"].append("")
            out["extraction"].append(NO_CODE)
    return out


def extract_stage(
    ds: Dataset,
    num_proc: int | None = None,
    *,
    resolve_fragments: bool = True,
    batch_size: int = 1000,
) -> Dataset:
    """Add ``reasoning``, ``solution`` ("" when no code) and ``extraction`` ("extracted", "given", "no_code").

    A row with a non-empty ``response`` is extracted from it; a row without one keeps its non-empty ``solution``
    (extraction "given"); a row with neither is ``no_code``. The cache fingerprint covers the input, the options
    and this module's source (:mod:`builder.core.caching`), so a changed extractor never reuses an older result.
    """
    if "response" not in ds.column_names and "solution" not in ds.column_names:
        raise ValueError("extract_stage needs a 'response' or a 'solution' column")
    kept = {name: feature for name, feature in ds.features.items() if name not in EXTRACTION_FEATURES}
    features = Features({**kept, **EXTRACTION_FEATURES})
    return ds.map(
        extract_batch,
        batched=True,
        batch_size=batch_size,
        fn_kwargs={"resolve_fragments": resolve_fragments},
        num_proc=num_proc if num_proc and num_proc > 1 and len(ds) > 1 else None,
        features=features,
        new_fingerprint=fingerprint("extract", ds, resolve_fragments, code_hash(__name__)),
        desc="Extracting code",
    )
