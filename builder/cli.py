"""The `builder` command line: one Click group; each command is thin and calls stage functions.

The library knows nothing of Click: a :class:`builder.core.errors.UserError` it raises becomes one line and exit code
2 here. Options that set a run's settings take their type, bounds, choices, default and help from the settings'
declarations (:mod:`builder.core.settings`), never from a second spelling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from annotated_types import Ge, Gt, Le, Lt

from builder import __version__
from builder.core.errors import UserError
from builder.core.settings import ExecutionSettings, ProblemsSettings
from builder.problems.sources import KINDS


class _UserErrorExit(click.ClickException):
    exit_code = 2


class BuilderGroup(click.Group):
    """Turns the library's :class:`UserError` into Click's one-line error with exit code 2; lists commands with their
    whole first line of help (Click would cut it with "..." to fit one terminal line)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            raise _UserErrorExit(exc.format_message()) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.short_help or (command.help or "").strip().split("\n\n")[0].replace("\n", " ")))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def setting_type(model: Any, name: str) -> click.ParamType | type:
    """The Click type of a settings field: a choice, a bounded int/float range, or text."""
    field = model.model_fields[name]
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if "choices" in extra:
        return click.Choice(list(extra["choices"]))
    kinds = [t for t in (field.annotation, *getattr(field.annotation, "__args__", ())) if t in (int, float, str)]
    kind = kinds[0] if kinds else str
    lo = hi = None
    lo_open = hi_open = False
    for meta in field.metadata:
        if isinstance(meta, Ge):
            lo = meta.ge
        elif isinstance(meta, Gt):
            lo, lo_open = meta.gt, True
        elif isinstance(meta, Le):
            hi = meta.le
        elif isinstance(meta, Lt):
            hi, hi_open = meta.lt, True
    if kind is int:
        return click.IntRange(lo, hi)
    if kind is float:
        return click.FloatRange(lo, hi, min_open=lo_open, max_open=hi_open)
    return str


def setting_option(model: Any, name: str, flag: str, dest: str | None = None, **kwargs: Any) -> Callable[[Any], Any]:
    """A ``click.option`` for one settings field, with the field's type, default and help."""
    field = model.model_fields[name]
    kwargs.setdefault("default", field.default)
    kwargs.setdefault("show_default", True)
    text = field.description or ""
    kwargs.setdefault("help", (text[:1].upper() + text[1:]).rstrip(".") + ".")
    if field.annotation is bool:  # a switch: --flag sets it (None when absent, so a recipe's value stands)
        kwargs.pop("show_default", None)
        return click.option(flag, dest or name, is_flag=True, **kwargs)
    kwargs.setdefault("type", setting_type(model, name))
    return click.option(flag, dest or name, **kwargs)


def override_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``builder build``'s override options, one per settings field that declares a flag."""
    from builder.core.recipe import override_fields
    from builder.core.settings import SECTIONS, Recipe, SourceSettings

    models = {"": Recipe, "sources": SourceSettings, **SECTIONS}
    for o in reversed(override_fields()):
        func = setting_option(models[o.section], o.field, o.flag, o.key, default=None, show_default=False, help=o.help)(func)
    return func


@click.group(cls=BuilderGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="builder")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors and the closing summary.")
@click.option("-v", "--verbose", is_flag=True, help="Also show the libraries' own messages and progress bars (vLLM, datasets, transformers).")
def cli(quiet: bool, verbose: bool) -> None:
    """Build execution-verified code-reasoning datasets (SFT + DPO) on the Hugging Face stack."""
    if quiet and verbose:
        raise click.UsageError("-q and -v exclude each other")
    set_verbosity(0 if quiet else 2 if verbose else 1)


def set_verbosity(level: int) -> None:
    """How much a run prints: ``builder.core.progress.VERBOSITY`` (0 ``-q``, 1 default, 2 ``-v``), and
    ``BUILDER_VERBOSITY`` for processes a run starts."""
    import os

    from builder.core import progress

    progress.VERBOSITY = level
    os.environ["BUILDER_VERBOSITY"] = str(level)


# --- commands are registered below; keep each one thin ---------------------------------------


def _execution(func: Callable[..., Any]) -> Callable[..., Any]:
    E = ExecutionSettings
    for option in reversed([
        setting_option(E, "workers", "--workers"),
        setting_option(E, "time_limit_s", "--time-limit", "time_limit"),
        setting_option(E, "time_scale", "--time-scale", "time_scale"),
        setting_option(E, "memory_limit_mb", "--memory-limit", "memory_limit"),
        setting_option(E, "limits", "--limits", "limits_mode"),
        click.option("--run-all-tests", is_flag=True, help="Keep running a candidate's tests after a timeout or memory failure."),
        setting_option(E, "sandbox", "--sandbox", "sandbox_kind"),
        click.option("--allow-unsandboxed", is_flag=True, help=E.model_fields["allow_unsandboxed"].description.capitalize() + "."),
    ]):
        func = option(func)
    return func


@cli.command()
@click.option("--problems", "problems_spec", required=True, help="Problems: .jsonl/.parquet file, dataset folder or Hub id.")
@click.option("--candidates", "candidates_spec", required=True, help="Candidates with candidate_id, problem_id and response or solution.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Verdicts file: .parquet or .jsonl.")
@_execution
@click.option("--split", default="train", show_default=True, help="Split to read from folders and Hub ids.")
@click.option("--work-dir", default="work", show_default=True, type=click.Path(file_okay=False), help="Where finished verdict chunks are kept (work/verify/): the same command run again after a kill judges only the rest.")
def verify(
    problems_spec: str,
    candidates_spec: str,
    out: str,
    workers: int,
    time_limit: float,
    time_scale: float,
    memory_limit: int,
    limits_mode: str,
    run_all_tests: bool,
    sandbox_kind: str,
    allow_unsandboxed: bool,
    split: str,
    work_dir: str,
) -> None:
    """Extract, execute and judge candidate solutions against problems with tests."""
    from builder.verify import summary_lines
    from builder.verify import verify as run_verify

    config = ExecutionSettings(
        workers=workers,
        time_limit_s=time_limit,
        time_scale=time_scale,
        memory_limit_mb=memory_limit,
        limits=limits_mode,
        stop_on_timeout=not run_all_tests,
        sandbox=sandbox_kind,
        allow_unsandboxed=allow_unsandboxed,
    )
    report = run_verify(problems_spec, candidates_spec, out, config, split=split, work_dir=work_dir)
    for line in summary_lines(report):
        click.echo(line)
    click.echo(f"wrote {report.candidates} verdicts to {report.out}")


@cli.command()
@click.argument("dist", type=click.Path(file_okay=False))
@click.option("--check", is_flag=True, help="Only check: exit 1 when README.md or a chart is out of date (for CI).")
def card(dist: str, check: bool) -> None:
    """Re-render the statistics, charts and dataset card of DIST from its parquet files alone."""
    from pathlib import Path

    from builder.dataset.dist import check_card, render_card

    if not Path(dist).is_dir():
        raise UserError(f"no such dataset folder: {dist}")
    if check:
        stale = check_card(Path(dist))
        for line in stale:
            click.echo(line, err=True)
        if stale:
            raise click.exceptions.Exit(1)
        click.echo(f"{dist}: card and charts are up to date")
        return
    for rel in render_card(Path(dist)):
        click.echo(f"wrote {Path(dist) / rel}")


@cli.command("publish")
@click.argument("dist", type=click.Path(file_okay=False))
@click.option("--repo-id", required=True, help="Dataset repository on the Hub: USER/NAME or ORG/NAME.")
@click.option("--private", is_flag=True, help="Create the repository private (an existing one keeps its visibility).")
@click.option("--revision", default=None, help="Branch to commit to (created from main when missing) [default: main].")
@click.option("--create-pr", is_flag=True, help="Open a pull request with the commit instead of committing to the branch.")
@click.option("--message", default=None, help="Commit title [default: a summary: rows per config, model, recipe hash].")
@click.option("--dry-run", is_flag=True, help="Print what would be added, kept and deleted; upload nothing.")
def publish_command(
    dist: str, repo_id: str, private: bool, revision: str | None, create_pr: bool, message: str | None, dry_run: bool
) -> None:
    """Validate DIST and publish it to the Hub in one commit (token: HF_TOKEN or `hf auth login`)."""
    from builder.publish import publish

    publish(
        dist, repo_id, private=private, revision=revision, create_pr=create_pr, message=message, dry_run=dry_run,
        echo=click.echo,
    )


@cli.command("sandbox-check")
@setting_option(ExecutionSettings, "sandbox", "--sandbox", "sandbox_kind")
@click.option("--allow-unsandboxed", is_flag=True, help="Report (and probe) even where no isolation is available.")
@click.option("--probe/--no-probe", default=True, show_default=True, help="Run hostile probe programs (network, files, environment, limits).")
@click.option("--json", "as_json", is_flag=True, help="Print the sandbox description as JSON (what goes into build.json).")
def sandbox_check(sandbox_kind: str, allow_unsandboxed: bool, probe: bool, as_json: bool) -> None:
    """Print the isolation level the sandbox reaches on this machine; exit 1 if a probe gets through."""
    import json

    from builder.sandbox import make_sandbox
    from builder.sandbox.check import describe_lines, run_probes

    with make_sandbox(sandbox_kind, allow_unsandboxed=allow_unsandboxed) as sandbox:
        if as_json:
            click.echo(json.dumps(sandbox.describe(), indent=2, sort_keys=True))
        else:
            for line in describe_lines(sandbox):
                click.echo(line)
        failed = 0
        if probe:
            for result in run_probes(sandbox):
                failed += not result.ok
                click.echo(f"probe {result.name}: {'ok' if result.ok else 'FAILED'} ({result.detail})", err=as_json)
    if failed:
        raise SystemExit(1)


@cli.command("build")
@click.option("--recipe", "recipe_path", required=True, type=click.Path(dir_okay=False), help="Recipe TOML (e.g. recipes/demo.toml).")
@override_options
@click.option("--dist-dir", default="dist", show_default=True, type=click.Path(file_okay=False), help="Where dist/<name>/ goes.")
@click.option("--work-dir", default="work", show_default=True, type=click.Path(file_okay=False), help="Where caches (work/<name>/) go.")
@click.option("--dry-run", is_flag=True, help="Check everything up to the engine (recipe, problems, model path, sandbox), print the plan and the work it would take; start no engine, write nothing.")
def build_command(recipe_path: str, dist_dir: str, work_dir: str, dry_run: bool, **overrides: object) -> None:
    """Build a dataset from a recipe: load problems, sample with vLLM, extract, execute, judge, write dist/<name>/."""
    from pathlib import Path

    from builder.core.recipe import apply_overrides, load_recipe
    from builder.core.terminal import Interrupts, RunResources, run_output
    from builder.generate.backends import check_model
    from builder.pipeline import build, summary_lines

    recipe, notes = apply_overrides(load_recipe(recipe_path), overrides)
    for note in notes:
        click.echo(note, err=True)
    check_model(recipe.model)  # a missing model folder fails here, in one line, before anything loads or starts
    if dry_run:
        from builder.dry_run import dry_run as check_build

        for line in check_build(recipe).lines(dist_dir, work_dir):
            click.echo(line)
        return
    if recipe.engine.kind == "ray":  # the same stages as Ray Data operators on a Ray cluster
        from builder.ray_engine import build
    work = Path(work_dir) / recipe.name
    resources = RunResources(work)
    cleaned = resources.clean_after_dead_run()
    if cleaned:
        click.echo(f"removed {len(cleaned)} shared-memory files a killed run of {recipe.name} left behind", err=True)
    resources.start()
    log = work / "build.log"
    stopped = f"interrupted: finished chunks are kept in {work}; the same command continues from them"
    with Interrupts(stopped, cleanup=resources.finish) as interrupts:
        try:
            with run_output(log) as terminal:
                echo = lambda line: terminal.write(line + "\n")  # noqa: E731
                result = build(recipe, dist_root=dist_dir, work_root=work_dir, echo=echo, terminal=terminal, after_chunk=resources.update)
        except KeyboardInterrupt:
            resources.finish()
            interrupts.stop()
        except UserError:
            resources.finish()
            interrupts.leave(2)
            raise
        except Exception as exc:
            resources.finish()
            if interrupts.interrupted:  # a library turned the interrupt into an error of its own
                interrupts.stop()
            interrupts.leave(2)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise UserError(f"the build failed: {type(exc).__name__}: {first} (details: {log})") from exc
        resources.finish()
        interrupts.leave(0)
    for line in summary_lines(result):
        click.echo(line)
    click.echo(f"log of the libraries: {log}", err=True)


def _sentence(text: str | None) -> str:
    return (text or "")[:1].upper() + (text or "")[1:]


@cli.command("recipes")
def recipes_command() -> None:
    """List the recipes that ship with builder (recipes/*.toml): what each builds, from what, with which model."""
    from builder.core.recipe import shipped_recipes

    found = shipped_recipes()
    if not found:
        raise UserError("no recipes found (they ship in the recipes/ folder of a checkout)")
    for line in found:
        click.echo(line)


@cli.command("problems")
@click.option("--source", "kind", required=True, type=click.Choice(sorted(KINDS)), help="Upstream format.")
@click.option("--path", default=None, help="Hub id or local file/folder [default: the kind's Hub id].")
@click.option("--subset", default=None, help="Subset/config (deepcoder: primeintellect|taco|lcbv5|codeforces; livecodebench: release_v5, v6, ...).")
@click.option("--split", default=None, help="Split [default: the source's usual one].")
@click.option("--limit", default=None, type=click.IntRange(0), help="Only the first N upstream rows.")
@click.option("--max-tests", default=None, type=click.IntRange(1), help="Cap on tests per problem.")
@click.option("--solutions", "solutions_file", default=None, type=click.Path(exists=True), help="Reference solutions of a local source (problem_id and code or solution, correct or label): for --validate.")
@click.option("--dedup/--no-dedup", default=ProblemsSettings().dedup, show_default=True, help=ProblemsSettings.model_fields["dedup"].description.capitalize() + ".")
@click.option("--near-dedup/--no-near-dedup", default=ProblemsSettings().near_dedup, show_default=True, help=_sentence(ProblemsSettings.model_fields["near_dedup"].description) + ".")
@setting_option(ProblemsSettings, "near_dedup_threshold", "--near-dedup-threshold")
@setting_option(ProblemsSettings, "benchmark", "--benchmark", type=str, multiple=True, default=(), show_default=False)
@click.option("--decontamination", "methods", multiple=True, type=click.Choice(["ngram", "embedding"]), help=_sentence(ProblemsSettings.model_fields["decontamination"].description) + " [default: both].")
@setting_option(ProblemsSettings, "ngram_threshold", "--ngram-threshold")
@setting_option(ProblemsSettings, "threshold", "--threshold")
@click.option("--statement-tolerance/--no-statement-tolerance", default=ProblemsSettings().statement_tolerance, show_default=True, help=_sentence(ProblemsSettings.model_fields["statement_tolerance"].description) + ".")
@click.option("--validate/--no-validate", "validation", default=ProblemsSettings().validation, show_default=True, help=_sentence(ProblemsSettings.model_fields["validation"].description) + ".")
@setting_option(ProblemsSettings, "references", "--references")
@setting_option(ExecutionSettings, "workers", "--workers")
@click.option("--num-proc", default=None, type=click.IntRange(1, 256), help="Processes for normalization.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Normalized problems: .jsonl or .parquet.")
def problems_command(kind: str, path: str | None, subset: str | None, split: str | None, limit: int | None, max_tests: int | None, solutions_file: str | None, dedup: bool, near_dedup: bool, near_dedup_threshold: float, benchmark: tuple[str, ...], methods: tuple[str, ...], ngram_threshold: float, threshold: float, statement_tolerance: bool, validation: bool, references: int, workers: int, num_proc: int | None, out: str) -> None:
    """Load one source, normalize it into the problem schema and write it (input for `builder verify`).

    The same problems stage as a build's (``[problems]`` in a recipe): ids unique, deduplication, near-duplicates,
    decontamination, tolerances from statements, reference-solution validation.
    """
    from pathlib import Path

    from builder.core.settings import SourceSettings
    from builder.core.tables import write_table
    from builder.problems.stage import collect_problems

    options: dict[str, object] = {k: v for k, v in (("limit", limit), ("max_tests", max_tests)) if v is not None}
    if not (path or KINDS[kind][1]):
        raise UserError(f"--source {kind} needs --path (a file or folder of problems)")
    if solutions_file is not None:
        if kind != "local":
            raise UserError(f"--solutions is for local sources; {kind} ships its own reference solutions")
        options["solutions"] = solutions_file
    source = SourceSettings(kind=kind, path=path or KINDS[kind][1], subset=subset, split=split, options=options)
    settings = ProblemsSettings(
        dedup=dedup, near_dedup=near_dedup, near_dedup_threshold=near_dedup_threshold, benchmark=benchmark,
        decontamination=methods or ProblemsSettings().decontamination, ngram_threshold=ngram_threshold,
        threshold=threshold, statement_tolerance=statement_tolerance, validation=validation, references=references,
    )
    collected = collect_problems([source], settings, num_proc=num_proc, execution=ExecutionSettings(workers=workers))
    written = write_table(collected.problems, out)
    for line in collected.summary_lines():
        click.echo(line)
    if len(collected.quarantine):
        qpath = Path(out).with_name(Path(out).stem + ".quarantine.jsonl")
        write_table(collected.quarantine, qpath)
        click.echo(f"quarantined rows with reasons -> {qpath}")
    if collected.solutions is not None and len(collected.solutions):
        spath = Path(out).with_name(Path(out).stem + ".solutions.parquet")
        write_table(collected.solutions, spath)
        click.echo(f"reference solutions by problem_id -> {spath}")
    click.echo(f"wrote {len(collected.problems)} problems to {written}")


def main() -> None:
    cli(prog_name="builder")


if __name__ == "__main__":
    main()
