"""Shared pieces of the dataset readers: errors, problem reports, image headers, box checks.

Every reader (COCO, VOC, YOLO) turns its files into :class:`ImageRecord` objects through
:func:`make_record`, so the three formats obey one set of rules: boxes outside the image are
clipped (warning), boxes under 1 px after clipping are dropped (warning), non-finite coordinates
and unknown classes are errors. Readers report problems to a :class:`LoadReport`; in strict mode
(training) the first error raises :class:`DataError`, in collecting mode (``data check``) all
problems are gathered.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nanodet_plus.errors import DataError
from nanodet_plus.structures import ImageRecord

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
MIN_BOX_SIZE = 1.0
CLIP_TOLERANCE = 0.01  # px; rounding of normalised YOLO coordinates is not worth a warning


@dataclass
class Issue:
    """One problem found in a dataset file."""

    level: str  # "error" | "warning"
    kind: str  # short category, e.g. "clipped-box", "unknown-class"
    file: str
    where: str  # line number, field or object index ("" when the whole file)
    message: str

    def __str__(self) -> str:
        location = f"{self.file}:{self.where}" if self.where else self.file
        return f"{location}: {self.message}"


class IssueList:
    """Error/warning views over an ``issues`` list, shared by the load and check reports."""

    issues: list[Issue]

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.level == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.level == "warning"]


@dataclass
class LoadReport(IssueList):
    """Problems met while reading a dataset; ``strict`` turns the first error into an exception."""

    strict: bool = True
    issues: list[Issue] = field(default_factory=list)

    def error(self, kind: str, file: str | Path, message: str, where: str | int = "") -> None:
        """Record an error; raise it at once in strict mode."""
        issue = Issue("error", kind, str(file), str(where), message)
        if self.strict:
            raise DataError(str(issue))
        self.issues.append(issue)

    def warn(self, kind: str, file: str | Path, message: str, where: str | int = "") -> None:
        self.issues.append(Issue("warning", kind, str(file), str(where), message))

    def count(self, kind: str) -> int:
        """Number of issues of one kind."""
        return sum(1 for i in self.issues if i.kind == kind)


def report_exception(report: LoadReport, file: str | Path, exc: DataError) -> None:
    """Record a :class:`DataError` that made a whole file unreadable (collecting mode)."""
    message = str(exc)
    prefix = str(file)
    if message.startswith(prefix):
        message = message[len(prefix):].lstrip(":").strip()
    report.issues.append(Issue("error", "bad-file", prefix, "", message))


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 9 < len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    return None


def read_image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` from the file header without decoding the pixels.

    PNG, JPEG, BMP and GIF headers are parsed directly; other formats are decoded with OpenCV.
    Raises :class:`DataError` for a missing, empty or unreadable file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image file not found")
    with path.open("rb") as handle:
        head = handle.read(64 * 1024)
    if not head:
        raise DataError(f"{path}: image file is empty (0 bytes)")
    size: tuple[int, int] | None = None
    if head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) >= 24:
        size = struct.unpack(">II", head[16:24])
    elif head.startswith(b"\xff\xd8"):
        size = _jpeg_size(head)
        if size is None and len(head) == 64 * 1024:
            size = _jpeg_size(path.read_bytes())
    elif head.startswith(b"BM") and len(head) >= 26:
        width, height = struct.unpack("<ii", head[18:26])
        size = (width, abs(height))
    elif head[:6] in (b"GIF87a", b"GIF89a"):
        size = struct.unpack("<HH", head[6:10])
    else:
        image = load_image(path)
        size = (image.shape[1], image.shape[0])
    if size is None or size[0] <= 0 or size[1] <= 0:
        raise DataError(f"{path}: corrupt image header (cannot read its size)")
    return int(size[0]), int(size[1])


def load_image(path: str | Path) -> np.ndarray:
    """Decode an image as BGR uint8 ``[H, W, 3]``; :class:`DataError` if it cannot be read."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image file not found")
    data = np.fromfile(str(path), dtype=np.uint8)
    if data.size == 0:
        raise DataError(f"{path}: image file is empty (0 bytes)")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"{path}: cannot decode image (corrupt or unsupported format)")
    return image


def empty_boxes() -> np.ndarray:
    return np.zeros((0, 4), np.float32)


def clean_boxes(
    boxes: np.ndarray,
    width: int | np.ndarray,
    height: int | np.ndarray,
    report: LoadReport,
    file: str,
    where_of: Callable[[int], str],
) -> np.ndarray:
    """Clip xyxy boxes (in place) to their image and return the mask of boxes to keep.

    ``width``/``height`` are scalars or one value per box. Non-finite boxes are errors, boxes
    under 1 px after clipping are dropped (warning), clipped boxes are warnings. Vectorised;
    only rows with a problem are visited one by one to report them.
    """
    keep = np.ones(len(boxes), bool)
    if len(boxes) == 0:
        return keep
    widths = np.broadcast_to(np.asarray(width, np.float64), (len(boxes),))
    heights = np.broadcast_to(np.asarray(height, np.float64), (len(boxes),))
    finite = np.isfinite(boxes).all(axis=1)
    safe = np.where(finite[:, None], boxes, 0.0)
    clipped = np.empty_like(safe)
    for col, limit in ((0, widths), (1, heights), (2, widths), (3, heights)):
        clipped[:, col] = np.minimum(np.maximum(safe[:, col], 0), limit)
    small = ((clipped[:, 2] - clipped[:, 0]) < MIN_BOX_SIZE) | (
        (clipped[:, 3] - clipped[:, 1]) < MIN_BOX_SIZE)
    moved = np.abs(clipped - safe).max(axis=1) > CLIP_TOLERANCE
    for i in np.flatnonzero(~finite | small | moved):
        box = boxes[i]
        if not finite[i]:
            report.error("bad-number", file, f"non-finite box coordinates {box.tolist()}",
                         where_of(i))
            keep[i] = False
        elif small[i]:
            what = ("zero or negative size" if box[2] <= box[0] or box[3] <= box[1]
                    else "smaller than 1 px inside the image")
            report.warn("degenerate-box", file, f"box {_fmt(box)} is {what}: dropped",
                        where_of(i))
            keep[i] = False
        else:
            report.warn(
                "clipped-box", file,
                f"box {_fmt(box)} extends outside the {widths[i]:g}x{heights[i]:g} image: "
                "clipped",
                where_of(i),
            )
    boxes[:] = clipped
    return keep


def _fmt(box: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:g}" for v in box) + "]"


def make_record(
    *,
    path: str | Path,
    file_name: str,
    image_id: int,
    width: int,
    height: int,
    boxes: Sequence[Sequence[float]],
    labels: Sequence[int],
    ignore_boxes: Sequence[Sequence[float]] = (),
    num_classes: int,
    report: LoadReport,
    ann_file: str | Path,
    wheres: Sequence[str] | None = None,
    ignore_wheres: Sequence[str] | None = None,
) -> ImageRecord:
    """Validate one image's annotations (xyxy pixels) and build its :class:`ImageRecord`."""
    ann_file = str(ann_file)
    box_array = np.asarray(boxes, np.float64).reshape(-1, 4)
    label_array = np.asarray(labels, np.int64).reshape(-1)
    wheres = list(wheres) if wheres is not None else [f"box {i}" for i in range(len(box_array))]
    keep = clean_boxes(box_array, width, height, report, ann_file, wheres.__getitem__)
    for i, label in enumerate(label_array):
        if keep[i] and not 0 <= label < num_classes:
            report.error(
                "unknown-class", ann_file,
                f"class index {label} out of range 0..{num_classes - 1}", wheres[i],
            )
            keep[i] = False
    ignore_array = np.asarray(ignore_boxes, np.float64).reshape(-1, 4)
    ignore_wheres = (
        list(ignore_wheres) if ignore_wheres is not None
        else [f"ignore box {i}" for i in range(len(ignore_array))]
    )
    ignore_keep = clean_boxes(ignore_array, width, height, report, ann_file,
                              ignore_wheres.__getitem__)
    return ImageRecord(
        path=str(path),
        width=int(width),
        height=int(height),
        boxes=box_array[keep].astype(np.float32),
        labels=label_array[keep],
        ignore_boxes=ignore_array[ignore_keep].astype(np.float32),
        image_id=int(image_id),
        file_name=file_name,
    )


@dataclass
class RecordSet:
    """The records of one split with the class names and COCO category ids they map to."""

    records: list[ImageRecord]
    class_names: list[str]
    category_ids: list[int]  # category_ids[label] is the original id (COCO) or label + 1
    source: str  # the annotation file or folder
    report: LoadReport = field(default_factory=LoadReport)


def check_class_names(
    found: Sequence[str], expected: Sequence[str] | None, report: LoadReport, file: str | Path
) -> None:
    """Compare the dataset's own class names with the config's ``class_names``."""
    if expected is None:
        return
    if len(found) != len(expected):
        report.error(
            "class-names", file,
            f"dataset has {len(found)} classes {list(found)} but the config names "
            f"{len(expected)}: {list(expected)}",
        )
    elif list(found) != list(expected):
        report.warn(
            "class-names", file,
            f"class names {list(found)} differ from the config's {list(expected)}",
        )
