"""What every runtime backend provides."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from nanodet_plus.model_meta import ModelMeta


class Backend(Protocol):
    """A runtime that runs the detector graph."""

    meta: ModelMeta
    name: str

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """``[B, 3, H, W]`` float32 normalised BGR -> raw ``[B, N, C + 4 * (R + 1)]`` float32."""
        ...
