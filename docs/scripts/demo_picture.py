"""Make docs/assets/demo-detections.jpg from the annotated val images of a `nanodet demo` run.

    .venv/bin/python docs/scripts/demo_picture.py runs/demo
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "assets" / "demo-detections.jpg"
TILE = 260
GAP = 4
COLUMNS, ROWS = 4, 2


def tile(path: Path) -> np.ndarray:
    """The image scaled to fit a TILE x TILE square, centred on white."""
    image = cv2.imread(str(path))
    scale = TILE / max(image.shape[:2])
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    square = np.full((TILE, TILE, 3), 255, np.uint8)
    top, left = (TILE - small.shape[0]) // 2, (TILE - small.shape[1]) // 2
    square[top:top + small.shape[0], left:left + small.shape[1]] = small
    return square


def main(run_dir: str = "runs/demo") -> int:
    images = sorted((Path(run_dir) / "predict").glob("*.jpg"))[: COLUMNS * ROWS]
    if len(images) < COLUMNS * ROWS:
        print(f"{run_dir}/predict holds {len(images)} images; run `make demo` first")
        return 1
    step = TILE + GAP
    canvas = np.full((ROWS * step - GAP, COLUMNS * step - GAP, 3), 255, np.uint8)
    for index, path in enumerate(images):
        row, column = divmod(index, COLUMNS)
        canvas[row * step:row * step + TILE, column * step:column * step + TILE] = tile(path)
    cv2.imwrite(str(OUT), canvas, [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
