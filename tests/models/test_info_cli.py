"""``nanodet info`` on presets, an official weight file and bad input."""

from __future__ import annotations

import torch

from nanodet_plus.cli.main import main


def test_info_preset_m416(capsys):
    assert main(["info", "nanodet-plus-m_416"]) == 0
    out = capsys.readouterr().out
    assert "parameters (inference: backbone+fpn+head): 1.20M (1,197,924)" in out
    assert "4.33M (4,330,904)" in out and "1.17M (1,174,768)" in out
    assert "FLOPs at 416x416 (WxH): 1.524 G" in out
    assert "output: [1, 3598, 112]" in out
    assert "8: 52x52, 16: 26x26, 32: 13x13, 64: 7x7" in out


def test_info_preset_15x_with_imgsz(capsys):
    assert main(["info", "nanodet-plus-m-1.5x_416", "--imgsz", "320", "320"]) == 0
    out = capsys.readouterr().out
    assert "2.48M (2,477,792)" in out and "7.96M (7,962,196)" in out
    assert "FLOPs at 320x320 (WxH): 1.758 G" in out


def test_info_checkpoint_non_square(capsys, reference_weights):
    assert main(["info", str(reference_weights), "--imgsz", "480", "320"]) == 0
    out = capsys.readouterr().out
    assert "architecture read from tensor shapes" in out
    assert "ShuffleNetV2 1.0x, Ghost-PAN 96, 80 classes" in out
    assert "output: [1, 3190, 112]" in out and "8: 60x40" in out


def test_info_training_checkpoint_with_config(capsys, tmp_path):
    import nanodet_plus as nd
    from nanodet_plus.config.loader import load_config, to_dict

    config = load_config("nanodet-plus-m_320", overrides=["model.num_classes=4"])
    model = nd.build_model(config)
    path = tmp_path / "last.ckpt"
    torch.save({"model": model.state_dict(), "config": to_dict(config)}, path)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "with its config" in out and "4 classes" in out and "[1, 2125, 36]" in out


def test_info_errors(capsys, tmp_path):
    assert main(["info", str(tmp_path / "missing.pth")]) == 1
    assert "weights file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.pth"
    bad.write_text("nope")
    assert main(["info", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.pth: not a readable PyTorch checkpoint" in err and err.count("\n") == 1
    assert main(["info", "nanodet-plus-m_320", "--imgsz", "300", "320"]) == 1
    assert "multiples of 32" in capsys.readouterr().err
