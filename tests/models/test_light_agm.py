"""The lighter Assign Guidance Module forms (issue 13): no own neck, narrow or depthwise towers,
guidance switched off; the official AGM is the default and keeps its reference tests."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import nanodet_plus as nd
from nanodet_plus.config.loader import load_config
from nanodet_plus.errors import ConfigError
from nanodet_plus.layers import ConvModule, DepthwiseConvModule
from nanodet_plus.models.weights import infer_model_config, load_weights

LIGHT = ["model.num_classes=3", "model.aux_head.input_channel=96",
         "model.aux_head.feat_channels=64", "model.aux_head.stacked_convs=2",
         "model.aux_head.own_fpn=false"]


def _model(extra: list[str]) -> nd.NanoDetPlus:
    torch.manual_seed(0)
    return nd.build_model(load_config("nanodet-plus-m_320", extra).model)


def _targets() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    return [torch.tensor([[20.0, 30.0, 90.0, 110.0]])] * 2, [torch.tensor([1])] * 2


def test_agm_without_its_own_neck_reads_the_main_neck() -> None:
    model = _model(LIGHT)
    assert model.aux_fpn is None and not any(k.startswith("aux_fpn.")
                                             for k in model.state_dict())
    images = torch.rand(2, 3, 128, 128)
    head_out, aux_out = model.forward_train(images, epoch=0)
    assert aux_out is not None and aux_out.shape == head_out.shape
    # Before detach_epoch the AGM's losses train the neck; from it on they do not.
    for epoch, reaches_neck in ((0, True), (model.detach_epoch, False)):
        model.zero_grad(set_to_none=True)
        _, aux_out = model.forward_train(images, epoch=epoch)
        aux_out.sum().backward()
        assert (model.fpn.reduce_layers[0].conv.weight.grad is not None) == reaches_neck
        assert model.aux_head.gfl_cls.weight.grad is not None


def test_depthwise_agm_towers_and_losses() -> None:
    model = _model([*LIGHT, "model.aux_head.conv_type=DWConv"])
    assert all(isinstance(m, DepthwiseConvModule) for m in model.aux_head.cls_convs)
    official = _model(["model.num_classes=3"])
    assert all(isinstance(m, ConvModule) for m in official.aux_head.cls_convs)
    boxes, labels = _targets()
    losses = model.training_losses(torch.rand(2, 3, 128, 128), boxes, labels)
    assert torch.isfinite(losses["loss"]) and "aux_loss_qfl" in losses


def test_guide_false_leaves_the_agm_out() -> None:
    model = _model(["model.num_classes=3"])
    boxes, labels = _targets()
    images = torch.rand(2, 3, 128, 128)
    _, aux_out = model.forward_train(images, guide=False)
    assert aux_out is None
    losses = model.training_losses(images, boxes, labels, guide=False)
    assert not any(k.startswith("aux_") for k in losses)
    losses["loss"].backward()
    assert model.aux_head.gfl_cls.weight.grad is None and model.head.gfl_cls[0].weight.grad \
        is not None


@pytest.mark.parametrize("extra", [LIGHT, [*LIGHT, "model.aux_head.conv_type=DWConv"],
                                   ["model.num_classes=3"]])
def test_agm_form_is_inferred_from_a_state_dict(extra: list[str]) -> None:
    model = _model(extra)
    inferred = infer_model_config(model.state_dict())
    given = model.config.aux_head
    assert dataclasses.replace(inferred.aux_head, num_groups=given.num_groups,
                               guide_share=given.guide_share) == given
    rebuilt = nd.build_model(inferred)
    assert load_weights(rebuilt, model.state_dict()).loaded == len(model.state_dict())


def test_agm_input_must_match_what_it_reads() -> None:
    with pytest.raises(ConfigError, match=r"aux_head.input_channel 192 should be 96: the AGM "
                       r"reads the neck's features .*own_fpn False"):
        load_config("nanodet-plus-m_320", ["model.aux_head.own_fpn=false"])
    with pytest.raises(ConfigError, match=r"input_channel 96 should be 192: the AGM reads "
                       r"\[neck, aux neck\]"):
        load_config("nanodet-plus-m_320", ["model.aux_head.input_channel=96"])
    with pytest.raises(ConfigError, match=r"guide_share"):
        load_config("nanodet-plus-m_320", ["model.aux_head.guide_share=0"])
