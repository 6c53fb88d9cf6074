"""Turn the outputs of an exported graph back into the flat raw ``[B, N, C + 4(R+1)]`` layout."""

from __future__ import annotations

import numpy as np

from nanodet_plus.export.meta import layout_of
from nanodet_plus.runtime.base import ModelMeta


def to_flat(outputs: list[np.ndarray], meta: ModelMeta) -> np.ndarray:
    """The flat raw output from a graph's outputs, whatever its layout.

    ``per-level`` outputs (class scores of every level, then distance logits of every level)
    are joined back; ``end2end`` graphs hold no raw output, so they cannot feed the shared
    post-processing.
    """
    layout = layout_of(meta)
    if layout == "flat":
        return np.ascontiguousarray(outputs[0], dtype=np.float32)
    if layout == "per-level":
        levels = len(outputs) // 2
        joined = [
            np.concatenate([outputs[i], outputs[levels + i]], axis=-1) for i in range(levels)
        ]
        return np.ascontiguousarray(np.concatenate(joined, axis=1), dtype=np.float32)
    raise ValueError(
        f"a '{layout}' export has decoding in its graph and gives no raw output; "
        "export without --end2end to run it with Detector"
    )
