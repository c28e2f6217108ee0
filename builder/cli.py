"""The `builder` command line: one Click group; each command is thin and calls stage functions."""

from __future__ import annotations

import click

from builder import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="builder")
def cli() -> None:
    """Build execution-verified code-reasoning datasets (SFT + DPO) on the Hugging Face stack."""


# --- commands are registered below; keep each one thin ---------------------------------------


def main() -> None:
    cli(prog_name="builder")


if __name__ == "__main__":
    main()
