"""Atomic file writes: readers see the old file or the complete new one, never a half-written one.

The data goes to a hidden temporary file in the target's folder, is flushed to disk, then
renamed over the target with ``os.replace`` (atomic on POSIX and Windows). If the writing
raises, the temporary file is removed and the old file is left as it was. Missing parent
folders are created. A new file gets the permissions of a plain ``open(path, "w")`` (0o666
less the umask); a replaced file keeps its permission bits.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal


def _create_temporary(path: Path) -> Path:
    """A new empty file with a unique hidden name beside ``path``."""
    while True:
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(handle)
        return tmp


def _keep_mode(path: Path, tmp: Path) -> None:
    """Give ``tmp`` the permission bits of ``path`` when it already exists."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    os.chmod(tmp, mode)


def _fsync(path: Path) -> None:
    handle = os.open(path, os.O_RDWR)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A temporary file renamed over ``path`` after the block, or removed if the block raises."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temporary(path)
    try:
        yield tmp
        _keep_mode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path for writers that need a file name; it replaces ``path`` when the block
    succeeds and is removed when it raises."""
    with _replacing(Path(path)) as tmp:
        yield tmp
        _fsync(tmp)


@contextlib.contextmanager
def atomic_write(
    path: str | Path,
    mode: Literal["w", "wb"] = "w",
    *,
    encoding: str | None = None,
    newline: str | None = None,
) -> Iterator[IO[Any]]:
    """An open text (``"w"``) or binary (``"wb"``) file whose content replaces ``path`` when
    the block succeeds; when it raises, ``path`` keeps its old content."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write opens files with mode 'w' or 'wb', not {mode!r}")
    with _replacing(Path(path)) as tmp, open(tmp, mode, encoding=encoding, newline=newline) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


def atomic_write_text(path: str | Path, text: str, *, encoding: str | None = None) -> Path:
    """Write ``text`` to ``path`` atomically and return ``path``."""
    with atomic_write(path, "w", encoding=encoding) as stream:
        stream.write(text)
    return Path(path)


def atomic_copy(source: str | Path, path: str | Path) -> Path:
    """Copy the file ``source`` to ``path`` atomically and return ``path``."""
    with atomic_path(path) as tmp:
        shutil.copyfile(source, tmp)
    return Path(path)


# ---------------------------------------------------------------- nothing a user owns is lost
OWNER_MARK = ".nanodet-owner"  # in folders a command made and may replace on a later run


def refuse_to_replace(path: str | Path, flag: str = "--force", *, allowed: bool = False,
                      kind: str = "file") -> Path:
    """``path`` when a ``kind`` ("file" or "folder") may be written there: it does not exist,
    or ``allowed`` (the user passed ``flag``) and it is the same kind. Otherwise a UsageError
    naming the path and the flag; a folder where a file goes is refused even with the flag."""
    from nanodet_plus.errors import UsageError

    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return path
    is_folder = path.is_dir()
    if (kind == "file") == is_folder:
        found = "a folder" if is_folder else "a file"
        raise UsageError(f"{path} is {found}, where a {kind} is to be written; choose another "
                         "path")
    if kind == "folder" and is_folder and not any(path.iterdir()):
        return path
    if not allowed:
        raise UsageError(f"{path} exists; pass {flag} to replace it, or choose another path")
    return path


def make_owned_folder(path: str | Path, owner: str) -> Path:
    """Create ``path`` and mark it as made by ``owner`` (a command name), so that a later run
    of that command knows the folder and what is in it are its own."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / OWNER_MARK).write_text(owner + "\n")
    return path
