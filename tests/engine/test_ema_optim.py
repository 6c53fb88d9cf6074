"""EMA ramp values from reference-spec §11 and the warmup + cosine learning-rate schedule."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nanodet_plus.config.schema import OptimizerConfig, TrainConfig
from nanodet_plus.engine.ema import ModelEMA, ema_weight
from nanodet_plus.engine.optim import LRSchedule, build_optimizer


@pytest.mark.parametrize(
    ("step", "expected"),
    [(0, 0.9995), (1000, 0.606), (2000, 0.368), (10000, 0.0069), (10**9, 0.0002)],
)
def test_ema_weight_matches_spec_values(step: int, expected: float) -> None:
    assert ema_weight(0.9998, step) == pytest.approx(expected, abs=6e-4, rel=2e-2)


def test_ema_first_update_uses_step_one() -> None:
    assert ema_weight(0.9998, 1) == pytest.approx(0.9990, abs=1e-4)


def _tiny() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))


def test_ema_averages_parameters_and_buffers() -> None:
    torch.manual_seed(0)
    model = _tiny()
    ema = ModelEMA(model, decay=0.9998)
    start = {k: v.clone() for k, v in ema.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    model.train()
    model(torch.randn(2, 3, 8, 8))  # moves BN statistics, counts one batch
    ema.update(model, step=1)
    d = ema_weight(0.9998, 1)
    now = model.state_dict()
    for key, value in ema.state_dict().items():
        if value.dtype.is_floating_point:
            expected = (1 - d) * start[key] + d * now[key]
            torch.testing.assert_close(value, expected)
    # num_batches_tracked: 0 * (1 - d) + 1 * d = 0.999 truncates to 0
    assert int(ema.state_dict()["1.num_batches_tracked"]) == 0
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_ema_state_dict_round_trip() -> None:
    model = _tiny()
    ema = ModelEMA(model)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    ema.update(model, step=5)
    other = ModelEMA(_tiny())
    other.load_state_dict(ema.state_dict())
    for key, value in ema.state_dict().items():
        assert torch.equal(value, other.state_dict()[key])


def test_warmup_then_cosine_per_epoch() -> None:
    schedule = LRSchedule.from_config(TrainConfig())
    assert schedule.lr(0, 0) == pytest.approx(1e-3 * 1e-4)
    assert schedule.lr(0, 250) == pytest.approx(1e-3 * (1 - 0.5 * (1 - 1e-4)))
    assert schedule.lr(0, 500) == pytest.approx(1e-3)
    assert schedule.lr(0, 501) == pytest.approx(1e-3)
    cosine_150 = 5e-5 + (1e-3 - 5e-5) * (1 + math.cos(math.pi * 150 / 300)) / 2
    assert schedule.lr(150, 200_000) == pytest.approx(cosine_150)
    assert schedule.lr(300, 10**6) == pytest.approx(5e-5)
    # warmup overrides the cosine value even in a later epoch
    assert schedule.lr(3, 100) == pytest.approx(1e-3 * (1 - 0.8 * (1 - 1e-4)))


def test_optimizer_decays_every_parameter_by_default() -> None:
    model = _tiny()
    optimizer = build_optimizer(model, OptimizerConfig())
    assert isinstance(optimizer, torch.optim.AdamW)
    assert len(optimizer.param_groups) == 1
    assert optimizer.param_groups[0]["weight_decay"] == 0.05
    assert optimizer.param_groups[0]["betas"] == (0.9, 0.999)


def test_optimizer_no_norm_and_no_bias_decay() -> None:
    model = _tiny()
    optimizer = build_optimizer(model, OptimizerConfig(no_norm_decay=True))
    plain = {id(p) for p in optimizer.param_groups[1]["params"]}
    assert plain == {id(model[1].weight), id(model[1].bias)}
    optimizer = build_optimizer(model, OptimizerConfig(no_bias_decay=True))
    plain = {id(p) for p in optimizer.param_groups[1]["params"]}
    assert plain == {id(model[0].bias), id(model[1].bias)}
    assert optimizer.param_groups[1]["weight_decay"] == 0.0


def test_unknown_optimizer_is_an_error_at_config_load() -> None:
    from nanodet_plus.config import load_config
    from nanodet_plus.errors import ConfigError

    with pytest.raises(ConfigError, match=r"train\.optimizer\.name 'SGD' is not one of AdamW"):
        load_config("nanodet-plus-m_320", ["train.optimizer.name=SGD"])
