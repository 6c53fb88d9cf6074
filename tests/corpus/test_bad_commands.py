"""The command half of the bad-input corpus: every command and the Python API given the wrong
kind of file, a folder or a missing file where a file belongs, numbers out of range, and inputs
from which nothing can be made. Each case is one exact line on stderr (no traceback), exit 1,
and nothing written: no run folder, no output file, the input files unchanged.

Nothing here trains or exports; each case fails before the heavy work (the few that load the
small reference weights take about a second).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

import nanodet_plus as nd
from nanodet_plus.cli.main import build_parser, main
from nanodet_plus.cli.options import command_parsers, declared_bounds
from nanodet_plus.errors import CheckpointError, ConfigError, NanoDetError, UsageError

IMAGE_RULE = "both must be multiples of 32 from 32 to 4096"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, reference_weights: Path,
          samples_dir: Path, write_sample_coco) -> dict[str, Path]:
    """The corpus inputs, written once: right files of the wrong kind, broken files, a folder
    and a name that does not exist, plus the reference weights and a config with a dataset."""
    root = tmp_path_factory.mktemp("bad-inputs")
    noise = b"\x13" + np.random.default_rng(0).bytes(4095)  # no file format starts so
    paths = {name: root / name for name in (
        "photo.jpg", "random.pth", "random.onnx", "random.yaml", "notes.yaml", "list.yaml",
        "broken.yaml", "missing.pth", "missing.yaml", "missing.jpg", "models", "weights.pth",
        "other.onnx", "resnet.pth", "val.yaml", "empty.jpg", "random.torchscript", "unreadable",
    )}
    cv2.imwrite(str(paths["photo.jpg"]), np.full((48, 64, 3), 90, np.uint8))
    for name in ("random.pth", "random.onnx", "random.yaml", "random.torchscript"):
        paths[name].write_bytes(noise)
    paths["unreadable"].mkdir()
    (paths["unreadable"] / "a.jpg").write_bytes(b"")
    (paths["unreadable"] / "b.png").write_bytes(noise)
    paths["notes.yaml"].write_text("preset: nanodet-plus-m_320\n")
    paths["list.yaml"].write_text("- nanodet-plus-m_320\n- 80\n")
    paths["broken.yaml"].write_text("model: {num_classes: 3\ntrain: {epochs: 1}\n")
    paths["models"].mkdir()
    paths["weights.pth"].mkdir()
    paths["empty.jpg"].write_bytes(b"")
    _write_identity_onnx(paths["other.onnx"])
    torch.save({"state_dict": {"conv1.weight": torch.zeros(8, 3, 3, 3)}}, paths["resnet.pth"])
    coco = write_sample_coco(root / "val.json")
    split = {"format": "coco", "img_path": str(samples_dir), "ann_path": str(coco)}
    paths["val.yaml"].write_text(yaml.safe_dump({
        "preset": "nanodet-plus-m_320", "data": {"train": split, "val": split, "workers": 0},
        "train": {"epochs": 1, "batch_size": 1, "device": "cpu", "progress": False,
                  "recipe": "official"},
    }))
    paths["weights"] = reference_weights
    return paths


def _write_identity_onnx(path: Path) -> None:
    """A valid ONNX file that is no detector: one Identity node on a [1, 10] tensor."""
    import onnx
    from onnx import TensorProto, helper

    tensor = [1, 10]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, tensor)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, tensor)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current folder: whatever a failed command writes by default lands here."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _fill(template: str, files: dict[str, Path], work: Path) -> str:
    return template.format(work=work, **{k.replace(".", "_"): v for k, v in files.items()})


def _run_refused(argv: list[str], expected: str, files: dict[str, Path], work: Path,
                 capsys: pytest.CaptureFixture[str]) -> None:
    """``nanodet ARGV`` exits 1 with exactly ``expected`` as its error line, no traceback,
    nothing new in the working folder and the input files unchanged."""
    before = {p: p.stat().st_mtime_ns for p in files["photo.jpg"].parent.iterdir()}
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if " error: " in line]
    assert errors == [expected], err
    assert sorted(work.iterdir()) == [], "a refused command wrote into the working folder"
    after = {p: p.stat().st_mtime_ns for p in files["photo.jpg"].parent.iterdir()}
    assert after == before, "a refused command changed an input file"


# (command line, exact error line); {name} is a file of the `files` fixture with "." as "_",
# {work} the empty working folder.
NOT_YAML = "not a YAML config (a JPEG image, not text)"
WRONG_FILES = [
    ("info {photo_jpg}", f"nanodet info: error: {{photo_jpg}}: {NOT_YAML}"),
    ("data check {photo_jpg}", f"nanodet data check: error: {{photo_jpg}}: {NOT_YAML}"),
    ("data preview {photo_jpg} --out {work}/previews",
     f"nanodet data preview: error: {{photo_jpg}}: {NOT_YAML}"),
    ("val {photo_jpg} --weights {weights} --project {work}/runs",
     f"nanodet val: error: {{photo_jpg}}: {NOT_YAML}"),
    ("config convert {photo_jpg} {work}/out.yaml",
     f"nanodet config convert: error: {{photo_jpg}}: {NOT_YAML}"),
    ("config show {photo_jpg}", f"nanodet config show: error: {{photo_jpg}}: {NOT_YAML}"),
    ("train {photo_jpg} --project {work}/runs --nproc 1",
     f"nanodet train: error: {{photo_jpg}}: {NOT_YAML}"),
    ("train {photo_jpg} --project {work}/runs", f"nanodet train: error: {{photo_jpg}}: {NOT_YAML}"),
    ("predict {photo_jpg} --weights {weights} --config {photo_jpg} --project {work}/runs",
     f"nanodet predict: error: {{photo_jpg}}: {NOT_YAML}"),
    ("export {weights} --config {photo_jpg} -o {work}/m.onnx",
     f"nanodet export: error: {{photo_jpg}}: {NOT_YAML}"),
    ("benchmark {weights} --config {photo_jpg} --backends torch",
     f"nanodet benchmark: error: {{photo_jpg}}: {NOT_YAML}"),
    ("benchmark {weights} --data {photo_jpg} --backends torch",
     f"nanodet benchmark: error: {{photo_jpg}}: {NOT_YAML}"),
    ("config show {random_yaml}",
     "nanodet config show: error: {random_yaml}: not a YAML config (binary data, not text)"),
    ("info {list_yaml}", "nanodet info: error: {list_yaml}: not a YAML config (the top level is "
                         "a list, not a mapping of keys)"),
    ("config show {broken_yaml}", "nanodet config show: error: {broken_yaml}: not valid YAML "
                                  "(line 2: expected ',' or '}}', but got ':')"),
    ("data check {models}",
     "nanodet data check: error: {models} is a folder, not a YAML config file"),
    ("config show {missing_yaml}",
     "nanodet config show: error: config file not found: {missing_yaml}"),
    # YAML, image and random bytes as weights
    ("predict {photo_jpg} --weights {notes_yaml} --project {work}/runs",
     "nanodet predict: error: {notes_yaml}: a YAML config, not a checkpoint or model file; give "
     "the weights (.pth/.ckpt or an exported model) and the config separately"),
    ("train {val_yaml} --weights {notes_yaml} --project {work}/runs --nproc 1",
     "nanodet train: error: {notes_yaml}: not a readable PyTorch checkpoint (it is a YAML file, "
     "e.g. a config, not saved weights)"),
    ("train {val_yaml} --weights {photo_jpg} --project {work}/runs",
     "nanodet train: error: {photo_jpg}: not a readable PyTorch checkpoint (it is a JPEG image)"),
    ("info {random_pth}",
     "nanodet info: error: {random_pth}: not a readable PyTorch checkpoint (unknown binary data)"),
    ("export {random_pth} -o {work}/m.onnx", "nanodet export: error: {random_pth}: not a "
                                             "readable PyTorch checkpoint (unknown binary data)"),
    ("benchmark {random_pth} --backends torch", "nanodet benchmark: error: {random_pth}: "
     "not a readable PyTorch checkpoint (unknown binary data)"),
    ("val {val_yaml} --weights {random_pth} --project {work}/runs", "nanodet val: error: "
     "{random_pth}: not a readable PyTorch checkpoint (unknown binary data)"),
    ("predict {photo_jpg} --weights {random_onnx} --project {work}/runs", "nanodet predict: "
     "error: {random_onnx}: not a readable ONNX model (Protobuf parsing failed.)"),
    ("val {val_yaml} --weights {random_onnx} --project {work}/runs", "nanodet val: error: "
     "{random_onnx}: not a readable ONNX model (Protobuf parsing failed.)"),
    ("predict {photo_jpg} --weights {other_onnx} --project {work}/runs", "nanodet predict: "
     "error: {other_onnx}: not a NanoDet-Plus model (input shape [1, 10], output shape [1, 10]; "
     "expected [N, 3, H, W] in and [N, points, classes + 32] out)"),
    ("benchmark {weights} --backends torch --runs 1 --warmup 0 --onnx other={other_onnx}",
     "nanodet benchmark: error: {other_onnx}: not a NanoDet-Plus model (input shape [1, 10], "
     "output shape [1, 10]; expected [N, 3, H, W] in and [N, points, classes + 32] out)"),
    ("predict {photo_jpg} --weights {random_torchscript} --project {work}/runs", "nanodet "
     "predict: error: {random_torchscript}: not a TorchScript file (PytorchStreamReader failed "
     "reading zip archive: failed finding central directory.)"),
    ("export {weights} --int8 --calib {unreadable} -o {work}/m.onnx", "nanodet export: error: "
     "{unreadable}: none of the 2 calibration image(s) could be read (the first: "
     "{unreadable}/a.jpg)"),
    ("info {random_onnx}", "nanodet info: error: {random_onnx}: an exported .onnx model; "
                           "nanodet info reads a preset, a YAML config or a .pth/.ckpt checkpoint"),
    # folders and missing files where a file belongs
    ("predict {photo_jpg} --weights {models} --project {work}/runs",
     "nanodet predict: error: {models} is a folder, not a model file"),
    ("info {weights_pth}", "nanodet info: error: {weights_pth} is a folder, not a checkpoint file"),
    ("export {models} -o {work}/m.onnx",
     "nanodet export: error: {models} is a folder, not a weights file"),
    ("benchmark {models}", "nanodet benchmark: error: {models} is a folder, not a weights file"),
    ("val {val_yaml} --weights {models} --project {work}/runs",
     "nanodet val: error: {models} is a folder, not a weights file"),
    ("info {missing_pth}", "nanodet info: error: weights file not found: {missing_pth}"),
    ("export {missing_pth} -o {work}/m.onnx",
     "nanodet export: error: {missing_pth}: weights file not found"),
    ("predict {missing_jpg} --weights {weights} --project {work}/runs",
     "nanodet predict: error: {missing_jpg}: no such file or folder"),
    ("predict {photo_jpg} --weights {missing_pth} --project {work}/runs",
     "nanodet predict: error: {missing_pth}: model file not found"),
]


@pytest.mark.parametrize(("argv", "expected"), WRONG_FILES, ids=[a for a, _ in WRONG_FILES])
def test_the_wrong_kind_of_file_is_one_line(argv: str, expected: str, files: dict[str, Path],
                                            work: Path, capsys: pytest.CaptureFixture[str]
                                            ) -> None:
    _run_refused([_fill(part, files, work) for part in argv.split()],
                 _fill(expected, files, work), files, work, capsys)


# Every numeric option of every command, each with a value outside its range.
OUT_OF_RANGE = [
    ("predict x --weights w --imgsz -32 320", f"--imgsz -32 320 is out of range: {IMAGE_RULE}"),
    ("predict x --weights w --imgsz 300 301", f"--imgsz 300 301 is out of range: {IMAGE_RULE}"),
    ("predict x --weights w --conf 5", "--conf 5 is out of range: it must be from 0 to 1"),
    ("predict x --weights w --conf nan", "--conf nan is out of range: it must be from 0 to 1"),
    ("predict x --weights w --iou -0.1", "--iou -0.1 is out of range: it must be from 0 to 1"),
    ("predict x --weights w --max-det 0", "--max-det 0 is out of range: it must be at least 1"),
    ("predict x --weights w --batch-size 0",
     "--batch-size 0 is out of range: it must be at least 1"),
    ("info x --imgsz 320 0", f"--imgsz 320 0 is out of range: {IMAGE_RULE}"),
    ("info x --classes 0", "--classes 0 is out of range: it must be at least 1"),
    ("val x --weights w --conf 1.5", "--conf 1.5 is out of range: it must be from 0 to 1"),
    ("val x --weights w --batch 0", "--batch 0 is out of range: it must be at least 1"),
    ("val x --weights w --imgsz 8192 320", f"--imgsz 8192 320 is out of range: {IMAGE_RULE}"),
    ("val x --weights w --max-images 0", "--max-images 0 is out of range: it must be at least 1"),
    ("val x --weights w --samples -1", "--samples -1 is out of range: it must be at least 0"),
    ("train x --nproc 0", "--nproc 0 is out of range: it must be at least 1"),
    ("export x --imgsz 100 100", f"--imgsz 100 100 is out of range: {IMAGE_RULE}"),
    ("export x --batch 0", "--batch 0 is out of range: it must be at least 1"),
    ("export x --calib-images 0", "--calib-images 0 is out of range: it must be at least 1"),
    ("benchmark x --imgsz 0 0", f"--imgsz 0 0 is out of range: {IMAGE_RULE}"),
    ("benchmark x --threads 0", "--threads 0 is out of range: it must be at least 1"),
    ("benchmark x --runs 0", "--runs 0 is out of range: it must be at least 1"),
    ("benchmark x --warmup -1", "--warmup -1 is out of range: it must be at least 0"),
    ("data check x --max-issues -1", "--max-issues -1 is out of range: it must be at least 0"),
    ("data demo x --images 0", "--images 0 is out of range: it must be at least 1"),
    ("data demo x --val-images 0", "--val-images 0 is out of range: it must be at least 1"),
    ("data demo x --seed -1", "--seed -1 is out of range: it must be from 0 to 4294967295"),
    ("data demo x --workers 0", "--workers 0 is out of range: it must be at least 1"),
    ("data preview x --out o --num 0", "--num 0 is out of range: it must be at least 1"),
    ("data preview x --out o --seed 4294967296",
     "--seed 4294967296 is out of range: it must be from 0 to 4294967295"),
    ("data preview x --out o --epoch -1", "--epoch -1 is out of range: it must be at least 0"),
    ("demo --images 0", "--images 0 is out of range: it must be at least 1"),
    ("demo --seed -5", "--seed -5 is out of range: it must be from 0 to 4294967295"),
    ("demo --nproc 0", "--nproc 0 is out of range: it must be at least 1"),
]


def _command_of(argv: list[str]) -> str:
    return " ".join(argv[:2]) if argv[0] in ("data", "config") else argv[0]


@pytest.mark.parametrize(("argv", "message"), OUT_OF_RANGE, ids=[a for a, _ in OUT_OF_RANGE])
def test_numbers_out_of_range_are_refused_before_any_work(
    argv: str, message: str, files: dict[str, Path], work: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    words = argv.split()
    _run_refused(words, f"nanodet {_command_of(words)}: error: {message}", files, work, capsys)


def test_every_numeric_option_is_range_checked_and_in_the_corpus() -> None:
    """A new int or float option without a declared range (or without a corpus case) fails
    here, so no command can take a nonsense number silently."""
    covered = {(_command_of(a.split()), a.split()[a.split().index(m.split()[0])])
               for a, m in OUT_OF_RANGE}
    numeric = set()
    for command, parser in command_parsers(build_parser()):
        bounds = declared_bounds(parser)
        for action in parser._actions:
            if action.type in (int, float):
                assert action.dest in bounds, f"nanodet {command} {action.option_strings[0]}"
                numeric.add((command, action.option_strings[0]))
    assert len(numeric) >= 30
    assert numeric <= covered, sorted(numeric - covered)


def test_predict_with_no_readable_input_fails_and_writes_nothing(
    files: dict[str, Path], work: Path, tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    inputs = tmp_path_factory.mktemp("unreadable")
    noise = files["random.pth"].read_bytes()
    (inputs / "a_empty.jpg").write_bytes(b"")
    (inputs / "b_noise.png").write_bytes(noise)
    (inputs / "c_text.jpg").write_text("a text file")
    (inputs / "d_clip.mp4").write_bytes(noise)
    _run_refused(["predict", str(inputs), "--weights", str(files["weights"]), "--project",
                  str(work / "runs")],
                 f"nanodet predict: error: none of the 4 inputs could be read; the first: "
                 f"{inputs / 'a_empty.jpg'}: not a readable image", files, work, capsys)


def test_predict_of_one_empty_file_fails(files: dict[str, Path], work: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    _run_refused(["predict", str(files["empty.jpg"]), "--weights", str(files["weights"]),
                  "--project", str(work / "runs")],
                 f"nanodet predict: error: no input could be read: {files['empty.jpg']}: "
                 "not a readable image", files, work, capsys)


def test_benchmark_of_a_checkpoint_that_is_no_detector_fails(
    files: dict[str, Path], work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resnet = files["resnet.pth"]
    _run_refused(["benchmark", str(resnet), "--backends", "torch,onnxruntime", "--runs", "1"],
                 f"nanodet benchmark: error: {resnet}: not a NanoDet-Plus checkpoint (no "
                 "'head.gfl_cls.0.weight' weights); pass a .pth/.ckpt written by nanodet train "
                 "or an official NanoDet-Plus release", files, work, capsys)


def test_zero_epochs_is_a_config_error(files: dict[str, Path], work: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    _run_refused(["train", str(files["val.yaml"]), "train.epochs=0", "--project",
                  str(work / "runs")],
                 "nanodet train: error: train.epochs 0 is out of range: it must be >= 1",
                 files, work, capsys)


def test_weights_of_another_architecture_stop_fine_tuning(
    files: dict[str, Path], work: Path, tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """1.5x weights for a 1.0x config: one line naming both, before a run folder exists."""
    from nanodet_plus.models.factory import build_model

    big = tmp_path_factory.mktemp("big") / "m15.pth"
    model = build_model("nanodet-plus-m-1.5x_320", aux=False)
    torch.save({"state_dict": model.state_dict()}, big)
    _run_refused(
        ["train", str(files["val.yaml"]), "--weights", str(big), "--nproc", "1", "--project",
         str(work / "runs"), "--no-data-check"],
        f"nanodet train: error: {big} holds a ShuffleNetV2 1.5x, Ghost-PAN 128 model but the "
        "config asks for ShuffleNetV2 1.0x, Ghost-PAN 96: 520 of 637 tensors would start from "
        "scratch; use a config of the file's architecture, or weights of this one",
        files, work, capsys)


# The Python API: (what is called, the call, error class, exact message); `a` holds the
# reference model ("model") and a Detector on it ("det"), `f` the corpus files.
API_CASES = [
    ("det(None)", lambda a, f: a["det"](None), UsageError,
     "image 0 is None, not an image (cv2.imread returns None for a file it cannot read)"),
    ("det(0x0 array)", lambda a, f: a["det"](np.zeros((0, 0, 3), np.uint8)), UsageError,
     "image 0: empty array of shape (0, 0, 3)"),
    ("det([uint8, float32])",
     lambda a, f: a["det"]([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.float32)]),
     UsageError, "image 1: pixels are float32, expected uint8 (0-255)"),
    ("det(2 channels)", lambda a, f: a["det"](np.zeros((8, 8, 2), np.uint8)), UsageError,
     "image 0: shape (8, 8, 2) is not HxW (gray), HxWx3 (BGR) or HxWx4 (BGRA)"),
    ("det(42)", lambda a, f: a["det"](42), UsageError,
     "expected an image, a path or a list of them, got int"),
    ("Detector(input_size=(0, 0))", lambda a, f: nd.Detector(a["model"], input_size=(0, 0)),
     UsageError, "input_size (0, 0): expected (width, height), positive multiples of 32"),
    ("Detector(score_thr=5)", lambda a, f: nd.Detector(a["model"], score_thr=5), UsageError,
     "score_thr 5 is out of range: it must be from 0 to 1"),
    ("Detector(max_det=0)", lambda a, f: nd.Detector(a["model"], max_det=0), UsageError,
     "max_det 0 is out of range: it must be an integer >= 1"),
    ("build_model(num_classes='80')",
     lambda a, f: nd.build_model("nanodet-plus-m_320", num_classes="80"), UsageError,
     "num_classes '80' is a str; pass an integer, e.g. num_classes=80"),
    ("build_model(image)", lambda a, f: nd.build_model(f["photo.jpg"]), ConfigError,
     "{photo_jpg}: " + NOT_YAML),
    ("load_config(image)", lambda a, f: nd.load_config(f["photo.jpg"]), ConfigError,
     "{photo_jpg}: " + NOT_YAML),
    ("load_config(folder)", lambda a, f: nd.load_config(f["models"]), ConfigError,
     "{models} is a folder, not a YAML config file"),
    ("load_config(array)", lambda a, f: nd.load_config(np.zeros(3)), ConfigError,
     "expected a preset name, a YAML path, a dict or a Config, got ndarray"),
    ("load_weights(yaml)", lambda a, f: nd.load_weights(a["model"], f["notes.yaml"]),
     CheckpointError, "{notes_yaml}: not a readable PyTorch checkpoint (it is a YAML file, e.g. "
     "a config, not saved weights)"),
    ("Detector.from_file(random onnx)", lambda a, f: nd.Detector.from_file(f["random.onnx"]),
     CheckpointError, "{random_onnx}: not a readable ONNX model (Protobuf parsing failed.)"),
    ("Detector.from_file(yaml)", lambda a, f: nd.Detector.from_file(f["notes.yaml"]),
     UsageError, "{notes_yaml}: a YAML config, not a checkpoint or model file; give the weights "
     "(.pth/.ckpt or an exported model) and the config separately"),
]


@pytest.fixture(scope="module")
def api(torch_model) -> dict:
    return {"model": torch_model, "det": nd.Detector(torch_model)}


@pytest.mark.parametrize(("name", "call", "error", "message"), API_CASES,
                         ids=[name for name, *_ in API_CASES])
def test_the_api_refuses_bad_input_in_one_line(name: str, call, error: type, message: str,
                                               api: dict, files: dict[str, Path],
                                               work: Path) -> None:
    with pytest.raises(NanoDetError) as info:
        call(api, files)
    assert type(info.value) is error
    assert str(info.value) == _fill(message, files, work)
    assert sorted(work.iterdir()) == []


def test_the_api_takes_a_pil_image_as_rgb(api: dict, samples_dir: Path) -> None:
    from PIL import Image

    bgr = cv2.imread(str(samples_dir / "test_img.jpg"), cv2.IMREAD_COLOR)
    with Image.open(samples_dir / "test_img.jpg") as pil:
        from_pil = api["det"](pil)
    from_array = api["det"](bgr)
    assert len(from_array) > 0
    np.testing.assert_array_equal(from_pil.labels, from_array.labels)
    np.testing.assert_allclose(from_pil.boxes, from_array.boxes, atol=1e-3)


def test_the_corpus_covers_every_command() -> None:
    commands = {_command_of(a.split()) for a, _ in WRONG_FILES + OUT_OF_RANGE}
    assert {"info", "train", "val", "predict", "export", "benchmark", "data check",
            "data preview", "config convert", "config show"} <= commands
    assert len(WRONG_FILES) + len(OUT_OF_RANGE) + len(API_CASES) >= 30
