"""Run folders that never overwrite earlier results."""

from __future__ import annotations

from pathlib import Path


def check_project_folder(root: str | Path) -> Path:
    """``root`` as a Path; a UsageError when it, or a folder above it, is a file."""
    from nanodet_plus.errors import UsageError

    root = Path(root)
    for folder in (root, *root.parents):
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"project folder {root}: {folder} is a file, not a folder")
    return root


def increment_path(
    root: str | Path, name: str = "exp", *, exist_ok: bool = False, mkdir: bool = True
) -> Path:
    """Return ``root/name``, or ``root/name2``, ``root/name3``... if it already exists.

    The folder is created unless ``mkdir=False`` (a command that may end with nothing to
    write creates it with its first file). With ``exist_ok`` the plain ``root/name`` is reused.
    """
    from nanodet_plus.errors import UsageError

    root = check_project_folder(root)
    candidate = root / name
    if candidate.exists() and not candidate.is_dir():
        raise UsageError(f"run folder {candidate} is a file, not a folder; choose another name")
    if not exist_ok:
        index = 2
        while candidate.exists():
            candidate = root / f"{name}{index}"
            index += 1
    if mkdir:
        candidate.mkdir(parents=True, exist_ok=True)
    return candidate
