"""Forward outputs against the official reference vectors, layouts and the training forward."""

from __future__ import annotations

import pytest
import torch

import nanodet_plus as nd
from nanodet_plus.ops.priors import num_points


def test_raw_outputs_match_official(reference_model, reference_io):
    with torch.inference_mode():
        out = reference_model(reference_io["input"])
    assert out.shape == (2, 2125, 112)
    torch.testing.assert_close(out, reference_io["output"], atol=1e-3, rtol=0)


def test_train_mode_forward_returns_raw_logits(reference_state, reference_io):
    model = nd.build_model("nanodet-plus-m_320")
    model.load_state_dict(reference_state)
    model.train()
    with torch.no_grad():
        out = model(reference_io["input"])
    assert out.shape == (2, 2125, 112)
    assert not torch.allclose(out, reference_io["output"], atol=1e-2)  # batch statistics in use


def test_sigmoid_scores_layout(reference_model, reference_io):
    x = reference_io["input"][:1]
    with torch.inference_mode():
        raw = reference_model(x)
        exported = reference_model.inference_model(sigmoid_scores=True)(x)
    torch.testing.assert_close(exported[..., :80], raw[..., :80].sigmoid())
    torch.testing.assert_close(exported[..., 80:], raw[..., 80:])


def test_fused_equals_unfused(reference_model, reference_io):
    fused = reference_model.inference_model(fuse=True)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in reference_model.modules())
    with torch.inference_mode():
        plain = reference_model(reference_io["input"])
        folded = fused(reference_io["input"])
    # The reference weights have extreme BN statistics (logits reach ±54): float32 rounding of
    # the fold moves outputs by up to ~3e-4, as the official code's own folding does (README).
    torch.testing.assert_close(folded, plain, atol=5e-4, rtol=0)
    torch.testing.assert_close(folded, reference_io["output"], atol=1e-3, rtol=0)


def test_fused_fresh_model_within_1e4(fresh_m320):
    model = fresh_m320.eval()
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
            module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
            module.weight.data.copy_(0.5 + torch.rand(n, generator=generator))
    x = torch.randn(1, 3, 320, 320)
    with torch.inference_mode():
        torch.testing.assert_close(model.inference_model(fuse=True)(x), model(x), atol=1e-4, rtol=0)
    assert model.training is False and model.backbone.conv1[1].__class__ is torch.nn.BatchNorm2d


def test_non_square_input_points(reference_model):
    x = torch.randn(1, 3, 320, 480)  # W×H = 480×320
    with torch.inference_mode():
        out = reference_model(x)
    assert out.shape == (1, 3190, 112)
    assert num_points((320, 480), (8, 16, 32, 64)) == 3190


def test_forward_train_outputs_and_detach_rule(fresh_m320):
    model = fresh_m320.train()
    x = torch.randn(2, 3, 128, 128)
    head_out, aux_out = model.forward_train(x, epoch=0)
    assert head_out.shape == aux_out.shape == (2, 256 + 64 + 16 + 4, 112)

    def aux_grad_norms(epoch: int) -> tuple[float, float, float]:
        model.zero_grad()
        _, aux = model.forward_train(x, epoch=epoch)
        aux.sum().backward()
        def norm(module):
            return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)

        return norm(model.backbone), norm(model.fpn), norm(model.aux_fpn)

    before = aux_grad_norms(0)
    after = aux_grad_norms(model.detach_epoch)
    assert before[0] > 0 and before[1] > 0 and before[2] > 0
    assert after[0] == 0 and after[1] == 0 and after[2] > 0


def test_forward_train_without_aux():
    model = nd.build_model("nanodet-plus-m_320", aux=False)
    head_out, aux_out = model.forward_train(torch.randn(2, 3, 64, 64))
    assert aux_out is None and head_out.shape == (2, 64 + 16 + 4 + 1, 112)


def test_agm_concat_order_is_fpn_then_aux(fresh_m320):
    model = fresh_m320.eval()
    seen = {}

    def keep_first_input(module, inputs, output):
        seen.setdefault("x", inputs[0])

    model.aux_head.cls_convs[0].register_forward_hook(keep_first_input)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        model.forward_train(x)
        fpn_top = model.fpn(model.backbone(x))[0]
    torch.testing.assert_close(seen["x"][:, :96], fpn_top)


@pytest.mark.parametrize("preset", ["nanodet-plus-m-1.5x_320"])
def test_15x_forward_shape(preset):
    model = nd.build_model(preset, num_classes=20).eval()
    with torch.inference_mode():
        assert model(torch.randn(1, 3, 96, 64)).shape == (1, 96 * 64 // 64 + 24 + 6 + 2, 52)


def test_optimized_channels_last_matches_reference(reference_model, reference_io):
    from nanodet_plus.models.detector import optimize_for_inference

    fast = optimize_for_inference(reference_model)
    assert fast.channels_last and not fast.training
    with torch.inference_mode():
        out = fast(reference_io["input"])
    torch.testing.assert_close(out, reference_io["output"], atol=1e-3, rtol=0)
    assert reference_model.backbone.conv1[0].weight.is_contiguous()
