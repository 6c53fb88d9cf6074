"""The data half of the bad-input corpus: unreadable and unusual images, malformed COCO, VOC and
YOLO annotations, and empty datasets, each run through ``nanodet data check`` and the library.

Every case declares each problem the check must report, word for word, in order: an error
stops training (``raise_for_errors`` gives the one-line message, ``data check`` exits 1), a
warning is logged and the rest is used. What should load does load, as BGR uint8 with 3
channels at the size its boxes are for. No case writes anything. The decisions follow what a
careful detection toolkit does (Ultralytics, mmdetection): what cannot be read, or would train
on wrong boxes, is an error naming the file; a box that can be repaired (clipped) or is
meaningless (empty, outside) is dropped with a warning; images without objects are negatives.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image

from nanodet_plus.cli.main import main
from nanodet_plus.config.loader import load_config
from nanodet_plus.config.schema import DataConfig
from nanodet_plus.data.check import check_data, read_splits
from nanodet_plus.data.dataset import DetectionDataset
from nanodet_plus.data.datasets import load_image, read_image_size
from nanodet_plus.errors import DataError

ROOT = "<root>"  # the case folder, in the expected messages
GOOD_LABEL = "0 0.5 0.5 0.5 0.5\n"
CUT = "copy the file again, delete it, or set data.skip_bad_images=true"
RANDOM = np.random.default_rng(7).bytes(4096)
Build = Callable[[Path], dict]


@dataclass
class Case:
    """A dataset to write, every issue the check reports, and what the loaded images are."""

    name: str
    build: Build
    issues: list[tuple[str, str]]  # (level, message with ROOT for the case folder)
    case_size: tuple[int, int] | None = None  # (width, height) the case image loads at
    box_on_white: bool = False  # the case image's box covers a white rectangle


CASES: list[Case] = []


def case(name: str, *issues: tuple[str, str], size: tuple[int, int] | None = None,
         box_on_white: bool = False) -> Callable[[Build], Build]:
    """Register the decorated builder as a corpus case."""

    def register(build: Build) -> Build:
        CASES.append(Case(name, build, list(issues), size, box_on_white))
        return build

    return register


def error(message: str) -> tuple[str, str]:
    return "error", message


def warning(message: str) -> tuple[str, str]:
    return "warning", message


# ---- writers -----------------------------------------------------------------------------

def write_png(path: Path, width: int = 64, height: int = 48) -> None:
    cv2.imwrite(str(path), np.full((height, width, 3), 90, np.uint8))


def noise(path: Path, flags: tuple[int, ...] = ()) -> None:
    """A 96x64 image of noise: it compresses badly, so a cut file loses pixel data."""
    image = np.random.default_rng(1).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    cv2.imwrite(str(path), image, list(flags))


def cut(nbytes: int, writer: Callable[[Path], None]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        writer(path)
        path.write_bytes(path.read_bytes()[:-nbytes])

    return write


def raw(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def pil(mode: str, color, **save) -> Callable[[Path], None]:
    return lambda path: Image.new(mode, (64, 48), color).save(path, **save)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(path: Path) -> None:
    """A 40000x40000 PNG header with a few bytes of pixel data: 1.6 gigapixels claimed."""
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0))
                     + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + png_chunk(b"IEND", b""))


def rotated(orientation: int) -> Callable[[Path], None]:
    """A photo that displays as 60x40 with a white 20x10 rectangle at (10, 5), stored turned
    and tagged with the EXIF ``orientation`` that shows it upright."""

    def write(path: Path) -> None:
        displayed = np.zeros((40, 60, 3), np.uint8)
        displayed[5:15, 10:30] = 255
        exif = Image.Exif()
        exif[0x0112] = orientation
        stored = np.ascontiguousarray(np.rot90(displayed, k={6: 1, 8: -1}[orientation]))
        Image.fromarray(stored).save(path, exif=exif, quality=100)

    return write


def gray16(path: Path) -> None:
    cv2.imwrite(str(path), np.full((48, 64), 40000, np.uint16))


def color16(path: Path) -> None:
    cv2.imwrite(str(path), np.full((48, 64, 3), 40000, np.uint16))


def with_trailer(path: Path) -> None:
    """A JPEG followed by unrelated bytes, as phones append a video to a motion photo."""
    noise(path)
    path.write_bytes(path.read_bytes() + RANDOM)


def yolo(name: str, write: Callable[[Path], None], label: str | bytes | None = GOOD_LABEL,
         **data) -> Build:
    """images/train with ``good.png`` (one box) and the case image ``name``, whose label file
    holds ``label`` (None: no label file)."""

    def build(root: Path) -> dict:
        images, labels = root / "images" / "train", root / "labels" / "train"
        images.mkdir(parents=True)
        labels.mkdir(parents=True)
        write_png(images / "good.png")
        (labels / "good.txt").write_text(GOOD_LABEL)
        write(images / name)
        if label is not None:
            target = labels / Path(name).with_suffix(".txt").name
            if isinstance(label, bytes):
                target.write_bytes(label)
            else:
                target.write_text(label)
        return {"data": {"train": {"format": "yolo", "img_path": "images/train"}, **data}}

    return build


def good_coco() -> dict:
    return {"images": [{"id": 1, "file_name": "good.png", "width": 64, "height": 48}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [8, 8, 32, 24]}],
            "categories": [{"id": 1, "name": "thing"}]}


def coco(change: Callable[[dict], object] | str | bytes, split: str = "train", **data) -> Build:
    """images/good.png and ann.json: the good COCO file after ``change``, or the content given."""

    def build(root: Path) -> dict:
        (root / "images").mkdir()
        write_png(root / "images" / "good.png")
        if isinstance(change, bytes):
            (root / "ann.json").write_bytes(change)
        elif isinstance(change, str):
            (root / "ann.json").write_text(change)
        else:
            content = good_coco()
            change(content)
            (root / "ann.json").write_text(json.dumps(content))
        splits = {split: {"format": "coco", "img_path": "images", "ann_path": "ann.json"}}
        if split != "train":
            (root / "good.json").write_text(json.dumps(good_coco()))
            splits["train"] = {"format": "coco", "img_path": "images", "ann_path": "good.json"}
        return {"data": {**splits, **data}}

    return build


def with_image(name: str, write: Callable[[Path], None], build: Build) -> Build:
    """``build``, then the image ``images/name`` written by ``write``."""

    def build_both(root: Path) -> dict:
        content = build(root)
        write(root / "images" / name)
        return content

    return build_both


def add(key: str, *entries: dict) -> Callable[[dict], None]:
    return lambda content: content[key].extend(entries)


def box(*bbox: float, category: int = 1, image: int = 1) -> dict:
    return {"id": 2, "image_id": image, "category_id": category, "bbox": list(bbox)}


def voc_xml(file_name: str, objects: str, size: str | None = None) -> str:
    size = size if size is not None else "<size><width>64</width><height>48</height></size>"
    return f"<annotation><filename>{file_name}</filename>{size}{objects}</annotation>"


def voc_object(name: str = "thing", bndbox: str | None = None) -> str:
    bndbox = bndbox if bndbox is not None else (
        "<bndbox><xmin>8</xmin><ymin>8</ymin><xmax>40</xmax><ymax>32</ymax></bndbox>")
    return f"<object><name>{name}</name>{bndbox}</object>"


def voc(case_xml: str) -> Build:
    """Annotations/good.xml (one box on good.png) and Annotations/case.xml for case.png."""

    def build(root: Path) -> dict:
        (root / "images").mkdir()
        (root / "Annotations").mkdir()
        write_png(root / "images" / "good.png")
        write_png(root / "images" / "case.png")
        (root / "Annotations" / "good.xml").write_text(voc_xml("good.png", voc_object()))
        (root / "Annotations" / "case.xml").write_text(case_xml)
        return {"data": {"train": {"format": "voc", "img_path": "images",
                                   "ann_path": "Annotations"}}}

    return build


def empty_yolo(root: Path) -> dict:
    (root / "images" / "train").mkdir(parents=True)
    return {"data": {"train": {"format": "yolo", "img_path": "images/train"}}}


# ---- images ------------------------------------------------------------------------------

IMG = f"{ROOT}/images/train"
case("zero-byte jpeg", error(f"{IMG}/case.jpg: image file is empty (0 bytes)"))(
    yolo("case.jpg", raw(b"")))
case("truncated jpeg", error(f"{IMG}/case.jpg: truncated JPEG (it ends before the "
                             f"end-of-image marker FF D9); {CUT}"))(
    yolo("case.jpg", cut(300, noise)))
case("truncated progressive jpeg", error(f"{IMG}/case.jpg: truncated JPEG (it ends before the "
                                         f"end-of-image marker FF D9); {CUT}"))(
    yolo("case.jpg", cut(300, lambda p: noise(p, flags=(cv2.IMWRITE_JPEG_PROGRESSIVE, 1)))))
case("truncated png", error(f"{IMG}/case.png: truncated PNG (it ends before its IEND chunk); "
                            f"{CUT}"))(
    yolo("case.png", cut(40, noise)))
case("truncated bmp", error(f"{IMG}/case.bmp: truncated BMP (its header says 18486 bytes, the "
                            f"file has 18386); {CUT}"))(
    yolo("case.bmp", cut(100, noise)))
case("jpeg without a frame header", error(f"{IMG}/case.jpg: corrupt image header (cannot read "
                                          "its size)"))(
    yolo("case.jpg", raw(b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + b"\x00" * 64)))
case("png signature then garbage", error(f"{IMG}/case.png: corrupt image header (cannot read "
                                         "its size)"))(
    yolo("case.png", raw(b"\x89PNG\r\n\x1a\n" + b"garbage!" * 16)))
case("png cut inside its header", error(f"{IMG}/case.png: corrupt image header (cannot read "
                                        "its size)"))(
    yolo("case.png", raw(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00")))
case("random bytes named .jpg", error(f"{IMG}/case.jpg: cannot decode image: not a known image "
                                      f"format (it starts with {RANDOM[:8]!r})"))(
    yolo("case.jpg", raw(RANDOM)))
case("text file named .jpg", error(f"{IMG}/case.jpg: cannot decode image: not a known image "
                                   "format (it starts with b'hello, t')"))(
    yolo("case.jpg", raw(b"hello, this is not a photo\n")))
case("a 1.6 gigapixel png", error(f"{IMG}/case.png: image is 40000x40000 (1600 megapixels), "
                                  "more than the 1074 OpenCV decodes; downscale it or raise the "
                                  "CV_IO_MAX_IMAGE_PIXELS environment variable"))(
    yolo("case.png", huge_png))
case("grayscale png", size=(64, 48))(yolo("case.png", pil("L", 128)))
case("grayscale jpeg", size=(64, 48))(yolo("case.jpg", pil("L", 128)))
case("16-bit grayscale png", size=(64, 48))(yolo("case.png", gray16))
case("16-bit colour png", size=(64, 48))(yolo("case.png", color16))
case("png with alpha", size=(64, 48))(yolo("case.png", pil("RGBA", (10, 200, 30, 100))))
case("palette png", size=(64, 48))(yolo("case.png", pil("P", 3)))
case("cmyk jpeg", size=(64, 48))(yolo("case.jpg", pil("CMYK", (0, 50, 100, 0))))
case("progressive jpeg", size=(96, 64))(
    yolo("case.jpg", lambda p: noise(p, flags=(cv2.IMWRITE_JPEG_PROGRESSIVE, 1))))
case("jpeg with data after its end (motion photo)", size=(96, 64))(
    yolo("case.jpg", with_trailer))
case("webp", size=(64, 48))(yolo("case.webp", pil("RGB", (1, 2, 3))))
case("bmp", size=(96, 64))(yolo("case.bmp", noise))
case("exif-rotated jpeg (orientation 6)", size=(60, 40), box_on_white=True)(
    yolo("case.jpg", rotated(6), label="0 0.3333333 0.25 0.3333333 0.25\n"))
case("exif-rotated png (orientation 8)", size=(60, 40), box_on_white=True)(
    yolo("case.png", rotated(8), label="0 0.3333333 0.25 0.3333333 0.25\n"))
case("truncated jpeg, data.skip_bad_images",
     warning(f"{IMG}/case.jpg: truncated JPEG (it ends before the end-of-image marker FF D9); "
             f"{CUT}; skipped (data.skip_bad_images)"))(
    yolo("case.jpg", cut(300, noise), skip_bad_images=True))

# ---- COCO --------------------------------------------------------------------------------

ANN = f"{ROOT}/ann.json"
case("coco: not json", error(f"{ANN}: not valid JSON (line 1, column 1: Expecting value)"))(
    coco("images: [good.png]\n"))
case("coco: truncated json", error(f"{ANN}: not valid JSON (line 1, column 48: Unterminated "
                                   "string)"))(
    coco(json.dumps(good_coco())[:48]))
case("coco: not utf-8", error(f"{ANN}: not a UTF-8 text file"))(coco(b'{"images": "\xff"}'))
case("coco: a list at the top", error(f"{ANN}: the top level must be an object with 'images'"))(
    coco("[]"))
case("coco: no images", error(f"{ANN}: missing or invalid 'images' list"))(
    coco(lambda c: c.pop("images")))
case("coco: no categories", error(f"{ANN}: missing or invalid 'categories' list"))(
    coco(lambda c: c.pop("categories")))
case("coco: train file without annotations",
     warning(f"{ANN}: no 'annotations' list: all 1 images are negatives (no objects); fine for "
             "background images, otherwise the annotations are missing"),
     error(f"{ANN}: the training split's 1 images hold no box at all: nothing to learn from "
           "(negatives alone cannot train a detector)"))(
    coco(lambda c: c.pop("annotations")))
case("coco: val file without annotations",
     warning(f"{ANN}: no 'annotations' list: all 1 images are negatives (no objects); fine for "
             "background images, otherwise the annotations are missing"),
     warning(f"{ANN}: the val split has no box: mAP cannot be measured on it"))(
    coco(lambda c: c.pop("annotations"), split="val"))
case("coco: bbox with negative width",
     warning(f"{ANN}:annotations[1]: box [10, 10, 5, 18] is zero or negative size: dropped"))(
    coco(add("annotations", box(10, 10, -5, 8))))
case("coco: bbox partly outside the image",
     warning(f"{ANN}:annotations[1]: box [50, 40, 80, 60] extends outside the 64x48 image: "
             "clipped"))(
    coco(add("annotations", box(50, 40, 30, 20))))
case("coco: bbox wholly outside the image",
     warning(f"{ANN}:annotations[1]: box [100, 100, 110, 110] is outside the 64x48 image: "
             "dropped"))(
    coco(add("annotations", box(100, 100, 10, 10))))
case("coco: every training box dropped",
     warning(f"{ANN}:annotations[0]: box [8, 8, 8, 32] is zero or negative size: dropped"),
     error(f"{ANN}: every box of the training split was dropped (degenerate-box 1): nothing to "
           "learn from; fix the annotations"))(
    coco(lambda c: c["annotations"][0].update(bbox=[8, 8, 0, 24])))
case("coco: bbox of 3 numbers",
     error(f"{ANN}:annotations[1]: 'bbox' must be 4 numbers, got [1, 2, 3]"))(
    coco(add("annotations", box(1, 2, 3))))
case("coco: category id not in categories",
     error(f"{ANN}:annotations[1]: category_id 9 is not among the categories"))(
    coco(add("annotations", box(1, 1, 5, 5, category=9))))
case("coco: annotation of an unknown image",
     error(f"{ANN}:annotations[1]: image_id 5 is not in 'images'"))(
    coco(add("annotations", box(1, 1, 5, 5, image=5))))
case("coco: duplicate image ids", error(f"{ANN}:images[1]: image id 1 appears twice"))(
    coco(add("images", {"id": 1, "file_name": "other.png", "width": 64, "height": 48})))
case("coco: image without file_name", error(f"{ANN}:images[1]: missing 'file_name'"))(
    coco(add("images", {"id": 2, "width": 64, "height": 48})))
case("coco: image file missing", error(f"{ROOT}/images/gone.png: image file not found"))(
    coco(add("images", {"id": 2, "file_name": "gone.png", "width": 64, "height": 48})))
case("coco: image file missing, data.skip_bad_images",
     warning(f"{ROOT}/images/gone.png: image file not found; skipped (data.skip_bad_images)"))(
    coco(add("images", {"id": 2, "file_name": "gone.png", "width": 64, "height": 48}),
         skip_bad_images=True))
case("coco: every image missing, data.skip_bad_images",
     warning(f"{ROOT}/images/gone.png: image file not found; skipped (data.skip_bad_images)"),
     error(f"{ANN}: none of the split's 1 images can be read"))(
    coco(lambda c: c["images"][0].update(file_name="gone.png"), skip_bad_images=True))
case("coco: size that is not the image's",
     error(f"{ROOT}/images/good.png: annotation says 80x48 but the image is 64x48 (width x "
           "height)"))(
    coco(lambda c: c["images"][0].update(width=80)))
case("coco: size of an exif-rotated photo as stored",
     error(f"{ROOT}/images/photo.jpg: annotation says 40x60 but the image is 60x40 (width x "
           "height); its EXIF orientation 6 turns it a quarter turn when loaded: give the size "
           "and boxes of the image as displayed"))(
    with_image("photo.jpg", rotated(6),
               coco(add("images", {"id": 2, "file_name": "photo.jpg", "width": 40,
                                   "height": 60}))))
case("coco: no images at all", error(f"{ANN}: the split has no images"))(
    coco(lambda c: (c.update(images=[], annotations=[]))))

# ---- VOC ---------------------------------------------------------------------------------

XML = f"{ROOT}/Annotations/case.xml"
case("voc: not xml", error(f"{XML}: not valid XML (syntax error: line 1, column 0)"))(
    voc("this is not xml"))
case("voc: no size", error(f"{XML}: missing <size> (image width and height)"))(
    voc(voc_xml("case.png", voc_object(), size="")))
case("voc: no bndbox", error(f"{XML}:object 0: missing <bndbox>"))(
    voc(voc_xml("case.png", voc_object(bndbox=""))))
case("voc: xmax < xmin",
     warning(f"{XML}:object 0: box [40, 8, 8, 32] is zero or negative size: dropped"))(
    voc(voc_xml("case.png", voc_object(bndbox="<bndbox><xmin>40</xmin><ymin>8</ymin><xmax>8"
                                              "</xmax><ymax>32</ymax></bndbox>"))))
case("voc: coordinate not a number", error(f"{XML}:object 0: <xmin> is not a number: 'ten'"))(
    voc(voc_xml("case.png", voc_object(bndbox="<bndbox><xmin>ten</xmin><ymin>8</ymin><xmax>8"
                                              "</xmax><ymax>32</ymax></bndbox>"))))
case("voc: unknown class name",
     error(f"{XML}:object 0: class name 'bird' is not in class_names ['thing']"))(
    voc(voc_xml("case.png", voc_object("bird"))))
case("voc: no xml files", error(f"{ROOT}/Annotations: no .xml annotation files found"))(
    lambda root: (root / "Annotations").mkdir() or {"data": {"train": {
        "format": "voc", "img_path": ".", "ann_path": "Annotations"}}})

# ---- YOLO --------------------------------------------------------------------------------

TXT = f"{ROOT}/labels/train/case.txt"
case("yolo: four fields", error(f"{TXT}:line 1: expected 5 numbers 'class cx cy w h', got 4: "
                                "'0 0.5 0.5 0.2'"))(
    yolo("case.png", write_png, "0 0.5 0.5 0.2\n"))
case("yolo: six fields (a segment)", error(f"{TXT}:line 1: expected 5 numbers 'class cx cy w "
                                           "h', got 7: '0 0.1 0.1 0.9 0.1 0.9 0.9'"))(
    yolo("case.png", write_png, "0 0.1 0.1 0.9 0.1 0.9 0.9\n"))
case("yolo: not a number", error(f"{TXT}:line 2: not a number in '0 0.5 abc 0.2 0.2'"))(
    yolo("case.png", write_png, "0 0.5 0.5 0.2 0.2\n0 0.5 abc 0.2 0.2\n"))
case("yolo: class id out of range", error(f"{TXT}:line 1: class index 3 out of range 0..0"))(
    yolo("case.png", write_png, "3 0.5 0.5 0.2 0.2\n"))
case("yolo: class id not an integer", error(f"{TXT}:line 1: class id '0.5' is not an integer"))(
    yolo("case.png", write_png, "0.5 0.5 0.5 0.2 0.2\n"))
case("yolo: pixel units",
     error(f"{TXT}:line 1: 2 of 2 boxes have values above 1 (first: 32 24 16 12): they look "
           "like pixels, not normalised 0-1 coordinates; divide x and w by the image width (64) "
           "and y and h by its height (48)"))(
    yolo("case.png", write_png, "0 32 24 16 12\n0 10 10 4 4\n"))
case("yolo: negative value",
     error(f"{TXT}:line 1: negative value in '0 -0.2 0.5 0.2 0.2': 'cx cy w h' are fractions "
           "0-1 of the image size"))(
    yolo("case.png", write_png, "0 -0.2 0.5 0.2 0.2\n"))
case("yolo: box reaching past the edge",
     warning(f"{TXT}:line 1: box [57.6, 19.2, 70.4, 28.8] extends outside the 64x48 image: "
             "clipped"))(
    yolo("case.png", write_png, "0 1 0.5 0.2 0.2\n"))
case("yolo: label file not utf-8", error(f"{TXT}: not a UTF-8 text file"))(
    yolo("case.png", write_png, b"\xff\xfe\x00\x81junk"))
case("yolo: empty label file (a negative)", size=(64, 48))(yolo("case.png", write_png, ""))
case("yolo: no label file (a negative)", size=(64, 48))(yolo("case.png", write_png, None))
case("yolo: label file without image",
     warning(f"{ROOT}/labels/train/orphan.txt: label file has no image: ignored"))(
    yolo("orphan.txt", lambda p: p.unlink(missing_ok=True), GOOD_LABEL))
case("yolo: no images at all", error(f"{ROOT}/images/train: the split has no images"))(
    empty_yolo)


# ---- the test ----------------------------------------------------------------------------

def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*")}


@pytest.mark.parametrize("spec", CASES, ids=[c.name for c in CASES])
def test_bad_data(spec: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("CV_IO_MAX_IMAGE_PIXELS", raising=False)
    content = spec.build(tmp_path)
    content.update(model={"num_classes": 1}, class_names=["thing"])
    config_path = tmp_path / "cfg.yaml"
    config_path.write_text(yaml.safe_dump(content))
    before = snapshot(tmp_path)
    config = load_config(config_path)
    report = check_data(config)
    expected = [(level, text.replace(ROOT, str(tmp_path))) for level, text in spec.issues]
    assert [(i.level, str(i)) for i in report.issues] == expected
    errors = [text for level, text in expected if level == "error"]
    if errors:
        with pytest.raises(DataError, match=f"^1 dataset error\\(s\\): {re.escape(errors[0])}; "
                                            "run `nanodet data check`$"):
            report.raise_for_errors()
    assert main(["data", "check", str(config_path)]) == (1 if errors else 0)
    out, err = capsys.readouterr()
    assert all(f"  {text}" in out.splitlines() for _, text in expected) and not err
    assert snapshot(tmp_path) == before
    if not errors:
        skipped = {i.file for i in report.issues if i.kind == "skipped-image"}
        check_loaded(spec, config, skipped)


def check_loaded(spec: Case, config, skipped: set[str]) -> None:
    """Every readable image of the train split loads as BGR uint8 at its record's size, and
    every sample builds (a skipped image replaced); the case image at the size its labels are
    for, its box on the drawn rectangle."""
    (split,) = [s for s in read_splits(config) if s.name == "train"]
    records = split.record_set.records
    for record in records:
        if record.path in skipped:
            continue
        image = load_image(record.path)
        assert image.dtype == np.uint8 and image.shape == (record.height, record.width, 3)
        assert read_image_size(record.path) == (record.width, record.height)
    data_config = DataConfig(input_size=(64, 64), skip_bad_images=bool(skipped))
    dataset = DetectionDataset(records, data_config, train=False)
    assert all(dataset[i]["img"].shape == (3, 64, 64) for i in range(len(dataset)))
    cases = [r for r in records if Path(r.path).stem == "case"]
    if spec.case_size is not None:
        (record,) = cases
        assert (record.width, record.height) == spec.case_size
    if spec.box_on_white:
        x1, y1, x2, y2 = np.round(cases[0].boxes[0]).astype(int)
        assert (x1, y1, x2, y2) == (10, 5, 30, 15)
        assert load_image(cases[0].path)[y1:y2, x1:x2].min() > 200


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) >= 35 and len({c.name for c in CASES}) == len(CASES)
