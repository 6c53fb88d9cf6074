"""``Detector``: images in, detections in original pixels out, whatever runtime runs the model."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from nanodet_plus.data.preprocess import PreparedBatch, preprocess, read_image
from nanodet_plus.errors import UsageError
from nanodet_plus.model_meta import ModelMeta
from nanodet_plus.postprocess import postprocess
from nanodet_plus.runtime.base import Backend
from nanodet_plus.structures import Detections

logger = logging.getLogger(__name__)

ImageInput = np.ndarray | str | Path


class Detector:
    """Run a NanoDet-Plus model on BGR images or image files.

    ``model_or_backend`` is a PyTorch model (wrapped in a :class:`TorchBackend` on ``device``)
    or any :class:`Backend`. ``input_size`` (``(width, height)``), ``keep_ratio`` and
    ``class_names`` default to the backend's :class:`ModelMeta`. ``score_thr``, ``iou_thr`` and
    ``max_det`` drive the shared post-processing (the official evaluation uses 0.05/0.6/100;
    0.35 is the official demo's display threshold). Lists are run ``batch_size`` at a time.
    """

    def __init__(
        self,
        model_or_backend: nn.Module | Backend,
        class_names: Sequence[str] | None = None,
        input_size: tuple[int, int] | None = None,
        keep_ratio: bool | None = None,
        score_thr: float = 0.35,
        iou_thr: float = 0.6,
        max_det: int = 100,
        device: str | None = "cpu",
        *,
        batch_size: int = 8,
        fuse: bool = False,
    ) -> None:
        if isinstance(model_or_backend, nn.Module):
            from nanodet_plus.runtime.torch_backend import TorchBackend

            model_or_backend = TorchBackend(model_or_backend, device=device, fuse=fuse)
        if not hasattr(model_or_backend, "infer") or not hasattr(model_or_backend, "meta"):
            raise UsageError(
                f"expected a torch model or a Backend, got {type(model_or_backend).__name__}"
            )
        self.backend: Backend = model_or_backend
        meta: ModelMeta = self.backend.meta
        self.input_size = (
            (int(input_size[0]), int(input_size[1])) if input_size else tuple(meta.input_size)
        )
        if meta.fixed_shape and self.input_size != tuple(meta.input_size):
            raise UsageError(
                f"this {getattr(self.backend, 'name', 'model')} model has a fixed input size "
                f"{tuple(meta.input_size)}; got input_size {self.input_size}"
            )
        self.keep_ratio = meta.keep_ratio if keep_ratio is None else bool(keep_ratio)
        names = list(class_names) if class_names is not None else meta.class_names
        if names is not None and len(names) != meta.num_classes:
            raise UsageError(
                f"{len(names)} class names given for a model with {meta.num_classes} classes"
            )
        self.class_names: list[str] | None = names
        self.score_thr = float(score_thr)
        self.iou_thr = float(iou_thr)
        self.max_det = int(max_det)
        self.batch_size = int(meta.batch_size or batch_size)

    @property
    def meta(self) -> ModelMeta:
        return self.backend.meta

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        format: str | None = None,
        config: Any = None,
        device: str | None = "cpu",
        fuse: bool = False,
        **detector_options: Any,
    ) -> Detector:
        """Open any supported model file (``.pth``/``.ckpt`` via PyTorch, exported formats via
        their registered backends) and wrap it. ``config`` fixes a checkpoint's architecture;
        without it a checkpoint's stored config is used, else the one its weights imply."""
        from nanodet_plus.runtime.registry import load_backend

        backend = load_backend(path, format, config=config, device=device, fuse=fuse)
        return cls(backend, device=device, **detector_options)

    def __call__(
        self, source: ImageInput | Sequence[ImageInput]
    ) -> Detections | list[Detections]:
        """Detect in one image (-> Detections) or a list of images (-> list of Detections)."""
        if isinstance(source, (np.ndarray, str, Path)):
            return self.detect([source])[0]
        return self.detect(list(source))

    def detect(self, sources: Sequence[ImageInput]) -> list[Detections]:
        """Detections for each image or path, in order, run ``batch_size`` images at a time."""
        results: list[Detections] = []
        for start in range(0, len(sources), self.batch_size):
            chunk = sources[start : start + self.batch_size]
            images, paths = [], []
            for item in chunk:
                if isinstance(item, (str, Path)):
                    images.append(read_image(item))
                    paths.append(str(item))
                else:
                    images.append(item)
                    paths.append(None)
            results.extend(self.detect_images(images, paths))
        return results

    def prepare(self, images: Sequence[np.ndarray]) -> PreparedBatch:
        """Warp, normalise and pad ``images`` into one input batch for this model."""
        meta = self.meta
        return preprocess(
            images,
            self.input_size,
            keep_ratio=self.keep_ratio,
            mean=meta.mean,
            std=meta.std,
            min_wh=self.input_size if meta.fixed_shape else None,
        )

    def detect_images(
        self, images: Sequence[np.ndarray], paths: Sequence[str | None] | None = None
    ) -> list[Detections]:
        """One batch of BGR images through preprocess, backend and post-processing."""
        prepared = self.prepare(images)
        batch = prepared.images
        fixed_batch = self.meta.batch_size
        if fixed_batch and batch.shape[0] < fixed_batch:
            filler = np.zeros((fixed_batch - batch.shape[0], *batch.shape[1:]), batch.dtype)
            batch = np.concatenate([batch, filler])
        infer_tensor = getattr(self.backend, "infer_tensor", None)
        raw = infer_tensor(batch) if infer_tensor is not None else self.backend.infer(batch)
        raw = raw[: len(images)]
        return postprocess(
            raw,
            self.meta,
            prepared.input_hw,
            prepared.warp_matrices,
            prepared.orig_sizes,
            score_thr=self.score_thr,
            iou_thr=self.iou_thr,
            max_det=self.max_det,
            class_names=self.class_names,
            paths=paths,
        )
