"""``Detector``: images in, detections in original pixels out, whatever runtime runs the model."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np
from torch import nn

from nanodet_plus.data.preprocess import (
    PreparedBatch,
    normalized_batch,
    read_image,
    warp_images,
)
from nanodet_plus.errors import UsageError
from nanodet_plus.model_meta import ModelMeta
from nanodet_plus.postprocess import postprocess
from nanodet_plus.runtime.base import Backend
from nanodet_plus.structures import Detections

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

ImageInput = Union[np.ndarray, str, Path, "PILImage"]


def _is_pil_image(item: Any) -> bool:
    """Whether ``item`` is a PIL image, without importing PIL (an optional package)."""
    return type(item).__module__.startswith("PIL.") and hasattr(item, "convert")


def as_bgr_array(item: Any, index: int = 0) -> np.ndarray:
    """A uint8 HxW, HxWx3 (BGR) or HxWx4 (BGRA) array for the preprocessing; a PIL image is
    converted from RGB. Anything else (None, an empty array, float pixels, two channels) is a
    UsageError naming image ``index`` and the problem, instead of a failure deep inside."""
    if _is_pil_image(item):
        return np.ascontiguousarray(np.asarray(item.convert("RGB"))[:, :, ::-1])
    if item is None:
        raise UsageError(f"image {index} is None, not an image (cv2.imread returns None for a "
                         "file it cannot read)")
    if not isinstance(item, np.ndarray):
        raise UsageError(f"image {index}: expected a BGR numpy array, a PIL image or a path, "
                         f"got {type(item).__name__}")
    if item.ndim not in (2, 3) or (item.ndim == 3 and item.shape[2] not in (1, 3, 4)):
        raise UsageError(f"image {index}: shape {tuple(item.shape)} is not HxW (gray), HxWx3 "
                         "(BGR) or HxWx4 (BGRA)")
    if item.shape[0] == 0 or item.shape[1] == 0:
        raise UsageError(f"image {index}: empty array of shape {tuple(item.shape)}")
    if item.dtype != np.uint8:
        raise UsageError(f"image {index}: pixels are {item.dtype}, expected uint8 (0-255)")
    return item[:, :, 0] if item.ndim == 3 and item.shape[2] == 1 else item


def _check_options(input_size: Any, score_thr: Any, iou_thr: Any, max_det: Any,
                   batch_size: Any) -> None:
    """One-line UsageErrors for Detector arguments out of range, before any work."""
    if input_size is not None:
        sizes = list(input_size) if isinstance(input_size, (list, tuple)) else [input_size]
        if len(sizes) != 2 or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 and v % 32 == 0
            for v in sizes
        ):
            raise UsageError(f"input_size {input_size!r}: expected (width, height), positive "
                             "multiples of 32")
    for name, value in (("score_thr", score_thr), ("iou_thr", iou_thr)):
        number = isinstance(value, (int, float, np.integer, np.floating))
        if isinstance(value, bool) or not number or not 0 <= value <= 1:
            raise UsageError(f"{name} {value!r} is out of range: it must be from 0 to 1")
    for name, value in (("max_det", max_det), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise UsageError(f"{name} {value!r} is out of range: it must be an integer >= 1")


class Detector:
    """Run a NanoDet-Plus model on BGR images, PIL images (RGB, converted) or image files.

    ``model_or_backend`` is a PyTorch model (wrapped in a :class:`TorchBackend` on ``device``)
    or any :class:`Backend`. ``input_size`` (``(width, height)``), ``keep_ratio`` and
    ``class_names`` default to the backend's :class:`ModelMeta`. ``score_thr``, ``iou_thr`` and
    ``max_det`` drive the shared post-processing (the official evaluation uses 0.05/0.6/100;
    0.35 is the official demo's display threshold). Lists are run ``batch_size`` at a time.
    ``fast_resize`` stretches images with ``cv2.resize`` instead of the official warp (about
    4x faster; :func:`~nanodet_plus.data.preprocess.resize_image`); ``from_file`` turns it on
    for the reduced-precision paths (bf16, INT8), whose outputs are not exact anyway.
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
        fast_resize: bool = False,
    ) -> None:
        _check_options(input_size, score_thr, iou_thr, max_det, batch_size)
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
        self.fast_resize = bool(fast_resize)

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
        precision: str = "auto",
        threads: int | None = None,
        **detector_options: Any,
    ) -> Detector:
        """Open any supported model file (``.pth``/``.ckpt`` via PyTorch, exported formats via
        their registered backends) and wrap it. ``config`` fixes a checkpoint's architecture;
        without it a checkpoint's stored config is used, else the one its weights imply.

        ``precision="auto"`` runs an exported ONNX/OpenVINO model in bf16 where the CPU has it
        natively and the outputs pass a check (see :mod:`nanodet_plus.runtime.precision`);
        ``"fp32"`` keeps the exact outputs. ``threads`` caps the runtime's threads.

        ``path`` may name an official checkpoint (``nanodet-plus-m_416``): its local copy is
        used, downloaded when absent, with its preset as the config unless one is given."""
        from nanodet_plus.models.official_weights import resolve_weights
        from nanodet_plus.runtime.precision import open_fastest, runs_reduced

        if format in (None, "torch"):
            path, config = resolve_weights(path, config)
        backend = open_fastest(path, format, precision=precision, threads=threads,
                               config=config, device=device, fuse=fuse)
        detector_options.setdefault("fast_resize", runs_reduced(backend))
        return cls(backend, device=device, **detector_options)

    def __call__(
        self, source: ImageInput | Sequence[ImageInput]
    ) -> Detections | list[Detections]:
        """Detect in one image (-> Detections) or a list of images (-> list of Detections)."""
        if source is None or isinstance(source, (np.ndarray, str, Path)) or _is_pil_image(source):
            return self.detect([source])[0]
        if not isinstance(source, Sequence):
            raise UsageError(f"expected an image, a path or a list of them, got "
                             f"{type(source).__name__}")
        return self.detect(list(source))

    def detect(self, sources: Sequence[ImageInput]) -> list[Detections]:
        """Detections for each image or path, in order, run ``batch_size`` images at a time."""
        results: list[Detections] = []
        for start in range(0, len(sources), self.batch_size):
            chunk = sources[start : start + self.batch_size]
            images, paths = [], []
            for index, item in enumerate(chunk, start):
                if isinstance(item, (str, Path)):
                    images.append(read_image(item))
                    paths.append(str(item))
                else:
                    images.append(as_bgr_array(item, index))
                    paths.append(None)
            results.extend(self._run_batch(images, paths))
        return results

    def prepare(self, images: Sequence[np.ndarray]) -> PreparedBatch:
        """Warp, normalise and pad ``images`` into one input batch for this model."""
        return self._normalized(*self._warp(images))

    def _warp(
        self, images: Sequence[np.ndarray]
    ) -> tuple[list[np.ndarray], list[np.ndarray], list[tuple[int, int]]]:
        return warp_images(images, self.input_size, self.keep_ratio, self.fast_resize)

    def _normalized(self, warped: list[np.ndarray], matrices: list[np.ndarray],
                    sizes: list[tuple[int, int]]) -> PreparedBatch:
        meta = self.meta
        return normalized_batch(warped, matrices, sizes, mean=meta.mean, std=meta.std,
                                min_wh=self.input_size if meta.fixed_shape else None)

    def _infer_uint8(
        self, warped: list[np.ndarray], matrices: list[np.ndarray],
        sizes: list[tuple[int, int]],
    ) -> tuple[np.ndarray | None, PreparedBatch | None]:
        """The raw output through the backend's uint8 input (normalisation inside the model),
        when it has one and the warped images fill the input exactly (nothing to pad);
        ``(None, None)`` otherwise."""
        infer_uint8 = getattr(self.backend, "infer_uint8", None)
        if infer_uint8 is None or not self.meta.fixed_shape:
            return None, None
        width, height = self.input_size
        if any(image.shape[:2] != (height, width) for image in warped):
            return None, None
        batch = _fill_batch(warped[0][None] if len(warped) == 1 else np.stack(warped),
                            self.meta.batch_size)
        shape_only = np.broadcast_to(np.uint8(0), (len(warped), 3, height, width))
        return infer_uint8(batch), PreparedBatch(shape_only, matrices, sizes)

    def detect_images(
        self, images: Sequence[np.ndarray], paths: Sequence[str | None] | None = None
    ) -> list[Detections]:
        """One batch of BGR (or PIL) images through preprocess, backend and post-processing."""
        checked = [as_bgr_array(image, index) for index, image in enumerate(images)]
        return self._run_batch(checked, paths)

    def _run_batch(
        self, images: Sequence[np.ndarray], paths: Sequence[str | None] | None
    ) -> list[Detections]:
        warped = self._warp(images)  # once: the uint8 input or the float batch uses it
        raw, prepared = self._infer_uint8(*warped)
        if raw is None:
            prepared = self._normalized(*warped)
            batch = _fill_batch(prepared.images, self.meta.batch_size)
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


def _fill_batch(batch: np.ndarray, fixed_batch: int | None) -> np.ndarray:
    """``batch`` padded with zero images up to a model's fixed batch size."""
    if fixed_batch and batch.shape[0] < fixed_batch:
        filler = np.zeros((fixed_batch - batch.shape[0], *batch.shape[1:]), batch.dtype)
        batch = np.concatenate([batch, filler])
    return batch
