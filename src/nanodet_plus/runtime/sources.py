"""What ``nanodet predict`` reads: an image, a folder, a glob, a video file or a webcam index."""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path

from nanodet_plus.errors import FileMissingError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jfif"})
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}
)
_GLOB_CHARS = frozenset("*?[")


@dataclass
class MediaSource:
    """Resolved inputs: image files, video files (in sorted order) or one camera index."""

    images: list[Path] = field(default_factory=list)
    videos: list[Path] = field(default_factory=list)
    camera: int | None = None

    def __len__(self) -> int:
        return len(self.images) + len(self.videos) + (self.camera is not None)


def _split_media(paths: list[Path]) -> MediaSource:
    source = MediaSource()
    for path in sorted(paths):
        suffix = path.suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            source.videos.append(path)
        elif suffix in IMAGE_SUFFIXES:
            source.images.append(path)
    return source


def resolve_source(text: str) -> MediaSource:
    """Expand ``text`` into media files; a bare digit string is a webcam index.

    A file named explicitly is taken as an image unless its suffix is a video suffix, so
    unusual image suffixes still reach the decoder (and its clear error). Folders and globs
    keep only known image and video suffixes. Raises :class:`FileMissingError` when nothing matches.
    """
    if text.isdigit() and not Path(text).exists():
        return MediaSource(camera=int(text))
    path = Path(text).expanduser()
    if path.is_file():
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return MediaSource(videos=[path])
        return MediaSource(images=[path])
    if path.is_dir():
        source = _split_media([p for p in path.iterdir() if p.is_file()])
        if not len(source):
            raise FileMissingError(f"{path}: folder holds no images or videos")
        return source
    if _GLOB_CHARS & set(text):
        matches = [Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file()]
        source = _split_media(matches)
        if not len(source):
            raise FileMissingError(f"{text}: pattern matches no images or videos")
        return source
    raise FileMissingError(f"{path}: no such file or folder")
