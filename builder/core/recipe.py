"""Recipes: a TOML file -> a validated :class:`builder.core.settings.Recipe`, with one clear line per mistake.

The settings are declared once in :mod:`builder.core.settings`; this module reads the file, turns pydantic's
validation errors into one line naming the key (``recipes/x.toml: sampling.n must be an integer >= 1, got 0``), and
applies command-line overrides (:func:`apply_overrides`), which re-validate and return one note per flag
(``note: --n overrides recipe value 8 -> 2``). The overridable settings and their flags come from the fields
(:func:`override_fields`), so the CLI never spells one twice.

Relative paths (sources, local models) are taken relative to the current directory, as ``just build`` runs from the
repository root.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from builder.core.errors import UserError
from builder.core.settings import SECTIONS, Recipe, Settings, SourceSettings

#: extra words for an unknown key people are likely to write
HINTS = {"sampling.seed": " (the seed is the recipe's top-level `seed`)"}
#: how a required table is asked for when it is missing
REQUIRED = {"sources": "at least one [[sources]] table is required", "model": "the [model] table is required (model.path at least)"}


# --- errors ------------------------------------------------------------------------------------------------------


def _key(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The settings model that holds the field at ``loc`` (for the allowed keys of an unknown one)."""
    model: type[BaseModel] | None = Recipe
    for part in loc[:-1]:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        annotation = field.annotation
        candidates = [annotation, *get_args(annotation)]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
    return model


def _is_int_field(loc: tuple[Any, ...]) -> bool:
    model = _model_at(loc)
    field = model.model_fields.get(str(loc[-1])) if model is not None and loc else None
    return field is not None and int in (field.annotation, *get_args(field.annotation)) and float not in get_args(field.annotation)


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def error_line(where: str, error: Mapping[str, Any]) -> str:
    """One validation error of pydantic as this project says it: ``where: key must be ..., got value``."""
    loc = tuple(error["loc"])
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    key = _key(loc)
    got = f", got {value!r}"
    if kind == "missing":
        if len(loc) == 1 and loc[0] in REQUIRED:
            return f"{where}: {REQUIRED[loc[0]]}"
        return f"{where}: {key} is required"
    if kind == "extra_forbidden":
        model = _model_at(loc)
        allowed = ", ".join(sorted(model.model_fields)) if model is not None else ""
        return f"{where}: unknown key {key}{HINTS.get(key, '')} (allowed: {allowed})"
    if kind == "value_error":
        message = str(ctx.get("error") or error["msg"]).removeprefix("Value error, ")
        if loc and loc[-1] not in ("model",) and message.startswith("must"):
            return f"{where}: {key} {message}{got}"
        return f"{where}: {message}"
    noun = "an integer" if _is_int_field(loc) else "a number"
    bounds = {
        "greater_than_equal": f"must be {noun} >= {_number(ctx.get('ge'))}",
        "greater_than": f"must be {noun} > {_number(ctx.get('gt'))}",
        "less_than_equal": f"must be {noun} <= {_number(ctx.get('le'))}",
        "less_than": f"must be {noun} < {_number(ctx.get('lt'))}",
        "int_type": "must be an integer",
        "int_from_float": "must be an integer",
        "float_type": "must be a number",
        "bool_type": "must be true or false",
        "string_type": "must be a string",
        "dict_type": "must be a table",
        "model_type": "must be a table",
        "tuple_type": "must be one or more tables",
        "too_short": "must be one or more tables",
    }
    if kind in ("tuple_type", "too_short") and key == "sources":
        return f"{where}: sources must be one or more [[sources]] tables"
    if kind in bounds:
        return f"{where}: {key} {bounds[kind]}{got}"
    return f"{where}: {key}: {error['msg']}{got}"


def validated(data: Mapping[str, Any], where: str) -> Recipe:
    try:
        return Recipe.model_validate(dict(data))
    except ValidationError as exc:
        # a missing required table first; else the most specific error (a bad source beats "no valid source")
        errors = sorted(exc.errors(), key=lambda e: (e["type"] != "missing" or len(e["loc"]) != 1, -len(e["loc"])))
        raise UserError(error_line(where, errors[0])) from None


# --- reading -----------------------------------------------------------------------------------------------------


def parse_recipe(data: Mapping[str, Any], *, where: str = "recipe", text: str = "", path: str = "") -> Recipe:
    """Validate a parsed TOML document and build the :class:`Recipe`."""
    recipe = validated(data, where)
    recipe._text, recipe._path = text, path
    return recipe


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe file."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"no such recipe: {path}")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: invalid TOML: {exc}") from None
    return parse_recipe(data, where=str(path), text=text, path=str(path))


# --- overrides ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Override:
    """A setting ``builder build`` can override: its key (the CLI's parameter name), flag, place and type."""

    key: str
    flag: str
    section: str  # "" for a top-level setting, "sources" for every source
    field: str
    type: type
    help: str


def override_fields() -> list[Override]:
    """Every setting whose field declares a flag, in declaration order."""
    out: list[Override] = []
    tables: list[tuple[str, type[BaseModel]]] = [("", Recipe), ("sources", SourceSettings), *SECTIONS.items()]
    for section, model in tables:
        for name, field in model.model_fields.items():
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
            if "flag" not in extra:
                continue
            flag = str(extra["flag"])
            kinds = [t for t in (field.annotation, *get_args(field.annotation)) if t in (int, float, str)]
            where = "every source's " + name if section == "sources" else ".".join(x for x in (section, name) if x)
            help = f"Override {where}: {field.description or ''}."
            out.append(Override(flag.lstrip("-").replace("-", "_"), flag, section, name, kinds[0] if kinds else str, help))
    return out


def as_data(model: BaseModel) -> dict[str, Any]:
    """A settings model as recipe data: only what is set, no nulls or empty tables (the way a recipe is written)."""
    out: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out[name] = as_data(value)
        elif isinstance(value, tuple):
            out[name] = [as_data(v) if isinstance(v, BaseModel) else v for v in value]
        elif value is not None and value != {}:
            out[name] = value
    if isinstance(model, Recipe) and model.prompt.system is None:
        out["prompt"]["system"] = ""
    return out


def apply_overrides(recipe: Recipe, overrides: Mapping[str, Any]) -> tuple[Recipe, list[str]]:
    """The recipe with command-line values applied (``None`` values are ignored), and one note per override.

    The returned recipe's ``text`` is the effective recipe as TOML (a header names the overrides), so the build's
    metadata records exactly what ran.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return recipe, []
    known = {o.key: o for o in override_fields()}
    data = as_data(recipe)
    notes: list[str] = []
    for key, value in given.items():
        if key not in known:
            raise ValueError(f"unknown override {key}")
        o = known[key]
        if o.section == "":
            old = data.get(o.field)
            data[o.field] = value
        elif o.section == "sources":
            olds = [src.get(o.field) for src in data["sources"]]
            old = olds[0] if len(set(map(repr, olds))) == 1 else olds
            for src in data["sources"]:
                src[o.field] = value
        else:
            old = data.setdefault(o.section, {}).get(o.field)
            data[o.section][o.field] = value
        shown = "(not set)" if old is None else _show(old)
        notes.append(f"note: {o.flag} overrides recipe value {shown} -> {_show(value)}")
    header = f"# {recipe.path or 'recipe'} with command-line overrides: " + ", ".join(
        f"{known[k].flag} {_show(v)}" for k, v in given.items()
    )
    text = header + "\n" + to_toml(data)
    return parse_recipe(data, where=f"{recipe.path or 'recipe'} (with overrides)", text=text, path=recipe.path), notes


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def to_toml(data: Mapping[str, Any]) -> str:
    """TOML text for recipe data (``tomli_w``)."""
    import tomli_w

    return tomli_w.dumps(dict(data))


# --- the recipes that ship with builder ----------------------------------------------------------------------------


def recipe_folders() -> list[Path]:
    """Where shipped recipes are: ``recipes/`` of the checkout builder runs from, and of the current directory."""
    folders = [Path(__file__).resolve().parents[2] / "recipes", Path.cwd() / "recipes"]
    out: list[Path] = []
    for folder in folders:
        if folder.is_dir() and all(folder.resolve() != f.resolve() for f in out):
            out.append(folder)
    return out


def describe_recipe(path: Path) -> str:
    """One line about a recipe file: its path, what it builds and from what (or why it does not load)."""
    shown = os.path.relpath(path) if not os.path.relpath(path).startswith("..") else str(path)
    comment = next((ln.lstrip("#").strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.startswith("#")), "")
    try:
        recipe = load_recipe(path)
    except UserError as exc:
        return f"{shown}: does not load: {exc.format_message()}"
    sources = ", ".join(s.kind + (f" {s.subset}" if s.subset else "") for s in recipe.sources)
    about = f" ({comment})" if comment else ""
    return (
        f"{shown}: dataset {recipe.name}{about}; sources: {sources}; model {recipe.model.path} "
        f"({recipe.model.backend}), n {recipe.sampling.n}"
    )


def shipped_recipes() -> list[str]:
    """One line per shipped recipe (:func:`describe_recipe`)."""
    return [describe_recipe(path) for folder in recipe_folders() for path in sorted(folder.glob("*.toml"))]


__all__ = [
    "Override", "Recipe", "Settings", "apply_overrides", "describe_recipe", "load_recipe", "override_fields", "parse_recipe",
    "shipped_recipes", "to_toml",
]
