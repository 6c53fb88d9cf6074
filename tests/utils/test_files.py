"""Atomic writes: the content lands whole, a failed write keeps the old file and leaves no trace."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from nanodet_plus.utils.files import atomic_copy, atomic_path, atomic_write, atomic_write_text

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def test_text_lands_and_missing_folders_are_created(tmp_path: Path):
    target = tmp_path / "runs" / "exp" / "config.yaml"
    assert atomic_write_text(target, "epochs: 3\n") == target
    assert target.read_text() == "epochs: 3\n"
    assert [p.name for p in target.parent.iterdir()] == ["config.yaml"]


def test_binary_and_text_streams(tmp_path: Path):
    with atomic_write(tmp_path / "blob.bin", "wb") as stream:
        stream.write(b"\x00\x01")
    with atomic_write(tmp_path / "table.csv", newline="") as stream:
        stream.write("a,b\r\n")
    assert (tmp_path / "blob.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "table.csv").read_bytes() == b"a,b\r\n"


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_failed_write_keeps_the_old_file(tmp_path: Path, error: type[BaseException]):
    target = tmp_path / "metrics.csv"
    target.write_text("old\n")
    with pytest.raises(error), atomic_write(target) as stream:
        stream.write("half of the new")
        raise error("disk full")
    assert target.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [target]


def test_a_path_for_writers_that_need_one(tmp_path: Path):
    source = tmp_path / "source.txt"
    source.write_text("weights")
    target = tmp_path / "best.ckpt"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".best.ckpt.")
        shutil.copyfile(source, tmp)
        assert not target.exists()
    assert target.read_text() == "weights"
    with pytest.raises(OSError), atomic_path(target) as tmp:
        tmp.write_text("torn")
        raise OSError("the writer failed")
    assert target.read_text() == "weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt", "source.txt"]


def test_copy(tmp_path: Path):
    source = tmp_path / "last.ckpt"
    source.write_bytes(b"state")
    assert atomic_copy(source, tmp_path / "best.ckpt").read_bytes() == b"state"


@posix_only
def test_a_new_file_follows_the_umask(tmp_path: Path):
    path = atomic_write_text(tmp_path / "new.json", "{}")
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()


@posix_only
def test_a_replaced_file_keeps_its_permissions(tmp_path: Path):
    target = tmp_path / "private.yaml"
    target.write_text("old")
    target.chmod(0o600)
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o600


def test_only_write_modes(tmp_path: Path):
    with pytest.raises(ValueError, match="mode 'w' or 'wb'"), atomic_write(tmp_path / "x", "a"):
        pass
