"""``nanodet predict``: detect objects in images, folders, globs, videos or a webcam.

Annotated images/videos and a COCO-results JSON go to a new numbered run folder
(``runs/predict/exp``, ``exp2``, ...). In the JSON, ``category_id`` is the model's contiguous
class index (0-based, the label the model predicts), not a dataset category id;
``category_name`` gives its name. Images get ``image_id`` 0, 1, ... in processing order;
video frames continue the numbering and also carry ``frame``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from nanodet_plus.cli.options import add_image_size, add_number, add_precision
from nanodet_plus.errors import DataError, UsageError
from nanodet_plus.structures import Detections
from nanodet_plus.utils.files import atomic_write_text

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="detect objects in images, folders, videos or a webcam",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "source", help="image, folder, glob pattern (quote it), video file or webcam index (0)"
    )
    parser.add_argument(
        "--weights", required=True,
        help="model file: .pth/.ckpt (PyTorch) or an exported model (.onnx, .xml, .param, "
        "...), or an official name, e.g. nanodet-plus-m_416 (its preset is then the config)",
    )
    parser.add_argument(
        "--config",
        help="preset name or YAML file (default: the checkpoint's config, else read from "
        "its weights)",
    )
    add_image_size(parser, "network input width and height (default: the model's)")
    add_number(parser, "--conf", type=float, default=0.35, low=0, high=1,
               help="score threshold (0.35)")
    add_number(parser, "--iou", type=float, default=0.6, low=0, high=1,
               help="NMS IoU threshold (0.6)")
    add_number(parser, "--max-det", type=int, default=100, low=1,
               help="detections per image (100)")
    parser.add_argument(
        "--keep-ratio", action="store_true", default=None,
        help="keep the aspect ratio when resizing (default: the model's setting)",
    )
    parser.add_argument(
        "--device", default="auto", help="cpu, cuda, cuda:N or auto (cuda when available)"
    )
    add_precision(parser)
    add_number(parser, "--batch-size", type=int, default=8, low=1,
               help="images per forward pass (8)")
    parser.add_argument("--project", default="runs/predict", help="parent folder of run folders")
    parser.add_argument("--name", default="exp", help="run folder name (exp, exp2, ... if taken)")
    parser.add_argument(
        "--exist-ok", action="store_true", help="reuse project/name instead of numbering"
    )
    parser.add_argument("--show", action="store_true", help="show results in a window")
    parser.add_argument(
        "--save-json", action=argparse.BooleanOptionalAction, default=True,
        help="write predictions.json (COCO results format)",
    )
    parser.add_argument(
        "--save-media", action=argparse.BooleanOptionalAction, default=True,
        help="write annotated images and videos",
    )
    parser.set_defaults(func=run)


class Viewer:
    """Optional preview window; disables itself with one warning when no display is usable."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and self._display_available()
        self.stopped = False

    @staticmethod
    def _display_available() -> bool:
        if sys.platform.startswith(("win", "darwin")):
            return True
        if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
            return True
        logger.warning("--show ignored: no display found (DISPLAY is not set)")
        return False

    def show(self, image: np.ndarray, wait_ms: int) -> None:
        """Show ``image``; 'q' or Esc stops further display (and a webcam stream)."""
        if not self.enabled:
            return
        import cv2

        try:
            cv2.imshow("nanodet predict", image)
            key = cv2.waitKey(wait_ms) & 0xFF
        except cv2.error:
            logger.warning("--show ignored: this OpenCV build cannot open windows")
            self.enabled = False
            return
        if key in (ord("q"), 27):
            self.stopped = True
            self.enabled = False

    def close(self) -> None:
        if self.enabled:
            import cv2

            cv2.destroyAllWindows()


class RunWriter:
    """Writes annotated media into the run folder and collects the COCO-results records. The
    folder is made with the first file written, so a run that reads nothing leaves nothing;
    ``skipped`` holds one message per input that could not be read."""

    def __init__(self, run_dir: Path, save_media: bool) -> None:
        self.run_dir = run_dir
        self.save_media = save_media
        self.records: list[dict[str, Any]] = []
        self.next_image_id = 0
        self.used_names: set[str] = set()
        self.num_images = 0
        self.num_detections = 0
        self.skipped: list[str] = []

    def folder(self) -> Path:
        """The run folder, created on first use."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        return self.run_dir

    def skip(self, message: str) -> None:
        """Log and remember an input that could not be read."""
        logger.warning("skipped %s", message)
        self.skipped.append(message)

    def nothing_read(self) -> DataError:
        """The error of a run in which no input could be read, naming the first."""
        count = len(self.skipped)
        first = self.skipped[0] if self.skipped else "no frames"
        if count == 1:
            return DataError(f"no input could be read: {first}")
        return DataError(f"none of the {count} inputs could be read; the first: {first}")

    def unique_name(self, name: str) -> str:
        """``name``, or ``stem_2.ext``, ... when an earlier input had the same file name."""
        candidate, index = name, 2
        stem, suffix = Path(name).stem, Path(name).suffix
        while candidate in self.used_names:
            candidate = f"{stem}_{index}{suffix}"
            index += 1
        self.used_names.add(candidate)
        return candidate

    def add(self, dets: Detections, file_name: str, frame: int | None = None) -> None:
        image_id = self.next_image_id
        self.next_image_id += 1
        self.num_images += 1
        self.num_detections += len(dets)
        for box, score, label, name in zip(dets.boxes, dets.scores, dets.labels, dets.names):
            x1, y1, x2, y2 = (float(v) for v in box)
            record = {
                "image_id": image_id,
                "file_name": file_name,
                "category_id": int(label),
                "category_name": name,
                "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
                "score": round(float(score), 5),
            }
            if frame is not None:
                record["frame"] = frame
            self.records.append(record)

    def write_image(self, image: np.ndarray, name: str) -> None:
        import cv2

        target = self.folder() / name
        ok, encoded = cv2.imencode(target.suffix or ".jpg", image)
        if not ok:
            target = target.with_suffix(".jpg")
            ok, encoded = cv2.imencode(".jpg", image)
        encoded.tofile(str(target))

    def write_json(self) -> Path:
        rows = ",\n".join(" " + json.dumps(record) for record in self.records)
        return atomic_write_text(self.folder() / "predictions.json",
                                 f"[\n{rows}\n]\n" if rows else "[]\n")


def _summary(dets: Detections) -> str:
    if not len(dets):
        return "no detections"
    counts = Counter(dets.names)
    return ", ".join(f"{n} {name}" for name, n in counts.most_common())


def _load_detector(args: argparse.Namespace):
    from nanodet_plus.runtime.detector import Detector

    options: dict[str, Any] = {
        "score_thr": args.conf, "iou_thr": args.iou, "max_det": args.max_det,
        "keep_ratio": args.keep_ratio, "batch_size": args.batch_size,
    }
    if args.imgsz:
        options["input_size"] = (args.imgsz[0], args.imgsz[1])
    return Detector.from_file(args.weights, config=args.config, device=args.device,
                              precision=args.precision, **options)


def _image_batches(
    paths: list[Path], batch_size: int, bar, writer: RunWriter
) -> Iterator[list[tuple[Path, Any]]]:
    from nanodet_plus.data.preprocess import read_image

    batch: list[tuple[Path, Any]] = []
    for path in paths:
        try:
            batch.append((path, read_image(path)))
        except (DataError, FileNotFoundError) as exc:
            bar.update(1)
            writer.skip(str(exc))
            continue
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _predict_images(detector, paths: list[Path], writer: RunWriter, viewer: Viewer) -> None:
    from tqdm import tqdm

    from nanodet_plus.visualize import draw_detections

    with tqdm(total=len(paths), desc="images", unit="img", disable=len(paths) < 2) as bar:
        for batch in _image_batches(paths, detector.batch_size, bar, writer):
            results = detector.detect_images([img for _, img in batch], [str(p) for p, _ in batch])
            for (path, image), dets in zip(batch, results):
                name = writer.unique_name(path.name)
                writer.add(dets, name)
                if len(paths) == 1:
                    print(f"{path}: {_summary(dets)}")
                if writer.save_media or viewer.enabled:
                    drawn = draw_detections(image, dets)
                    if writer.save_media:
                        writer.write_image(drawn, name)
                    viewer.show(drawn, 0)
                bar.update(1)


def _predict_stream(
    detector, capture, label: str, out_name: str, writer: RunWriter, viewer: Viewer
) -> None:
    """Frames of an open ``cv2.VideoCapture`` through the detector, into an annotated video."""
    import cv2
    from tqdm import tqdm

    from nanodet_plus.visualize import draw_detections

    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    if not 0 < fps < 1000:
        fps = 30.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    video_writer = None
    frame_index = 0
    file_name = writer.unique_name(out_name)
    try:
        with tqdm(total=total if total and total > 0 else None, desc=label, unit="frame") as bar:
            while not viewer.stopped:
                ok, frame = capture.read()
                if not ok:
                    break
                dets = detector.detect_images([frame], [label])[0]
                writer.add(dets, file_name, frame=frame_index)
                drawn = draw_detections(frame, dets)
                if writer.save_media:
                    if video_writer is None:
                        height, width = frame.shape[:2]
                        fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                        target = str(writer.folder() / file_name)
                        video_writer = cv2.VideoWriter(target, fourcc, fps, (width, height))
                        if not video_writer.isOpened():
                            raise UsageError(f"{target}: cannot open a video writer (mp4v)")
                    video_writer.write(drawn)
                viewer.show(drawn, 1)
                frame_index += 1
                bar.update(1)
    finally:
        if video_writer is not None:
            video_writer.release()
    if frame_index == 0:
        writer.skip(f"{label}: no readable frames")


def run(args: argparse.Namespace) -> int:
    import cv2

    from nanodet_plus.runtime.sources import resolve_source
    from nanodet_plus.utils.paths import check_project_folder, increment_path

    source = resolve_source(args.source)
    check_project_folder(args.project)
    detector = _load_detector(args)
    run_dir = increment_path(args.project, args.name, exist_ok=args.exist_ok, mkdir=False)
    writer = RunWriter(run_dir, args.save_media)
    viewer = Viewer(args.show)
    try:
        if source.images:
            _predict_images(detector, source.images, writer, viewer)
        for video in source.videos:
            capture = cv2.VideoCapture(str(video))
            if not capture.isOpened():
                writer.skip(f"{video}: not a readable video")
                continue
            try:
                _predict_stream(detector, capture, str(video), video.stem + ".mp4", writer, viewer)
            finally:
                capture.release()
        if source.camera is not None:
            capture = cv2.VideoCapture(source.camera)
            if not capture.isOpened():
                raise UsageError(f"webcam {source.camera}: cannot be opened")
            try:
                _predict_stream(
                    detector, capture, f"webcam {source.camera}", f"webcam{source.camera}.mp4",
                    writer, viewer,
                )
            finally:
                capture.release()
    finally:
        viewer.close()
        if args.save_json and writer.num_images:
            writer.write_json()
    if not writer.num_images:
        raise writer.nothing_read()
    saved = f"results in {run_dir}" if run_dir.exists() else "nothing saved (--no-save-*)"
    print(
        f"{writer.num_images} image(s)/frame(s), {writer.num_detections} detection(s) "
        f"at score > {args.conf}; {saved}"
    )
    return 0
