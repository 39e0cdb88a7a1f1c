"""The `reprogram` command: one entry point for the engine, the service and its clients."""

from __future__ import annotations

import argparse
import sys

from reprogram import __version__


def build_parser() -> argparse.ArgumentParser:
    """All subcommands; each imports its heavy dependencies only when it runs."""
    from reprogram import engine_commands, server_commands
    from reprogram.commands import exits, parsers

    parser = argparse.ArgumentParser(
        prog="reprogram",
        description="Repurpose pretrained image classifiers without changing their weights.",
        epilog=exits.EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"reprogram {__version__}")
    parsers.add_global_options(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    engine_commands.add_parsers(sub)
    server_commands.add_parsers(sub)
    parsers.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the chosen command."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
