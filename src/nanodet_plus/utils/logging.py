"""Logging set-up for the command line; library code only calls ``logging.getLogger``."""

from __future__ import annotations

import logging
import sys


def setup_logging(verbose: bool = False) -> None:
    """Send ``nanodet_plus`` log records to stderr as one short line each."""
    logger = logging.getLogger("nanodet_plus")
    if any(getattr(h, "_nanodet", False) for h in logger.handlers):
        logger.setLevel(logging.DEBUG if verbose else logging.INFO)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler._nanodet = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
