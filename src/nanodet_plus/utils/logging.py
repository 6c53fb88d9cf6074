"""Logging set-up for the command line; library code only calls ``logging.getLogger``."""

from __future__ import annotations

import logging
import sys


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record arrives, so that a process which
    replaces stderr (a notebook, a test runner) never logs into a closed stream."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it
        pass


def setup_logging(verbose: bool = False) -> None:
    """Send ``nanodet_plus`` log records to stderr as one short line each."""
    logger = logging.getLogger("nanodet_plus")
    if any(getattr(h, "_nanodet", False) for h in logger.handlers):
        logger.setLevel(logging.DEBUG if verbose else logging.INFO)
        return
    handler = _CurrentStderr()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler._nanodet = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
