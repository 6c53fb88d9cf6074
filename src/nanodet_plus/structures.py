"""Plain result containers shared by every runtime, the evaluator and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Detections:
    """Detections of one image in original-image pixels.

    Shapes: ``boxes`` [N, 4] float32 xyxy, ``scores`` [N] float32, ``labels`` [N] int64,
    sorted by descending score. ``names`` holds the class name of each row.
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    names: list[str] = field(default_factory=list)
    image_size: tuple[int, int] | None = None  # (width, height) of the original image
    path: str | None = None

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @classmethod
    def empty(
        cls, image_size: tuple[int, int] | None = None, path: str | None = None
    ) -> Detections:
        return cls(
            boxes=np.zeros((0, 4), np.float32),
            scores=np.zeros((0,), np.float32),
            labels=np.zeros((0,), np.int64),
            names=[],
            image_size=image_size,
            path=path,
        )

    def to_rows(self) -> np.ndarray:
        """``[N, 6]`` rows ``(label, x1, y1, x2, y2, score)``, the reference-file layout."""
        return np.concatenate(
            [self.labels[:, None].astype(np.float32), self.boxes, self.scores[:, None]], axis=1
        )


@dataclass
class ImageRecord:
    """One annotated image, identical whichever format (COCO, VOC, YOLO) it was read from.

    ``boxes`` [n, 4] float32 xyxy in original pixels, ``labels`` [n] int64 contiguous class
    indices, ``ignore_boxes`` [m, 4] float32 (COCO ``iscrowd``, VOC ``difficult`` when ignored).
    """

    path: str
    width: int
    height: int
    boxes: np.ndarray
    labels: np.ndarray
    ignore_boxes: np.ndarray
    image_id: int
    file_name: str
