"""Errors of export and the optional runtimes, and the lazy import that names the pip extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from nanodet_plus.errors import NanoDetError


class ExportError(NanoDetError, ValueError):
    """An export cannot be done or failed its check; the message says what to do."""


class MissingDependencyError(NanoDetError, ImportError):
    """An optional runtime package is not installed; the message names the pip extra."""


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming ``nanodet-plus[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{module} is not installed; run: pip install 'nanodet-plus[{extra}]'"
        ) from exc
