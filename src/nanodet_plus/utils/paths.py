"""Run folders that never overwrite earlier results."""

from __future__ import annotations

from pathlib import Path


def increment_path(root: str | Path, name: str = "exp", *, exist_ok: bool = False) -> Path:
    """Return ``root/name``, or ``root/name2``, ``root/name3``... if it already exists.

    The folder is created. With ``exist_ok`` the plain ``root/name`` is reused.
    """
    root = Path(root)
    candidate = root / name
    if not exist_ok:
        index = 2
        while candidate.exists():
            candidate = root / f"{name}{index}"
            index += 1
    candidate.mkdir(parents=True, exist_ok=True)
    return candidate
