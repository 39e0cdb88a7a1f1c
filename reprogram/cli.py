"""The `reprogram` command: one entry point for local engine commands and (later) the service."""

from __future__ import annotations

import argparse
import sys

from reprogram import __version__


def build_parser() -> argparse.ArgumentParser:
    """All subcommands; each imports its heavy dependencies only when it runs."""
    parser = argparse.ArgumentParser(
        prog="reprogram",
        description="Repurpose pretrained image classifiers without changing their weights.",
    )
    parser.add_argument("--version", action="version", version=f"reprogram {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from reprogram import engine_commands, server_commands

    engine_commands.add_parsers(sub)
    server_commands.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the chosen command."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
