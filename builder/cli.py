"""The `builder` command line: one Click group; each command is thin and calls stage functions."""

from __future__ import annotations

import click

from builder import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="builder")
def cli() -> None:
    """Build execution-verified code-reasoning datasets (SFT + DPO) on the Hugging Face stack."""


# --- commands are registered below; keep each one thin ---------------------------------------


@cli.command()
@click.option("--problems", "problems_spec", required=True, help="Problems: .jsonl/.parquet file, dataset folder or Hub id.")
@click.option("--candidates", "candidates_spec", required=True, help="Candidates with candidate_id, problem_id and response or solution.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Verdicts file: .parquet or .jsonl.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 256), help="Parallel worker processes.")
@click.option("--time-limit", default=10.0, show_default=True, type=click.FloatRange(0.1, 3600), help="CPU seconds per test for problems that state no time limit (with --limits cap: also the cap; flat: every problem's).")
@click.option("--memory-limit", default=1024, show_default=True, type=click.IntRange(16, 1 << 20), help="Memory per test, MB, for problems that state no memory limit (with --limits cap: also the cap; flat: every problem's).")
@click.option("--limits", "limits_mode", default="own", show_default=True, type=click.Choice(["own", "cap", "flat"]), help="own: each problem's own limits; cap: capped at --time-limit/--memory-limit; flat: those values for every problem.")
@click.option("--run-all-tests", is_flag=True, help="Keep running a candidate's tests after a timeout or memory failure.")
@click.option("--sandbox", "sandbox_kind", default="auto", show_default=True, type=click.Choice(["auto", "forkserver", "spawn"]))
@click.option("--allow-unsandboxed", is_flag=True, help="Run untrusted code even where no isolation is available.")
@click.option("--split", default="train", show_default=True, help="Split to read from folders and Hub ids.")
def verify(
    problems_spec: str,
    candidates_spec: str,
    out: str,
    workers: int,
    time_limit: float,
    memory_limit: int,
    limits_mode: str,
    run_all_tests: bool,
    sandbox_kind: str,
    allow_unsandboxed: bool,
    split: str,
) -> None:
    """Extract, execute and judge candidate solutions against problems with tests."""
    from builder.judge.execute import ExecutionConfig
    from builder.verify import summary_lines, verify as run_verify

    config = ExecutionConfig(
        time_limit_s=time_limit,
        memory_limit_mb=memory_limit,
        limits=limits_mode,
        stop_on_timeout=not run_all_tests,
        sandbox=sandbox_kind,
        allow_unsandboxed=allow_unsandboxed,
    )
    report = run_verify(problems_spec, candidates_spec, out, config, workers=workers, split=split)
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
    from builder.core.errors import UserError

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
@click.option("--sandbox", "sandbox_kind", default="auto", show_default=True, type=click.Choice(["auto", "forkserver", "spawn"]))
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
@click.option("--name", default=None, help="Override the recipe's name (the dist/<name>/ folder).")
@click.option("--seed", default=None, type=click.IntRange(0, 2**63 - 1), help="Override the recipe's seed.")
@click.option("--model", default=None, help="Override model.path (HF id or local folder).")
@click.option("--backend", default=None, type=click.Choice(["vllm", "openai"]), help="Override model.backend.")
@click.option("--base-url", default=None, help="Override model.base_url (openai backend).")
@click.option("--tensor-parallel-size", default=None, type=click.IntRange(1, 1024), help="Override model.tensor_parallel_size.")
@click.option("--data-parallel-size", default=None, type=click.IntRange(1, 1024), help="Override model.data_parallel_size.")
@click.option("--n", default=None, type=click.IntRange(1, 1024), help="Override sampling.n (samples per problem).")
@click.option("--temperature", default=None, type=click.FloatRange(0.0), help="Override sampling.temperature.")
@click.option("--max-tokens", default=None, type=click.IntRange(1), help="Override sampling.max_tokens.")
@click.option("--chunk-size", default=None, type=click.IntRange(1), help="Override generation.chunk_size.")
@click.option("--workers", default=None, type=click.IntRange(1, 1024), help="Override execution.workers.")
@click.option("--limit", default=None, type=click.IntRange(1), help="Override every source's limit (first N problems).")
@click.option("--dist-dir", default="dist", show_default=True, type=click.Path(file_okay=False), help="Where dist/<name>/ goes.")
@click.option("--work-dir", default="work", show_default=True, type=click.Path(file_okay=False), help="Where caches (work/<name>/) go.")
def build_command(recipe_path: str, dist_dir: str, work_dir: str, **overrides: object) -> None:
    """Build a dataset from a recipe: load problems, sample with vLLM, extract, execute, judge, write dist/<name>/."""
    from builder.pipeline import build
    from builder.recipe import apply_overrides, load_recipe

    recipe, notes = apply_overrides(load_recipe(recipe_path), overrides)
    for note in notes:
        click.echo(note, err=True)
    result = build(recipe, dist_root=dist_dir, work_root=work_dir, echo=lambda line: click.echo(line, err=True))
    for verdict, count in sorted(result.verdicts.items(), key=lambda kv: (-kv[1], kv[0])):
        click.echo(f"{verdict:>15} {count}")
    if result.meta.get("limits"):
        from builder.judge.execute import limits_line

        click.echo(limits_line(result.meta["limits"]))
    if result.quarantined:
        click.echo(f"quarantined {result.quarantined} problem rows: {result.quarantine_path}")
    click.echo(f"wrote {result.candidates} judged candidates for {result.problems} problems to {result.dist_dir}")


@cli.command("problems")
@click.option("--source", "kind", required=True, type=click.Choice(["local", "codeforces", "deepcoder", "taco", "apps", "code_contests", "livecodebench", "kodcode"]), help="Upstream format.")
@click.option("--path", default=None, help="Hub id or local file/folder [default: the kind's Hub id].")
@click.option("--subset", default=None, help="Subset/config (deepcoder: primeintellect|taco|lcbv5|codeforces; livecodebench: release_v5, v6, ...).")
@click.option("--split", default=None, help="Split [default: the source's usual one].")
@click.option("--limit", default=None, type=click.IntRange(0), help="Only the first N upstream rows.")
@click.option("--max-tests", default=None, type=click.IntRange(1), help="Cap on tests per problem.")
@click.option("--dedup/--no-dedup", default=True, show_default=True, help="Merge problems whose normalized statements are equal.")
@click.option("--benchmark", default=None, type=click.Path(dir_okay=False), help="Normalized benchmark problems (e.g. the lcb pack) to decontaminate against.")
@click.option("--threshold", default=None, type=click.FloatRange(0.0, 1.0, min_open=True), help="Cosine similarity at which a problem is dropped [default: 0.9].")
@click.option("--num-proc", default=None, type=click.IntRange(1, 256), help="Processes for normalization.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Normalized problems: .jsonl or .parquet.")
def problems_command(kind: str, path: str | None, subset: str | None, split: str | None, limit: int | None, max_tests: int | None, dedup: bool, benchmark: str | None, threshold: float | None, num_proc: int | None, out: str) -> None:
    """Load one source, normalize it into the problem schema and write it (input for `builder verify`)."""
    from pathlib import Path

    from builder.core.tables import write_table
    from builder.problems.stage import collect_problems

    spec = {"kind": kind, "path": path, "subset": subset, "split": split, "limit": limit, "max_tests": max_tests}
    collected = collect_problems([spec], dedup=dedup, benchmark=benchmark, threshold=threshold, num_proc=num_proc)
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
