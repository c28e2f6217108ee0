"""Per-test limits: how a problem's own time and memory limits and the run's settings combine, and how often each
origin occurred (for the summaries, ``build.json`` and the card).

``ExecutionSettings.limits`` (the recipe's ``execution.limits``, ``builder verify --limits``):

- ``own`` (default): each problem's own limits; the configured values only fill in for a problem that states none;
- ``cap``: each problem's own limits, capped at the configured values (which also fill in);
- ``flat``: the configured values for every problem, whatever it states.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from builder.core.settings import LIMIT_MODES, ExecutionSettings
from builder.sandbox.base import Limits

if TYPE_CHECKING:  # the execution workers use this module without importing datasets
    from datasets import Dataset

#: How one problem's time or memory limit was decided: its own value, capped, a configured value where the problem
#: stated none, or a flat value that replaced a different own value.
LIMIT_ORIGINS = ("own", "capped", "defaulted", "overridden")


def _stated(value: Any) -> float | None:
    """A problem's own limit, or None when it states none (missing, zero, negative or not a finite number)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _resolve(stated: float | None, configured: float, mode: str) -> tuple[float, str]:
    """The limit that applies, and its origin (one of :data:`LIMIT_ORIGINS`)."""
    if mode not in LIMIT_MODES:
        raise ValueError(f"unknown limits mode {mode!r} ({', '.join(LIMIT_MODES)})")
    if stated is None:
        return configured, "defaulted"
    if mode == "own":
        return stated, "own"
    if mode == "cap":
        return (configured, "capped") if stated > configured else (stated, "own")
    return configured, "own" if stated == configured else "overridden"


def limit_origins(problem: Mapping[str, Any], config: ExecutionSettings) -> tuple[str, str]:
    """How the problem's time and memory limits were decided (each one of :data:`LIMIT_ORIGINS`)."""
    _, time_origin = _resolve(_stated(problem.get("time_limit")), config.time_limit_s, config.limits)
    _, memory_origin = _resolve(_stated(problem.get("memory_limit")), config.memory_limit_mb, config.limits)
    return time_origin, memory_origin


def limits_for(problem: Mapping[str, Any], config: ExecutionSettings) -> Limits:
    """The limits one problem's tests run under: see :data:`LIMIT_MODES`."""
    cpu, _ = _resolve(_stated(problem.get("time_limit")), config.time_limit_s, config.limits)
    memory, _ = _resolve(_stated(problem.get("memory_limit")), config.memory_limit_mb, config.limits)
    return Limits(cpu_s=cpu * config.time_scale, memory_mb=max(1, int(memory)), output_mb=config.output_limit_mb)


def limits_report(problems: Dataset | Iterable[Mapping[str, Any]], config: ExecutionSettings) -> dict[str, Any]:
    """The limits section of ``build.json`` and of the summaries: the mode, the configured values, and how many
    problems ran under their own time / memory limit, a capped one, a default (they stated none) or a flat value
    that replaced their own."""
    if hasattr(problems, "column_names"):  # a Dataset: only the two columns (not the tests)
        problems = (
            {"time_limit": t, "memory_limit": m} for t, m in zip(problems["time_limit"], problems["memory_limit"])
        )
    counts = {"time": dict.fromkeys(LIMIT_ORIGINS, 0), "memory": dict.fromkeys(LIMIT_ORIGINS, 0)}
    total = 0
    for problem in problems:
        time_origin, memory_origin = limit_origins(problem, config)
        counts["time"][time_origin] += 1
        counts["memory"][memory_origin] += 1
        total += 1
    return {
        "mode": config.limits,
        "time_limit_s": config.time_limit_s,
        "memory_limit_mb": config.memory_limit_mb,
        "problems": total,
        **counts,
        **({"time_scale": config.time_scale} if config.time_scale != 1.0 else {}),
    }


def limits_line(report: Mapping[str, Any]) -> str:
    """One summary line, e.g. ``limits (own; 10 s / 1024 MB where a problem states none), 42 problems: time 40 own,
    0 capped, 2 defaulted; memory 0 own, 0 capped, 42 defaulted``."""
    values = f"{report['time_limit_s']:g} s / {report['memory_limit_mb']} MB"
    where = {"own": "where a problem states none", "cap": "at most, and where a problem states none", "flat": "for every problem"}
    shown = ("own", "overridden", "defaulted") if report["mode"] == "flat" else ("own", "capped", "defaulted")
    parts = [f"{kind} " + ", ".join(f"{report[kind].get(o, 0)} {o}" for o in shown) for kind in ("time", "memory")]
    factor = report.get("time_scale") or 1.0  # absent, or None in a build.json record: 1
    scale = f"; every time limit x{factor:g}" if factor != 1.0 else ""
    return f"limits ({report['mode']}; {values} {where.get(report['mode'], '')}{scale}), {report['problems']} problems: " + "; ".join(parts)
