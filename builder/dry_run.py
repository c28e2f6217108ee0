"""``builder build --dry-run``: everything a build checks before it starts the engine, and the work it would do.

It validates the recipe (already done by loading it), loads and counts the problems (the problems stage, without
reference-solution validation, which runs code), checks the model path (:func:`builder.generate.backends.check_model`)
and that the sandbox can run untrusted code here (the isolation level a build would record), and prints the plan:
where the model comes from, the sampling, the problems per source, and the candidates, chunks, test runs and sampled
tokens it would take at most. Nothing is generated, executed or written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from builder.core.settings import Recipe


@dataclass
class DryRun:
    recipe: Recipe
    model: str
    sandbox: str
    problems: int
    quarantined: int
    tests: int
    source_lines: list[str] = field(default_factory=list)

    @property
    def candidates(self) -> int:
        return self.problems * self.recipe.sampling.n * len(self.recipe.generation.languages)

    @property
    def chunks(self) -> int:
        return math.ceil(self.problems / self.recipe.generation.chunk_size) if self.problems else 0

    def lines(self, dist_root: str = "dist", work_root: str = "work") -> list[str]:
        r, s = self.recipe, self.recipe.sampling
        top_k = "off" if s.top_k in (-1, 0) else str(s.top_k)
        return [
            f"recipe {r.path or r.name}: valid (dataset {r.name}, seed {r.seed})",
            f"model: {self.model} (backend {r.model.backend})",
            f"sampling: n {s.n}, temperature {s.temperature:g}, top_p {s.top_p:g}, top_k {top_k}, max_tokens {s.max_tokens}",
            *(f"problems: {line}" for line in self.source_lines),
            f"sandbox: {self.sandbox}",
            f"work: {self.problems} problems x {s.n} samples = {self.candidates} candidates in {self.chunks} "
            f"chunk{'s' if self.chunks != 1 else ''} of up to {r.generation.chunk_size} problems; at most "
            f"{self.tests * s.n} test runs ({self.tests} tests x {s.n}) and {self.candidates * s.max_tokens} sampled tokens",
            f"output: {dist_root}/{r.name}/ (caches in {work_root}/{r.name}/)",
            "dry run: no engine started, nothing generated, executed or written",
        ]


def sandbox_level(recipe: Recipe) -> str:
    """The isolation the build's sandbox reaches here (the same refusal as a build when there is none)."""
    from builder.sandbox import make_sandbox

    execution = recipe.execution
    with make_sandbox(execution.sandbox, allow_unsandboxed=execution.allow_unsandboxed) as sandbox:
        info = sandbox.describe()
    level = info.get("tier_name") or info.get("level") or info.get("executor") or "unknown"
    return f"{info.get('executor', execution.sandbox)}, {level}"


def dry_run(recipe: Recipe) -> DryRun:
    """Check a recipe as a build would, up to the engine; raises :class:`~builder.core.errors.UserError` on a problem."""
    from builder.generate.backends import check_model
    from builder.problems.stage import collect_problems

    from builder.core import progress

    model = check_model(recipe.model)
    if progress.VERBOSITY < 2:  # the plan is the output; the problems stage's per-step bars are noise here
        import datasets

        datasets.disable_progress_bars()
    settings = recipe.problems.model_copy(update={"validation": False}) if "validation" in type(recipe.problems).model_fields else recipe.problems
    collected = collect_problems(recipe.sources, settings)
    tests = 0
    if len(collected.problems):
        import pyarrow.compute as pc

        tests = int(pc.sum(pc.list_value_length(collected.problems.with_format("arrow")["tests"])).as_py() or 0)
    sandbox = sandbox_level(recipe)
    return DryRun(
        recipe=recipe, model=model, sandbox=sandbox, problems=len(collected.problems), quarantined=len(collected.quarantine),
        tests=tests, source_lines=collected.summary_lines(),
    )
