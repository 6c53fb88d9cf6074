"""``nanodet config``: convert official NanoDet-Plus YAML configs and show resolved configs."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="convert or show configs")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    convert = actions.add_parser(
        "convert", help="translate an official NanoDet-Plus YAML config into this project's schema"
    )
    convert.add_argument("source", help="official config, e.g. nanodet-plus-m_416.yml")
    convert.add_argument("output", help="where to write the translated config (YAML)")
    convert.add_argument("--force", action="store_true", help="replace an existing output")
    convert.set_defaults(func=run)
    show = actions.add_parser("show", help="print the fully resolved config")
    show.add_argument("source", help="preset name or YAML file (ours or official)")
    show.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.epochs=50")
    show.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nanodet_plus.config.loader import load_config, save_config, to_dict
    from nanodet_plus.errors import UsageError
    from nanodet_plus.utils.files import refuse_to_replace

    if args.action == "convert":
        output = Path(args.output)
        if output.exists() and output.resolve() == Path(args.source).resolve():
            raise UsageError(f"{output} is the source config itself; write the translation "
                             "to another file")
        refuse_to_replace(output, allowed=args.force)
        config = load_config(args.source)
        save_config(config, output)
        print(f"wrote {output}")
        return 0
    config = load_config(args.source, list(args.overrides))
    print(yaml.safe_dump(to_dict(config), sort_keys=False), end="")
    return 0
