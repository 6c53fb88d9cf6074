"""Offline benchmark datasets for training recipes, unlike the synthetic demo shapes.

Issue 13: the default training recipe must be judged on data unlike the demo shapes. Every
image is built from real material that installs offline and is a function of
``(dataset, seed, split, index)`` only:

* ``digits-on-textures`` (800 train / 200 val, 256-400 px, 10 classes): real handwritten
  digits (scikit-learn's bundled 8x8 digits, 43 writers), upscaled smoothly to 20-96 px tall,
  warped, thresholded and blended in ink colours on crops of scikit-image's real textures and
  photographs (some as textured paper); 1-7 digits per image, no overlaps. Train and val draw
  their digits from disjoint parts (80% / 20%) of the samples. It stands in for the held-out
  set (real handwriting on textured backgrounds, 800 / 200 images, 10 classes, 256-400 px).
* ``words-on-photos`` (2400 train / 300 val, 384-640 px, 12 classes): 12 English words
  rendered in 21 fonts bundled with matplotlib (DejaVu Sans/Serif/Mono, STIX, Computer
  Modern; three letter cases, rotation, outlines) at 16-48 px, on crops of scikit-image's
  real photographs, textures and printed pages, with 0-4 unlabelled distractor words; 4-18
  labelled words per image, small (median 25 px tall in a 512 px image) and 1.6-4x as wide
  as tall. A detector has to read to tell the classes apart.

Boxes are tight around the pixels drawn (alpha >= ``ALPHA_FLOOR``; fainter edge pixels are not
drawn), never cut by the image border. Needs ``pip install -e '.[bench]'``.

    .venv/bin/python benchmarks/recipe_datasets.py --out runs/bench_recipe/data \
        [--datasets digits-on-textures,words-on-photos] [--seed 0] [--mosaic /tmp]
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

GENERATOR_VERSION = 1  # bump when any image changes for the same seed
ALPHA_FLOOR = 0.2  # coverage below this is not drawn, so the box is exactly what is visible
SPLITS = ("train", "val")

TEXTURES = ("brick", "grass", "gravel", "moon", "coins", "cell")
PHOTOS = ("astronaut", "chelsea", "cat", "coffee", "rocket", "hubble_deep_field", "retina",
          "immunohistochemistry", "camera", "clock", "motorcycle")
PRINTED = ("page", "text")  # real printed text: hard negatives for the words

DIGIT_NAMES = tuple(str(d) for d in range(10))
WORDS = ("cat", "dog", "sun", "tree", "fish", "bird", "house", "river", "stone", "cloud",
         "apple", "green")
DISTRACTOR_WORDS = ("the", "and", "with", "from", "into", "over", "under", "light", "water",
                    "paper", "time", "road", "cut", "dig", "sum", "tea", "bread", "store")
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf",
              "DejaVuSans-BoldOblique.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
              "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf", "DejaVuSansMono.ttf",
              "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf",
              "DejaVuSansMono-BoldOblique.ttf", "STIXGeneral.ttf", "STIXGeneralBol.ttf",
              "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf", "cmr10.ttf", "cmss10.ttf",
              "cmtt10.ttf", "cmti10.ttf", "cmb10.ttf")
# BGR ink colours of pens and pencils on light ground, and of chalk on dark ground
DARK_INKS = ((25, 20, 20), (120, 45, 20), (90, 30, 10), (40, 30, 170), (50, 90, 30),
             (70, 70, 70), (60, 40, 40))
LIGHT_INKS = ((235, 240, 240), (120, 225, 240), (230, 220, 200))


@dataclass
class Sample:
    """One generated image with its tight xyxy boxes (integer pixel edges) and labels."""

    image: np.ndarray  # uint8 BGR [h, w, 3]
    boxes: list[list[int]]
    labels: list[int]


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is: classes, default split sizes, preset and the function of one image."""

    name: str
    class_names: tuple[str, ...]
    train_images: int
    val_images: int
    preset: str
    render: Callable[[np.random.Generator, str], Sample]
    description: str


# ----------------------------------------------------------------------------- material
@functools.cache
def _material(name: str) -> np.ndarray:
    """A bundled scikit-image picture as BGR uint8 (grey ones repeated to three channels)."""
    import skimage.data

    image = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" \
        else getattr(skimage.data, name)()
    image = np.asarray(image)
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., 2::-1])


@functools.cache
def _digit_pool() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1797 handwritten digits: images float32 [n, 8, 8] in [0, 1], labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images / 16.0).astype(np.float32), digits.target.astype(np.int64)


def _digit_indices(split: str) -> np.ndarray:
    """Disjoint digit samples per split (a fixed permutation, 80% train), as for new writers."""
    order = np.random.default_rng(1797).permutation(len(_digit_pool()[1]))
    cut = int(len(order) * 0.8)
    return order[:cut] if split == "train" else order[cut:]


@functools.cache
def _font(file_name: str, size: int) -> Any:
    """A TrueType font bundled with matplotlib (so the same on every installation)."""
    import matplotlib
    from PIL import ImageFont

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / file_name),
                              size)


def preload() -> None:
    """Load every picture, digit and font once, before worker processes fork."""
    for name in (*TEXTURES, *PHOTOS, *PRINTED):
        _material(name)
    _digit_pool()
    for file_name in FONT_FILES:
        _font(file_name, 20)


# --------------------------------------------------------------------------- backgrounds
def _crop(rng: np.random.Generator, source: np.ndarray, width: int, height: int,
          zoom: tuple[float, float]) -> np.ndarray:
    """A random crop of ``source`` scaled to ``width`` x ``height`` by a factor from ``zoom``."""
    src_h, src_w = source.shape[:2]
    scale = max(rng.uniform(*zoom), width / src_w, height / src_h)
    crop_w, crop_h = min(src_w, round(width / scale)), min(src_h, round(height / scale))
    x0 = int(rng.integers(0, src_w - crop_w + 1))
    y0 = int(rng.integers(0, src_h - crop_h + 1))
    patch = source[y0:y0 + crop_h, x0:x0 + crop_w]
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    patch = cv2.resize(patch, (width, height), interpolation=interpolation)
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    if rng.random() < 0.25:
        patch = patch[::-1]
    return np.ascontiguousarray(patch)


def _jitter(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Colour jitter: a tint for grey pictures, hue/saturation shifts for colour ones, then
    brightness, contrast and gamma."""
    pixels = image.astype(np.float32)
    if all(np.array_equal(image[..., 0], image[..., c]) for c in (1, 2)):  # a grey picture
        tint = rng.uniform(0.55, 1.0, 3).astype(np.float32)
        pixels *= tint / tint.max()
    else:
        hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-12, 12)) % 180
        hsv[..., 1] *= rng.uniform(0.6, 1.3)
        pixels = cv2.cvtColor(hsv.clip(0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR)
        pixels = pixels.astype(np.float32)
    mean = pixels.mean()
    pixels = (pixels - mean) * rng.uniform(0.7, 1.2) + mean * rng.uniform(0.75, 1.2)
    pixels = 255.0 * (pixels.clip(0, 255) / 255.0) ** rng.uniform(0.8, 1.25)
    return pixels.clip(0, 255).astype(np.uint8)


def _paper(rng: np.random.Generator, texture: np.ndarray) -> np.ndarray:
    """Textured paper or card: a light base colour darkened faintly by a real texture."""
    base = np.array([rng.uniform(200, 255), rng.uniform(205, 255), rng.uniform(215, 255)],
                    np.float32)
    grey = cv2.cvtColor(texture, cv2.COLOR_BGR2GRAY).astype(np.float32)
    grey = (grey - grey.mean()) / max(float(grey.std()), 1.0)
    paper = base - grey[..., None] * rng.uniform(6, 22)
    return paper.clip(0, 255).astype(np.uint8)


def _background(rng: np.random.Generator, width: int, height: int,
                sources: tuple[str, ...], paper_probability: float) -> np.ndarray:
    source = _material(sources[int(rng.integers(0, len(sources)))])
    image = _jitter(rng, _crop(rng, source, width, height, (0.5, 2.0)))
    return _paper(rng, image) if rng.random() < paper_probability else image


# ------------------------------------------------------------------------------ drawing
def _tight(alpha: np.ndarray) -> np.ndarray:
    """``alpha`` cut to the pixels at or above ``ALPHA_FLOOR`` (the rest set to 0)."""
    alpha = np.where(alpha >= ALPHA_FLOOR, alpha, 0).astype(np.float32)
    ys, xs = np.nonzero(alpha)
    return alpha[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def _rotate(alpha: np.ndarray, angle: float, shear: float = 0.0,
            stretch: float = 1.0) -> np.ndarray:
    """``alpha`` rotated by ``angle`` degrees, sheared and stretched, on a canvas large enough."""
    h, w = alpha.shape
    side = math.ceil(math.hypot(h, w) * max(stretch, 1.0) * (1 + abs(shear))) + 4
    centre = np.array([w / 2, h / 2])
    linear = cv2.getRotationMatrix2D((0, 0), angle, 1.0)[:, :2] @ np.array(
        [[stretch, shear], [0.0, 1.0]])
    offset = np.array([side / 2, side / 2]) - linear @ centre
    matrix = np.hstack([linear, offset[:, None]])
    return cv2.warpAffine(alpha, matrix, (side, side), flags=cv2.INTER_LINEAR)


def _blend(image: np.ndarray, alpha: np.ndarray, colour: np.ndarray, left: int, top: int,
           multiply: bool) -> None:
    """Draw ``colour`` with coverage ``alpha`` at (left, top): a multiplied ink (the ground shows
    through, like pen on paper) or an opaque paint."""
    h, w = alpha.shape
    region = image[top:top + h, left:left + w].astype(np.float32)
    a = alpha[..., None]
    if multiply:
        region *= 1 - a * (1 - colour / 255.0)
    else:
        region += a * (colour - region)
    image[top:top + h, left:left + w] = region.clip(0, 255).astype(np.uint8)


def _place(rng: np.random.Generator, size: tuple[int, int], shape: tuple[int, int],
           taken: list[list[int]], gap: int) -> tuple[int, int] | None:
    """(left, top) of a ``shape`` (h, w) patch inside the image, ``gap`` px from every taken
    box; None when ten random tries all collide."""
    width, height = size
    h, w = shape
    if w > width or h > height:
        return None
    for _ in range(10):
        left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        if all(left + w + gap <= x1 or x2 + gap <= left or top + h + gap <= y1 or y2 + gap <= top
               for x1, y1, x2, y2 in taken):
            return left, top
    return None


def _ink_for(rng: np.random.Generator, region: np.ndarray) -> tuple[np.ndarray, bool]:
    """An ink that shows on ``region``: dark pens (multiplied) on light ground, else chalk."""
    if region.mean() > 110:
        inks = DARK_INKS
        multiply = True
    else:
        inks = LIGHT_INKS
        multiply = False
    colour = np.array(inks[int(rng.integers(0, len(inks)))], np.float32)
    return (colour + rng.normal(0, 8, 3)).clip(0, 255).astype(np.float32), multiply


def _finish(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Camera-like finish: sometimes a slight blur, always a little sensor noise."""
    if rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.4, 0.9))
    noise = rng.normal(0, rng.uniform(1, 6), image.shape[:2]).astype(np.float32)
    return (image.astype(np.float32) + noise[..., None]).clip(0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------- digits
def _digit_alpha(rng: np.random.Generator, pixels: np.ndarray, height: int) -> np.ndarray:
    """An 8x8 handwritten digit as a smooth stroke ``height`` px tall: cubic upscaling, a
    random slant, rotation and width, and a threshold that sets the stroke weight (0.48-0.6
    of the peak keeps the loops open and the strokes whole)."""
    canvas = np.zeros((16, 16), np.float32)
    canvas[4:12, 4:12] = pixels
    big = cv2.GaussianBlur(cv2.resize(canvas, (128, 128), interpolation=cv2.INTER_CUBIC),
                           (0, 0), rng.uniform(1.0, 2.0))
    big = _rotate(big / float(big.max()), rng.uniform(-12, 12), rng.uniform(-0.3, 0.3),
                  rng.uniform(0.8, 1.15))
    alpha = _tight(np.clip((big - rng.uniform(0.48, 0.6)) / 0.1, 0, 1))
    width = max(2, round(alpha.shape[1] * height / alpha.shape[0]))
    alpha = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_AREA)
    return _tight(alpha * rng.uniform(0.75, 1.0))


def _scribble(rng: np.random.Generator, image: np.ndarray) -> None:
    """An unlabelled pen stroke (a smooth random curve), as on real written pages."""
    height, width = image.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    points = np.cumsum(rng.normal(0, 12, (int(rng.integers(4, 10)), 2)), axis=0)
    points += [rng.uniform(0, width), rng.uniform(0, height)]
    cv2.polylines(mask, [points.astype(np.int32)[:, None]], False, 255,
                  int(rng.integers(1, 4)), cv2.LINE_AA)
    colour, multiply = _ink_for(rng, image)
    _blend(image, mask.astype(np.float32) / 255.0, colour, 0, 0, multiply)


def render_digits(rng: np.random.Generator, split: str) -> Sample:
    """One digits-on-textures image: 256-400 px, 1-7 handwritten digits 24-96 px tall."""
    width, height = (int(v) for v in rng.integers(256, 401, 2))
    image = _background(rng, width, height, TEXTURES + PHOTOS, paper_probability=0.4)
    for _ in range(int(rng.integers(0, 3))):
        _scribble(rng, image)
    images, targets = _digit_pool()
    pool = _digit_indices(split)
    boxes: list[list[int]] = []
    labels: list[int] = []
    count = int(rng.choice([1, 2, 3, 4, 5, 6, 7], p=[.1, .15, .2, .2, .15, .1, .1]))
    for _ in range(count):
        top_size = max(24, min(96, int(min(width, height) * 0.45)))
        size = round(math.exp(rng.uniform(math.log(24), math.log(top_size))))
        index = int(pool[int(rng.integers(0, len(pool)))])
        alpha = _digit_alpha(rng, images[index], size)
        spot = _place(rng, (width, height), alpha.shape, boxes, gap=3)
        if spot is None:
            continue
        left, top = spot
        region = image[top:top + alpha.shape[0], left:left + alpha.shape[1]]
        colour, multiply = _ink_for(rng, region)
        _blend(image, alpha, colour, left, top, multiply)
        boxes.append([left, top, left + alpha.shape[1], top + alpha.shape[0]])
        labels.append(int(targets[index]))
    return Sample(_finish(rng, image), boxes, labels)


# -------------------------------------------------------------------------------- words
def _text_alpha(rng: np.random.Generator, text: str, font_file: str, size: int) -> np.ndarray:
    """``text`` rendered in a real font at ``size`` px, slightly rotated, as coverage."""
    from PIL import Image, ImageDraw

    font = _font(font_file, size)
    left, top, right, bottom = font.getbbox(text)
    pad = size // 2
    canvas = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
    ImageDraw.Draw(canvas).text((pad - left, pad - top), text, fill=255, font=font)
    alpha = np.asarray(canvas, np.float32) / 255.0
    angle = rng.normal(0, 4) if rng.random() < 0.8 else rng.uniform(-25, 25)
    return _tight(_rotate(alpha, angle))


def _word_text(rng: np.random.Generator, word: str) -> str:
    case = rng.random()
    return word if case < 0.5 else word.capitalize() if case < 0.75 else word.upper()


def _draw_word(rng: np.random.Generator, image: np.ndarray, word: str,
               taken: list[list[int]]) -> list[int] | None:
    """Draw ``word`` somewhere free (maybe outlined) and return its tight box, or None."""
    height = image.shape[0]
    size = round(math.exp(rng.uniform(math.log(16), math.log(48))))
    font_file = FONT_FILES[int(rng.integers(0, len(FONT_FILES)))]
    alpha = _text_alpha(rng, _word_text(rng, word), font_file, size)
    outline = None
    if rng.random() < 0.25:
        thickness = 1 + int(size > 30)
        kernel = np.ones((2 * thickness + 1, 2 * thickness + 1), np.uint8)
        outline = cv2.dilate(np.pad(alpha, thickness), kernel)
        alpha = np.pad(alpha, thickness)
    shape = (outline if outline is not None else alpha).shape
    spot = _place(rng, (image.shape[1], height), shape, taken, gap=2)
    if spot is None:
        return None
    left, top = spot
    region = image[top:top + shape[0], left:left + shape[1]]
    light = region.mean() < 120
    colour = _contrasting_colour(rng, light)
    if outline is not None:
        _blend(image, outline, _contrasting_colour(rng, not light), left, top, multiply=False)
    _blend(image, alpha * rng.uniform(0.85, 1.0), colour, left, top, multiply=False)
    return [left, top, left + shape[1], top + shape[0]]


def _contrasting_colour(rng: np.random.Generator, light: bool) -> np.ndarray:
    """A random hue at a value that stands out: light on dark ground, dark on light ground."""
    value = rng.uniform(200, 255) if light else rng.uniform(0, 70)
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(0, 255), value]]], np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def render_words(rng: np.random.Generator, split: str) -> Sample:
    """One words-on-photos image: 384-640 px, 4-18 labelled words and 0-4 distractors."""
    del split  # both splits use every font and photo; only the seeds differ
    width, height = (int(v) for v in rng.integers(384, 641, 2))
    image = _background(rng, width, height, PHOTOS + PHOTOS + TEXTURES + PRINTED,
                        paper_probability=0.1)
    boxes: list[list[int]] = []
    labels: list[int] = []
    taken: list[list[int]] = []
    for _ in range(int(rng.integers(0, 5))):
        word = DISTRACTOR_WORDS[int(rng.integers(0, len(DISTRACTOR_WORDS)))]
        box = _draw_word(rng, image, word, taken)
        if box is not None:
            taken.append(box)
    for _ in range(int(rng.integers(4, 19))):
        label = int(rng.integers(0, len(WORDS)))
        box = _draw_word(rng, image, WORDS[label], taken)
        if box is not None:
            taken.append(box)
            boxes.append(box)
            labels.append(label)
    return Sample(_finish(rng, image), boxes, labels)


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec for spec in (
        DatasetSpec("digits-on-textures", DIGIT_NAMES, 800, 200, "nanodet-plus-m_320",
                    render_digits, "real handwritten digits on real textures and photos, "
                    "256-400 px, 20-96 px tall (median 48), 1-7 per image"),
        DatasetSpec("words-on-photos", WORDS, 2400, 300, "nanodet-plus-m_320", render_words,
                    "12 words in 21 real fonts on real photos, 384-640 px, 8-110 px tall "
                    "(median 25, 2.6x as wide), 4-18 per image plus distractor words"),
    )
}


# ------------------------------------------------------------------------------ writing
def check_sample(sample: Sample, num_classes: int) -> None:
    """Raise ValueError unless every box is inside the image, at least 2 px each way and
    labelled with a known class."""
    height, width = sample.image.shape[:2]
    for (x1, y1, x2, y2), label in zip(sample.boxes, sample.labels, strict=True):
        if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
            raise ValueError(f"box {[x1, y1, x2, y2]} outside the {width}x{height} image")
        if x2 - x1 < 2 or y2 - y1 < 2:
            raise ValueError(f"degenerate box {[x1, y1, x2, y2]}")
        if not 0 <= label < num_classes:
            raise ValueError(f"label {label} not in 0..{num_classes - 1}")


def _render_job(job: tuple[str, str, int, int, str]) -> tuple[int, int, int, list, list]:
    """Render, check and write image ``index`` of a split; return its COCO facts."""
    name, split, seed, index, out_dir = job
    cv2.setNumThreads(1)
    spec = DATASETS[name]
    rng = np.random.default_rng([seed, SPLITS.index(split), index, GENERATOR_VERSION])
    sample = spec.render(rng, split)
    check_sample(sample, len(spec.class_names))
    cv2.imwrite(str(Path(out_dir) / "images" / split / f"{index + 1:06d}.jpg"), sample.image,
                [cv2.IMWRITE_JPEG_QUALITY, 92])
    height, width = sample.image.shape[:2]
    return index, width, height, sample.boxes, sample.labels


def _coco(spec: DatasetSpec, results: list[tuple[int, int, int, list, list]]) -> dict:
    coco: dict = {"images": [], "annotations": [],
                  "categories": [{"id": i + 1, "name": n} for i, n in enumerate(spec.class_names)]}
    for index, width, height, boxes, labels in sorted(results):
        coco["images"].append({"id": index + 1, "file_name": f"{index + 1:06d}.jpg",
                               "width": width, "height": height})
        for (x1, y1, x2, y2), label in zip(boxes, labels):
            coco["annotations"].append({
                "id": len(coco["annotations"]) + 1, "image_id": index + 1,
                "category_id": label + 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    return coco


def _config(spec: DatasetSpec) -> dict:
    """The dataset's config: preset, classes and splits only, nothing of a training recipe
    (model.num_classes is there because the config loader requires it to match)."""
    return {
        "preset": spec.preset,
        "model": {"num_classes": len(spec.class_names)},
        "class_names": list(spec.class_names),
        "data": {split: {"format": "coco", "img_path": f"images/{split}",
                         "ann_path": f"{split}.json"} for split in SPLITS},
    }


def generate(name: str, out_dir: str | Path, seed: int = 0, train_images: int | None = None,
             val_images: int | None = None, workers: int | None = None) -> Path:
    """Write dataset ``name`` into ``out_dir`` (images, ``train.json``, ``val.json``, the
    config ``<name>.yaml``, and ``dataset.json`` last); return the config's path."""
    spec = DATASETS[name]
    out_dir = Path(out_dir)
    counts = {"train": spec.train_images if train_images is None else train_images,
              "val": spec.val_images if val_images is None else val_images}
    workers = min(4, os.cpu_count() or 1) if workers is None else workers
    start = time.perf_counter()
    preload()
    (out_dir / "dataset.json").unlink(missing_ok=True)
    jobs = []
    for split in SPLITS:
        (out_dir / "images" / split).mkdir(parents=True, exist_ok=True)
        jobs += [(name, split, seed, index, str(out_dir)) for index in range(counts[split])]
    if workers > 1 and len(jobs) > 1:
        import multiprocessing

        # spawn, not fork: a fork after OpenCV has started its threads can hang
        with multiprocessing.get_context("spawn").Pool(workers, initializer=preload) as pool:
            results = pool.map(_render_job, jobs, chunksize=8)
    else:
        results = [_render_job(job) for job in jobs]
    summary: dict = {"name": name, "seed": seed, "version": GENERATOR_VERSION,
                     "description": spec.description, "splits": {}}
    for split in SPLITS:
        coco = _coco(spec, [r for job, r in zip(jobs, results) if job[1] == split])
        (out_dir / f"{split}.json").write_text(json.dumps(coco))
        summary["splits"][split] = _split_summary(coco)
    config_path = out_dir / f"{name}.yaml"
    config_path.write_text(f"# {name} (seed {seed}): {spec.description}\n"
                           + yaml.safe_dump(_config(spec), sort_keys=False))
    summary["seconds"] = round(time.perf_counter() - start, 1)
    (out_dir / "dataset.json").write_text(json.dumps(summary, indent=2))
    return config_path


def _split_summary(coco: dict) -> dict:
    """Counts and object sizes (median and range of the box height) of one split."""
    heights = sorted(a["bbox"][3] for a in coco["annotations"])
    return {"images": len(coco["images"]), "boxes": len(heights),
            "box_height_px": [heights[0], heights[len(heights) // 2], heights[-1]]
            if heights else []}


def ensure(name: str, root: str | Path, seed: int = 0, train_images: int | None = None,
           val_images: int | None = None) -> Path:
    """The config of dataset ``name`` under ``root/name``, generated unless a complete copy of
    the same seed, sizes and generator version is there."""
    spec = DATASETS[name]
    out_dir = Path(root) / name
    marker = out_dir / "dataset.json"
    want = {"train": spec.train_images if train_images is None else train_images,
            "val": spec.val_images if val_images is None else val_images}
    if marker.exists():
        done = json.loads(marker.read_text())
        if (done.get("seed"), done.get("version")) == (seed, GENERATOR_VERSION) and \
                {s: done["splits"][s]["images"] for s in SPLITS} == want:
            return out_dir / f"{name}.yaml"
    return generate(name, out_dir, seed, want["train"], want["val"])


def mosaic(data_dir: str | Path, split: str = "train", count: int = 12,
           tile: int = 320) -> np.ndarray:
    """The first ``count`` images of a generated split with their boxes and class names, tiled
    four across: for a visual check of the labels."""
    data_dir = Path(data_dir)
    coco = json.loads((data_dir / f"{split}.json").read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    tiles = []
    for info in coco["images"][:count]:
        image = cv2.imread(str(data_dir / "images" / split / info["file_name"]))
        for ann in coco["annotations"]:
            if ann["image_id"] != info["id"]:
                continue
            x, y, w, h = ann["bbox"]
            cv2.rectangle(image, (x, y), (x + w - 1, y + h - 1), (0, 255, 0), 1)
            cv2.putText(image, names[ann["category_id"]], (x, max(y - 2, 8)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 255, 255), 1, cv2.LINE_AA)
        scale = tile / max(image.shape[:2])
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        canvas = np.full((tile, tile, 3), 40, np.uint8)
        canvas[:image.shape[0], :image.shape[1]] = image
        tiles.append(canvas)
    tiles += [np.full((tile, tile, 3), 40, np.uint8)] * (-len(tiles) % 4)
    rows = [np.hstack(tiles[i:i + 4]) for i in range(0, len(tiles), 4)]
    return np.vstack(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/bench_recipe/data", help="parent folder")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated names")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", type=int, default=None, help="training images (default: spec)")
    parser.add_argument("--val", type=int, default=None, help="val images (default: spec)")
    parser.add_argument("--mosaic", default=None, help="also write NAME-mosaic.png here")
    args = parser.parse_args()
    for name in args.datasets.split(","):
        config = generate(name, Path(args.out) / name, args.seed, args.train, args.val)
        print(json.dumps(json.loads((config.parent / "dataset.json").read_text())))
        if args.mosaic:
            Path(args.mosaic).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(Path(args.mosaic) / f"{name}-mosaic.png"), mosaic(config.parent))


if __name__ == "__main__":
    main()
