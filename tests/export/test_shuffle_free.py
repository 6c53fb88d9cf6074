"""The exported backbone without channel shuffles computes what the model computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nanodet_plus.config.loader import load_config
from nanodet_plus.export.shuffle_free import Run, channel_runs, without_channel_shuffles
from nanodet_plus.models.factory import build_model

WIDTHS = {"0.5x": [48, 96, 192], "1.0x": [116, 232, 464], "1.5x": [176, 352, 704]}


def test_channel_runs_groups_contiguous_channels_by_piece():
    refs = np.array([[1, 3], [0, 0], [1, 4], [0, 1], [1, 0]])
    runs, physical = channel_runs(refs)
    assert runs == [Run(0, 0, 2), Run(1, 0, 1), Run(1, 3, 5)]
    # physical channel p carries logical channel physical[p]
    assert [tuple(refs[i]) for i in physical] == [(0, 0), (0, 1), (1, 0), (1, 3), (1, 4)]


@pytest.mark.parametrize("size", list(WIDTHS))
def test_rewrite_matches_the_model(size):
    torch.manual_seed(0)
    config = load_config("nanodet-plus-m_320", [
        f"model.backbone.model_size={size}", f"model.neck.in_channels={WIDTHS[size]}"])
    model = build_model(config.model)
    for module in model.modules():  # non-trivial BatchNorm statistics, so permutations show
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    flat = model.inference_model(sigmoid_scores=True).eval()
    free = without_channel_shuffles(flat)
    assert free is not flat and free.backbone.__class__.__name__ == "ShuffleFreeBackbone"
    images = torch.randn(2, 3, 192, 256)
    with torch.no_grad():
        expected, result = flat(images), free(images)
        features, rewritten = flat.fpn(flat.backbone(images)), free.fpn(free.backbone(images))
    torch.testing.assert_close(result, expected, atol=1e-4, rtol=1e-4)
    for got, want in zip(rewritten, features):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    # the original inference model is left as it was
    with torch.no_grad():
        torch.testing.assert_close(flat(images), expected)


def test_export_has_no_shuffles_unless_kept(reference_weights, tmp_path):
    import onnx

    from nanodet_plus.export.exporter import ExportOptions, export_model

    pytest.importorskip("onnxruntime")
    counts, backbone_ops = {}, {}
    for keep in (False, True):
        result = export_model(reference_weights, ExportOptions(
            config="nanodet-plus-m_320", output=tmp_path / f"m{keep}.onnx", shuffle_free=not keep))
        assert result.max_diff <= 1e-4
        nodes = onnx.load(str(result.path)).graph.node
        ops = [node.op_type for node in nodes]
        counts[keep] = ops.count("Unsqueeze")  # the shuffle's stack: one Unsqueeze per branch
        backbone_ops[keep] = [node.op_type for node in nodes if node.name.startswith("/backbone")]
        # the head's output conv runs as a class conv (then sigmoid) and a box conv: no split
        head_ops = [node.op_type for node in nodes if node.name.startswith("/head")]
        assert "Split" not in head_ops and "Slice" not in head_ops
        assert head_ops.count("Sigmoid") == 4 and head_ops.count("Conv") == 4 * 4 + 4 * 2
    assert counts[True] >= 32 and counts[False] == 0
    # a branch output read in several runs is cut by one Split (one quantiser for NNCF), never
    # slice by slice: 16 of the 19 branch outputs of ShuffleNetV2 1.0x
    assert "Slice" not in backbone_ops[False]
    assert backbone_ops[False].count("Split") == 16
