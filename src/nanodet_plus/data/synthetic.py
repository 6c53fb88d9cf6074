"""A deterministic synthetic scene: the image exports and runtimes check their outputs on
when the user gives none."""

from __future__ import annotations

import numpy as np


def synthetic_image(width: int = 640, height: int = 480, seed: int = 0) -> np.ndarray:
    """A deterministic BGR uint8 scene (smooth background, filled shapes) for verification."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(12):
        x, y = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 40))
        w, h = int(rng.integers(20, width // 3)), int(rng.integers(20, height // 3))
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        if rng.random() < 0.5:
            cv2.rectangle(image, (x, y), (x + w, y + h), colour, -1)
        else:
            cv2.ellipse(image, (x, y), (w // 2, h // 2), 0, 0, 360, colour, -1)
    return image
