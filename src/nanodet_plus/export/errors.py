"""The error of a failed or impossible export."""

from __future__ import annotations

from nanodet_plus.errors import NanoDetError


class ExportError(NanoDetError, ValueError):
    """An export cannot be done or failed its check; the message says what to do."""
