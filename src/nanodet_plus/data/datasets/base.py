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
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

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
    # data.skip_bad_images: an unreadable image file is a warning and is left out
    skip_bad_images: bool = False

    def error(self, kind: str, file: str | Path, message: str, where: str | int = "") -> None:
        """Record an error; raise it at once in strict mode."""
        issue = Issue("error", kind, str(file), str(where), message)
        if self.strict:
            raise DataError(str(issue))
        self.issues.append(issue)

    def warn(self, kind: str, file: str | Path, message: str, where: str | int = "") -> None:
        self.issues.append(Issue("warning", kind, str(file), str(where), message))

    def bad_image(self, file: str | Path, exc: DataError) -> None:
        """Record an image file that cannot be read: a warning when bad images are skipped,
        else an error (raised at once in strict mode)."""
        if not self.skip_bad_images:
            if self.strict:
                raise exc
            report_exception(self, file, exc)
            return
        message = str(exc).removeprefix(f"{file}").lstrip(":").strip()
        self.warn("skipped-image", file, f"{message}; skipped (data.skip_bad_images)")

    def count(self, kind: str) -> int:
        """Number of issues of one kind."""
        return sum(1 for i in self.issues if i.kind == kind)


def report_exception(report: LoadReport, file: str | Path, exc: DataError) -> None:
    """Record a :class:`DataError` that made a whole file unreadable (collecting mode), with
    the same text as the exception: ``file:where: message`` or ``file: message``."""
    message, where = str(exc), ""
    prefix = str(file)
    if message.startswith(prefix + ": "):
        message = message[len(prefix) + 2:]
    elif message.startswith(prefix + ":") and ": " in message[len(prefix):]:
        where, message = message[len(prefix) + 1:].split(": ", 1)
    report.issues.append(Issue("error", "bad-file", prefix, where, message))


JPEG_EOI = b"\xff\xd9"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HEAD_BYTES = 64 * 1024
TAIL_BYTES = 1024
# Signatures of the other formats OpenCV decodes; a file with none of them is not an image.
OTHER_SIGNATURES = (b"RIFF", b"II*\x00", b"MM\x00*", b"\x00\x00\x00\x0cjP", b"\xffO\xffQ",
                    b"P1", b"P2", b"P3", b"P4", b"P5", b"P6", b"P7", b"#?RADIANCE", b"v/1\x01",
                    b"Pf", b"PF", b"Y\xa6j\x95")
TRUNCATED_ADVICE = "copy the file again, delete it, or set data.skip_bad_images=true"


@dataclass(frozen=True)
class ImageHeader:
    """An image file's size as displayed (EXIF orientation applied) and that orientation.

    OpenCV applies the EXIF orientation when it decodes a JPEG, PNG or WebP, so orientations
    5-8 (a quarter turn) swap the stored width and height; ``width``/``height`` are the
    decoded image's, which labels are drawn on.
    """

    width: int
    height: int
    orientation: int = 1  # EXIF tag 0x0112; 1 = stored upright


def _tiff_orientation(tiff: bytes) -> int:
    """The orientation tag (0x0112) of an EXIF (TIFF-structured) block; 1 when absent or odd."""
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return 1
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
    for entry in range(ifd + 2, min(ifd + 2 + 12 * count, len(tiff) - 11), 12):
        tag, kind = struct.unpack(order + "HH", tiff[entry : entry + 4])
        if tag == 0x0112 and kind == 3:
            (value,) = struct.unpack(order + "H", tiff[entry + 8 : entry + 10])
            return value if 1 <= value <= 8 else 1
    return 1


def _parse_jpeg(data: bytes) -> tuple[tuple[int, int] | None, int, int | None]:
    """Stored ``(width, height)``, EXIF orientation and offset of the first scan (SOS marker)
    from the markers in ``data``; None for what is not found."""
    size, orientation, pos = None, 1, 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return size, orientation, None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker == 0xDA:
            return size, orientation, pos
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker == 0xE1 and data[pos + 4 : pos + 10] == b"Exif\x00\x00":
            orientation = _tiff_orientation(data[pos + 10 : pos + 2 + length])
        elif 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and pos + 9 <= len(data):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            size = (width, height)
        pos += 2 + length
    return size, orientation, None


def _jpeg_complete(handle: BinaryIO, data: bytes, scan: int | None) -> bool:
    """Whether the end-of-image marker follows the first scan (a cut file lacks it).

    Inside the scan data a 0xFF byte is always followed by 0x00 or a restart marker, so FF D9
    after the scan start is the end. The last kilobyte is read first; the rest of the file only
    when data follow the end marker (a phone's appended video, for instance).
    """
    if scan is None:
        return False
    end = handle.seek(0, os.SEEK_END)
    if end == len(data):
        return data.find(JPEG_EOI, scan) >= 0
    handle.seek(max(scan, end - TAIL_BYTES))
    if JPEG_EOI in handle.read():
        return True
    handle.seek(scan)
    return JPEG_EOI in handle.read()


def _jpeg_header(path: Path, handle: BinaryIO, head: bytes) -> ImageHeader | None:
    data = head
    size, orientation, scan = _parse_jpeg(data)
    if (size is None or scan is None) and len(head) == HEAD_BYTES:
        handle.seek(0)
        data = handle.read()
        size, orientation, scan = _parse_jpeg(data)
    if size is None:
        return None
    if not _jpeg_complete(handle, data, scan):
        raise DataError(f"{path}: truncated JPEG (it ends before the end-of-image marker "
                        f"FF D9); {TRUNCATED_ADVICE}")
    width, height = size
    if orientation >= 5:
        width, height = height, width
    return ImageHeader(width, height, orientation)


def _png_header(path: Path, handle: BinaryIO) -> ImageHeader | None:
    """Walk the PNG chunks (reading their 8-byte heads only) up to IEND: the size, any eXIf
    orientation (OpenCV applies one even after the pixel data) and whether the file is whole."""
    pos, size, orientation = len(PNG_SIGNATURE), None, 1
    while True:
        handle.seek(pos)
        chunk = handle.read(8)
        if len(chunk) < 8:
            raise DataError(f"{path}: truncated PNG (it ends before its IEND chunk); "
                            f"{TRUNCATED_ADVICE}")
        (length,), kind = struct.unpack(">I", chunk[:4]), chunk[4:]
        if size is None:
            dimensions = handle.read(8)
            if kind != b"IHDR" or length < 8 or len(dimensions) < 8:
                return None
            size = struct.unpack(">II", dimensions)
        elif not kind.isalpha():
            raise DataError(f"{path}: corrupt PNG (invalid chunk at byte {pos})")
        elif kind == b"eXIf":
            orientation = _tiff_orientation(handle.read(length))
        elif kind == b"IEND":
            break
        pos += 12 + length
    width, height = size
    if orientation >= 5:
        width, height = height, width
    return ImageHeader(int(width), int(height), orientation)


def _bmp_header(path: Path, handle: BinaryIO, head: bytes) -> ImageHeader | None:
    if len(head) < 26:
        return None
    (declared,) = struct.unpack("<I", head[2:6])
    actual = handle.seek(0, os.SEEK_END)
    if declared > actual:
        raise DataError(f"{path}: truncated BMP (its header says {declared} bytes, the file "
                        f"has {actual}); {TRUNCATED_ADVICE}")
    width, height = struct.unpack("<ii", head[18:26])
    return ImageHeader(width, abs(height))


def max_image_pixels() -> int:
    """The most pixels OpenCV decodes (its CV_IO_MAX_IMAGE_PIXELS, default 2^30)."""
    try:
        return int(os.environ.get("CV_IO_MAX_IMAGE_PIXELS", 1 << 30))
    except ValueError:
        return 1 << 30


def _parse_header(path: Path) -> ImageHeader | None:
    """The header of a PNG, JPEG, BMP or GIF file, None for another format; :class:`DataError`
    for a missing, empty, truncated, corrupt or undecodably large file."""
    if not path.is_file():
        raise DataError(f"{path}: image file not found")
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
        if not head:
            raise DataError(f"{path}: image file is empty (0 bytes)")
        if head.startswith(PNG_SIGNATURE):
            header = _png_header(path, handle)
        elif head.startswith(b"\xff\xd8"):
            header = _jpeg_header(path, handle, head)
        elif head.startswith(b"BM"):
            header = _bmp_header(path, handle, head)
        elif head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
            header = ImageHeader(*struct.unpack("<HH", head[6:10]))
        else:
            return None
    if header is None or header.width <= 0 or header.height <= 0:
        raise DataError(f"{path}: corrupt image header (cannot read its size)")
    pixels, limit = header.width * header.height, max_image_pixels()
    if pixels > limit:
        raise DataError(
            f"{path}: image is {header.width}x{header.height} ({pixels / 1e6:.0f} megapixels), "
            f"more than the {limit / 1e6:.0f} OpenCV decodes; downscale it or raise the "
            "CV_IO_MAX_IMAGE_PIXELS environment variable"
        )
    return header


def read_image_header(path: str | Path) -> ImageHeader:
    """Size (as displayed) and EXIF orientation of an image, checked for truncation, cheaply.

    PNG, JPEG, BMP and GIF headers are parsed without decoding the pixels, and a cut JPEG, PNG
    or BMP is found from its end markers; other formats are decoded with OpenCV. Raises
    :class:`DataError` for a missing, empty, truncated or unreadable file.
    """
    path = Path(path)
    header = _parse_header(path)
    if header is None:
        image = load_image(path)
        header = ImageHeader(int(image.shape[1]), int(image.shape[0]))
    return header


def read_image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of the image as OpenCV decodes it (EXIF orientation applied),
    from the file header; see :func:`read_image_header`."""
    header = read_image_header(path)
    return header.width, header.height


def _why_undecodable(path: Path, data: np.ndarray) -> str:
    """What is wrong with a file OpenCV could not decode, as precisely as the header tells."""
    try:
        header = _parse_header(path)
    except DataError as exc:
        return str(exc).removeprefix(f"{path}: ")
    start = data[:16].tobytes()
    if header is None and not start.startswith(OTHER_SIGNATURES):
        return f"not a known image format (it starts with {start[:8]!r})"
    return "corrupt or unsupported format"


def load_image(path: str | Path) -> np.ndarray:
    """Decode an image as BGR uint8 ``[H, W, 3]`` with any EXIF orientation applied (gray,
    16-bit, alpha and CMYK files are converted); :class:`DataError` naming the file and the
    problem if it cannot be read."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image file not found")
    data = np.fromfile(str(path), dtype=np.uint8)
    if data.size == 0:
        raise DataError(f"{path}: image file is empty (0 bytes)")
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error:  # over OpenCV's pixel limit, for one
        image = None
    if image is None:
        raise DataError(f"{path}: cannot decode image: {_why_undecodable(path, data)}")
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
    smallest = MIN_BOX_SIZE - CLIP_TOLERANCE  # a 1 px box written in normalised or 6-digit text
    small = ((clipped[:, 2] - clipped[:, 0]) < smallest) | (
        (clipped[:, 3] - clipped[:, 1]) < smallest)
    moved = np.abs(clipped - safe).max(axis=1) > CLIP_TOLERANCE
    for i in np.flatnonzero(~finite | small | moved):
        box = boxes[i]
        if not finite[i]:
            report.error("bad-number", file, f"non-finite box coordinates {box.tolist()}",
                         where_of(i))
            keep[i] = False
        elif small[i]:
            if box[2] <= box[0] or box[3] <= box[1]:
                what = "zero or negative size"
            elif (box[0] >= widths[i] or box[1] >= heights[i] or box[2] <= 0
                  or box[3] <= 0):
                what = f"outside the {widths[i]:g}x{heights[i]:g} image"
            else:
                what = "smaller than 1 px inside the image"
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
    elif sorted(found) == sorted(expected) and list(found) != list(expected):
        report.error(
            "class-names", file,
            f"class_names {list(expected)} lists the dataset's classes in another order: "
            f"labels follow the category ids in ascending order, {list(found)}, so the model "
            "would name classes wrongly; write class_names in that order or leave it out "
            "(the names then come from the annotation file)",
        )
    elif list(found) != list(expected):
        report.warn(
            "class-names", file,
            f"class names {list(found)} differ from the config's {list(expected)}",
        )
