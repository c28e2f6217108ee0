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
@click.option("--time-limit", default=10.0, show_default=True, type=click.FloatRange(0.1, 3600), help="Cap on each test's CPU seconds (a problem's own limit is used when smaller).")
@click.option("--memory-limit", default=1024, show_default=True, type=click.IntRange(16, 1 << 20), help="Cap on memory per test, MB.")
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
    run_all_tests: bool,
    sandbox_kind: str,
    allow_unsandboxed: bool,
    split: str,
) -> None:
    """Extract, execute and judge candidate solutions against problems with tests."""
    from builder.execute import ExecutionConfig
    from builder.verify import summary_lines, verify as run_verify

    config = ExecutionConfig(
        time_limit_s=time_limit,
        memory_limit_mb=memory_limit,
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

    from builder.dist import check_card, render_card
    from builder.errors import UserError

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


def main() -> None:
    cli(prog_name="builder")


if __name__ == "__main__":
    main()
