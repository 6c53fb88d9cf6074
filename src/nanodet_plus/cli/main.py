"""Entry point of the ``nanodet`` console script.

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` (which registers
the parser and sets ``func``) so that heavy imports happen only for the command that runs.
User errors (any :class:`~nanodet_plus.errors.NanoDetError`: bad configs, datasets, weights,
export options; missing files) print one line naming the file and exit 1, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from nanodet_plus import __version__
from nanodet_plus.errors import NanoDetError
from nanodet_plus.utils.logging import setup_logging

SUBCOMMANDS = (
    "predict",
    "info",
    "data",
    "val",
    "train",
    "export",
    "benchmark",
    "config",
    "demo",
)


class CliError(NanoDetError):
    """An error caused by the user's input; printed as one line without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nanodet",
        description="NanoDet-Plus: train, evaluate, run and export a fast anchor-free detector.",
    )
    parser.add_argument("--version", action="version", version=f"nanodet-plus {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"nanodet_plus.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"nanodet_plus.cli.{name}":
                continue
            raise
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "verbose", False))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except (NanoDetError, FileNotFoundError) as exc:
        print(f"nanodet {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        logging.getLogger("nanodet_plus").warning("interrupted")
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
