"""Checks shared by the commands: the allowed range of each numeric option, declared where the
option is added and checked before the command starts any work, and named input files.

A number out of range is one line naming the option and its range (``--conf 5.0 is out of
range: it must be from 0 to 1``), never a run that silently does something else.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nanodet_plus.errors import FileMissingError, UsageError

BOUNDS_KEY = "_option_bounds"
MAX_IMAGE_SIDE = 4096
MAX_SEED = 2**32 - 1


def _number(value: float) -> str:
    """``5``, ``0.35``, ``4294967295`` or ``nan``: as typed, without a float's ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Bounds:
    """The values a numeric option accepts: ``low`` to ``high`` (inclusive, either may be
    open) and, when set, only multiples of ``multiple_of``."""

    flag: str
    low: float | None = None
    high: float | None = None
    multiple_of: int | None = None

    def rule(self, plural: bool = False) -> str:
        """The allowed values in words, e.g. ``from 0 to 1``, ``at least 1`` or (``plural``)
        ``multiples of 32 from 32 to 4096``."""
        if self.low is not None and self.high is not None:
            span = f"from {_number(self.low)} to {_number(self.high)}"
        elif self.low is not None:
            span = f"at least {_number(self.low)}"
        elif self.high is not None:
            span = f"at most {_number(self.high)}"
        else:
            span = "a finite number"
        if not self.multiple_of:
            return span
        return f"{'multiples' if plural else 'a multiple'} of {self.multiple_of} {span}"

    def accepts(self, value: float) -> bool:
        """Whether one value is allowed (NaN and infinities never are)."""
        if not math.isfinite(value):
            return False
        if self.low is not None and not value >= self.low:
            return False
        if self.high is not None and not value <= self.high:
            return False
        return not (self.multiple_of and value % self.multiple_of)

    def check(self, value: Any) -> None:
        """Raise a UsageError naming the option and its range when ``value`` is outside it
        (``None``, an option left out, is always fine)."""
        if value is None:
            return
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if all(self.accepts(v) for v in values):
            return
        shown = " ".join(_number(v) for v in values)
        subject = {1: "it", 2: "both"}.get(len(values), f"all {len(values)}")
        raise UsageError(f"{self.flag} {shown} is out of range: {subject} must be "
                         f"{self.rule(plural=len(values) > 1)}")


def add_number(
    parser: argparse.ArgumentParser,
    *flags: str,
    low: float | None = None,
    high: float | None = None,
    multiple_of: int | None = None,
    **kwargs: Any,
) -> argparse.Action:
    """``parser.add_argument`` for an int or float option, recording its allowed range so that
    :func:`check_numbers` refuses a value outside it before the command runs."""
    action = parser.add_argument(*flags, **kwargs)
    if action.type not in (int, float):
        raise TypeError(f"{flags[0]}: add_number is for int and float options")
    bounds = dict(parser.get_default(BOUNDS_KEY) or {})
    bounds[action.dest] = Bounds(flags[0], low, high, multiple_of)
    parser.set_defaults(**{BOUNDS_KEY: bounds})
    return action


def add_image_size(parser: argparse.ArgumentParser, help: str) -> argparse.Action:
    """The ``--imgsz W H`` option every model command shares: multiples of 32 up to 4096."""
    return add_number(parser, "--imgsz", nargs=2, type=int, metavar=("W", "H"), help=help,
                      low=32, high=MAX_IMAGE_SIDE, multiple_of=32)


def add_precision(parser: argparse.ArgumentParser) -> argparse.Action:
    """``--precision auto|fp32|bf16`` of the commands that run a model (predict, val)."""
    return parser.add_argument(
        "--precision", choices=("auto", "fp32", "bf16"), default="auto",
        help="auto: exported ONNX/OpenVINO models run bf16 (via OpenVINO) where the CPU has it "
        "natively and the outputs pass a check, checkpoints run BatchNorm-folded and "
        "channels-last on the CPU; fp32: the model exactly as trained",
    )


def check_numbers(args: argparse.Namespace) -> None:
    """Check every numeric option of the parsed command against its declared range."""
    for dest, bounds in (getattr(args, BOUNDS_KEY, None) or {}).items():
        bounds.check(getattr(args, dest, None))


def declared_bounds(parser: argparse.ArgumentParser) -> dict[str, Bounds]:
    """The ranges declared on one (sub)command parser, by option destination."""
    return dict(parser.get_default(BOUNDS_KEY) or {})


def input_file(path: str | Path, what: str) -> Path:
    """``path`` as a Path when it is an existing file; a one-line error naming it when it is
    missing or a folder. ``what`` names the expected file, e.g. ``weights file``."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise UsageError(f"{path} is a folder, not a {what}")
    if not path.is_file():
        raise FileMissingError(f"{path}: {what} not found")
    return path


def all_parsers(parser: argparse.ArgumentParser,
                prefix: Sequence[str] = ()) -> list[tuple[str, argparse.ArgumentParser]]:
    """``parser`` and every (sub)command parser under it with its command words, e.g.
    ``("", nanodet)``, ``("data", ...)``, ``("data check", ...)``, parents before children."""
    found = [(" ".join(prefix), parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += all_parsers(child, (*prefix, name))
    return found


def command_parsers(parser: argparse.ArgumentParser,
                    prefix: Sequence[str] = ()) -> list[tuple[str, argparse.ArgumentParser]]:
    """Every leaf (sub)command parser under ``parser`` with its command words, e.g.
    ``("data check", parser)``: what a test walks to see that each option is checked."""
    return [(words, child) for words, child in all_parsers(parser, prefix)
            if not any(isinstance(action, argparse._SubParsersAction)
                       for action in child._actions)]
