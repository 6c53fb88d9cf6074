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
from nanodet_plus.cli.options import check_numbers
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


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv``, accepting options and positionals (``key=value`` overrides, sources) in
    any order within a command: ``nanodet train my.yaml --nproc 2 train.epochs=5``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args, extras = parser.parse_known_args(argv)
    if not extras:
        return args
    command_parser, command_argv = _command_parser(parser, argv)
    if command_parser is parser:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    for key, value in vars(command_parser.parse_intermixed_args(command_argv)).items():
        setattr(args, key, value)
    return args


def _command_parser(
    parser: argparse.ArgumentParser, argv: list[str]
) -> tuple[argparse.ArgumentParser, list[str]]:
    """The innermost (sub)command parser that ``argv`` names, and the arguments after it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for index, token in enumerate(argv):
                if token in action.choices:
                    return _command_parser(action.choices[token], argv[index + 1 :])
    return parser, argv


def main(argv: list[str] | None = None) -> int:
    """Run one ``nanodet`` command and return its exit status; a user error (a NanoDetError, or
    an OS error about a missing file) is printed as one line and gives 1. Numeric options are
    range-checked first, before the command does any work."""
    parser = build_parser()
    args = parse_args(parser, argv)
    setup_logging(getattr(args, "verbose", False))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        check_numbers(args)
        result = args.func(args)
    except (NanoDetError, FileNotFoundError) as exc:
        action = getattr(args, "data_command", None) or getattr(args, "action", None)
        command = f"{args.command} {action}" if action else args.command
        print(f"nanodet {command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        logging.getLogger("nanodet_plus").warning("interrupted")
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
