"""The official NanoDet-Plus checkpoints by name, and the one resolver of a ``--weights`` value.

The table lives in ``official_weights.json`` beside this module (package data). Every place
that takes weights (``nanodet train --weights``, the model of ``predict``/``val``/``export``/
``benchmark``, :func:`~nanodet_plus.models.loading.load_model`, ``Detector.from_file``)
passes the user's value through :func:`resolve_weights`:

- an existing path is used as it is;
- an official name (``nanodet-plus-m_416``, or its file name) is looked up in the weights
  folder (``$NANODET_WEIGHTS_DIR``, default ``~/.cache/nanodet_plus/weights``), then in the
  current folder, then downloaded into the weights folder with the standard library (written
  atomically, its SHA-256 checked where one is known). Without a config of its own, the named
  preset is the config;
- anything else is left to the caller's "not found" error, except a near miss of an official
  name, which is refused with the name it was probably meant to be.

The official project publishes no checksums; where the table has none, the loader's
architecture check (the tensors must fit the preset) is what guards the file.
"""

from __future__ import annotations

import difflib
import hashlib
import http.client
import json
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any, NamedTuple

from nanodet_plus.errors import CheckpointError, FileMissingError
from nanodet_plus.utils.files import atomic_write

logger = logging.getLogger(__name__)

TABLE_FILE = Path(__file__).with_name("official_weights.json")
WEIGHTS_DIR_ENV = "NANODET_WEIGHTS_DIR"
DEFAULT_WEIGHTS_DIR = "~/.cache/nanodet_plus/weights"
DOWNLOAD_TIMEOUT_S = 20.0
_CHUNK = 1 << 20
# Files of these kinds are never official checkpoints: no name suggestion for them.
_NOT_CHECKPOINT_SUFFIXES = (".onnx", ".xml", ".param", ".mnn", ".torchscript", ".ts",
                            ".yaml", ".yml", ".json")


@dataclass(frozen=True)
class OfficialWeights:
    """One official checkpoint: where it is published and what the official README reports."""

    name: str  # what users type: --weights nanodet-plus-m_416
    preset: str  # the config preset of the same architecture and input size
    file: str  # the file name in the weights folder
    url: str  # the GitHub release asset (Lightning .ckpt)
    alt_url: str  # the inference-only "weight" .pth on Google Drive (no direct download)
    size_bytes: int | None
    sha256: str | None  # None: no trustworthy checksum is known
    backbone: str
    input_size: tuple[int, int]  # (width, height)
    coco_map: float  # COCO val2017 mAP(0.5:0.95), official README
    params_m: float  # millions of parameters, official README
    gflops: float  # official README


@cache
def official_weights() -> dict[str, OfficialWeights]:
    """The official checkpoints by name, in the order of the table."""
    data = json.loads(TABLE_FILE.read_text(encoding="utf-8"))
    entries = {}
    for row in data["weights"]:
        entry = OfficialWeights(**{**row, "input_size": tuple(row["input_size"])})
        entries[entry.name] = entry
    return entries


def find_official(value: str | Path) -> OfficialWeights | None:
    """The entry named ``value`` (its name or its file name), else None."""
    text = str(value)
    for entry in official_weights().values():
        if text in (entry.name, entry.file):
            return entry
    return None


def weights_dir() -> Path:
    """The folder official checkpoints are looked for and downloaded into."""
    return Path(os.environ.get(WEIGHTS_DIR_ENV) or DEFAULT_WEIGHTS_DIR).expanduser()


class ResolvedWeights(NamedTuple):
    """A weights file on disk and the config to build it with (None: the caller's rule)."""

    path: Path
    config: Any


def resolve_weights(value: str | Path, config: Any = None) -> ResolvedWeights:
    """``(path, config)`` for a ``--weights`` value: an existing path as it is; an official
    name as its local copy (downloaded when absent), with the named preset as the config when
    ``config`` is None. Any other value comes back unchanged for the caller's own "not found"
    error, except a near miss of an official name: :class:`FileMissingError` naming it."""
    path = Path(value).expanduser()
    if path.exists():
        return ResolvedWeights(path, config)
    entry = find_official(value)
    if entry is None:
        _refuse_near_miss(path)
        return ResolvedWeights(path, config)
    local = local_copy(entry) or download(entry)
    return ResolvedWeights(local, entry.preset if config is None else config)


def local_copy(entry: OfficialWeights) -> Path | None:
    """The file of ``entry`` in the weights folder, else in the current folder, else None."""
    for folder in (weights_dir(), Path.cwd()):
        candidate = folder / entry.file
        if candidate.is_file():
            logger.info("%s: using %s", entry.name, candidate)
            return candidate
    return None


def _refuse_near_miss(path: Path) -> None:
    """A missing file whose name is close to an official name: the usual "not found" error
    with the name it was probably meant to be."""
    if path.suffix.lower() in _NOT_CHECKPOINT_SUFFIXES:
        return
    entries = official_weights().values()
    by_key = {key: entry.name for entry in entries for key in (entry.name, entry.file)}
    close = difflib.get_close_matches(path.name, list(by_key), n=1, cutoff=0.8)
    if close:
        raise FileMissingError(f"weights file not found: {path} (did you mean "
                               f"'{by_key[close[0]]}'?)")


def _urlopen(url: str) -> IO[bytes]:
    """The one network call: an open HTTP response (tests replace this function)."""
    request = urllib.request.Request(url, headers={"User-Agent": "nanodet-plus"})
    return urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S)


def download(entry: OfficialWeights, folder: str | Path | None = None) -> Path:
    """Download ``entry`` into ``folder`` (default: :func:`weights_dir`) and return the path.

    The file appears only complete and checked: it is written to a temporary file that is
    renamed into place after the size and SHA-256 (where known) match, and removed otherwise.
    An unreachable server is a one-line :class:`FileMissingError` saying where to get the file
    and where to put it; a wrong checksum a :class:`CheckpointError` naming both hashes.
    """
    destination = Path(folder).expanduser() if folder is not None else weights_dir()
    destination = destination / entry.file
    logger.info("downloading %s from %s to %s", entry.name, entry.url, destination)
    try:
        with _urlopen(entry.url) as response, atomic_write(destination, "wb") as out:
            digest, size = hashlib.sha256(), 0
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
            _check_download(entry, destination, size, digest.hexdigest())
    except (OSError, http.client.HTTPException) as exc:
        raise FileMissingError(offline_message(entry, destination, exc)) from None
    return destination


def _check_download(entry: OfficialWeights, destination: Path, size: int, sha256: str) -> None:
    if entry.sha256 is not None and sha256 != entry.sha256:
        raise CheckpointError(f"{destination}: SHA-256 {sha256} of the file downloaded from "
                              f"{entry.url} is not the expected {entry.sha256}; not kept")
    if entry.size_bytes is not None and size != entry.size_bytes:
        raise CheckpointError(f"{destination}: {size} bytes downloaded from {entry.url}, "
                              f"expected {entry.size_bytes}; not kept")


def offline_message(entry: OfficialWeights, destination: Path, exc: BaseException) -> str:
    """The one line for a download that failed: what to fetch, from where, where to put it."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        reason: Any = exc.reason
    else:
        reason = exc
    return (f"{entry.name}: cannot download {entry.url} ({reason}); fetch that file on a "
            f"machine that is online and put it at {destination}, or pass the path of a copy "
            "instead of the name")


def weights_table_markdown() -> str:
    """The Markdown table of the official checkpoints, for the user guide (generated, so that
    the page cannot drift from the package data)."""
    rows = [
        "| Name | Backbone | Input | COCO mAP | GFLOPs | Params | Checkpoint | Weight file "
        "| SHA-256 checked on download |",
        "| --- | --- | --- | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for entry in official_weights().values():
        width, height = entry.input_size
        sha = f"`{entry.sha256}`" if entry.sha256 else "none known"
        rows.append(
            f"| `{entry.name}` | {entry.backbone} | {width}x{height} | {entry.coco_map:.1f} "
            f"| {entry.gflops:g} | {entry.params_m:.2f}M | [{entry.file}]({entry.url}) "
            f"| [Google Drive]({entry.alt_url}) | {sha} |"
        )
    return "\n".join(rows) + "\n"
