"""The languages candidates may be written in: ``python``, ``cpp`` (C++) and ``c``, declared once.

Each language says how a prompt asks for it, which code-block labels mark it in a response (extraction), what its
source file is called in the sandbox and whether it is compiled; how it is compiled and run lives in
:mod:`builder.judge.compiled`. A recipe's ``languages`` and a ``builder verify`` row's ``language`` are normalized
here (``c++`` is ``cpp``, ``python3`` is ``python``); anything else is an error naming the known languages.
"""

from __future__ import annotations

from dataclasses import dataclass

PYTHON = "python"
CPP = "cpp"
C = "c"
#: every language, in the order statistics and the card list them
LANGUAGES: tuple[str, ...] = (PYTHON, CPP, C)


@dataclass(frozen=True)
class Language:
    name: str
    #: how the card and the prompt name it
    display: str
    #: the info string of the code block a prompt asks for
    fence: str
    #: info strings (first word, lower case) that mark a block of this language in a response
    labels: frozenset[str]
    #: the source file's name in the sandbox
    source_name: str
    compiled: bool


SPECS: dict[str, Language] = {
    PYTHON: Language(PYTHON, "Python 3", "python", frozenset(), "solution.py", False),  # labels: builder.extract's rule
    CPP: Language(CPP, "C++ (GNU C++17)", "cpp", frozenset({"cpp", "c++", "cxx", "cc", "cplusplus", "hpp"}), "solution.cpp", True),
    C: Language(C, "C (GNU C17)", "c", frozenset({"c", "h"}), "solution.c", True),
}

_ALIASES = {
    "python": PYTHON, "python3": PYTHON, "py": PYTHON, "py3": PYTHON,
    "cpp": CPP, "c++": CPP, "cxx": CPP, "cc": CPP, "cpp17": CPP, "c++17": CPP, "gnu++17": CPP,
    "c": C, "c17": C, "gnu17": C,
}


def normalize(value: object, default: str = PYTHON) -> str:
    """The language ``value`` names (None or "" is ``default``); ValueError for anything else."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if not isinstance(value, str):
        raise ValueError(f"language must be a string ({', '.join(LANGUAGES)}), got {type(value).__name__}")
    name = _ALIASES.get(value.strip().lower())
    if name is None:
        raise ValueError(f"unknown language {value!r}; known: {', '.join(LANGUAGES)} (also c++)")
    return name


def is_compiled(language: str | None) -> bool:
    return SPECS[normalize(language)].compiled


DEFAULT_SYSTEMS: dict[str, str] = {
    PYTHON: (
        "You are an expert competitive programmer. Think step by step, then give your final solution "
        "as one complete Python 3 program in a single ```python code block. The program reads from standard "
        "input and writes to standard output."
    ),
    CPP: (
        "You are an expert competitive programmer. Think step by step, then give your final solution "
        "as one complete C++17 program in a single ```cpp code block. The program reads from standard "
        "input and writes to standard output."
    ),
    C: (
        "You are an expert competitive programmer. Think step by step, then give your final solution "
        "as one complete C17 program in a single ```c code block. The program reads from standard "
        "input and writes to standard output."
    ),
}
