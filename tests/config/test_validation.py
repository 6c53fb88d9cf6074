"""Every config value is checked when the config is loaded, with a message naming the key."""

from __future__ import annotations

import dataclasses

import pytest

from nanodet_plus.config import ModelConfig, load_config, schema
from nanodet_plus.errors import ConfigError


def _option_fields(section: object, where: str = "") -> list[tuple[str, tuple]]:
    found = []
    for spec in dataclasses.fields(section):
        value = getattr(section, spec.name)
        path = f"{where}.{spec.name}" if where else spec.name
        if dataclasses.is_dataclass(value):
            found += _option_fields(value, path)
        elif "choices" in spec.metadata:
            found.append((path, spec.metadata["choices"]))
    return found


def _full_config() -> schema.Config:
    config = schema.Config()
    split = schema.DatasetConfig(img_path="i", ann_path="a")
    return dataclasses.replace(config, data=dataclasses.replace(config.data, train=split))


OPTION_FIELDS = _option_fields(_full_config())


def test_every_enumerated_field_is_declared():
    paths = {path for path, _ in OPTION_FIELDS}
    assert {"model.assigner.name", "model.backbone.model_size", "model.head.activation",
            "data.train.format", "train.precision", "train.nan_policy",
            "train.optimizer.name", "model.aux_head.norm"} <= paths


@pytest.mark.parametrize(("path", "choices"), OPTION_FIELDS, ids=[p for p, _ in OPTION_FIELDS])
def test_a_misspelt_name_fails_at_load_with_a_suggestion(path: str, choices: tuple):
    good = str(choices[-1])
    misspelt = good.swapcase()
    overrides = [f"{path}={misspelt}"]
    if path.startswith("data.train."):
        overrides += ["data.train.img_path=i", "data.train.ann_path=a"]
    with pytest.raises(ConfigError) as info:
        load_config("nanodet-plus-m_320", overrides)
    message = str(info.value)
    assert message.startswith(f"{path} '{misspelt}' is not one of {', '.join(map(str, choices))}")
    assert f"did you mean '{good}'" in message


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.epochs=0", r"train\.epochs 0 is out of range: it must be >= 1"),
        ("train.epochs=-5", r"train\.epochs -5 is out of range: it must be >= 1"),
        ("train.batch_size=0", r"train\.batch_size 0 is out of range"),
        ("train.optimizer.lr=0", r"train\.optimizer\.lr 0\.0 is out of range: it must be > 0"),
        ("train.optimizer.betas=[0.9, 1.0]", r"train\.optimizer\.betas 1\.0 .* must be < 1"),
        ("train.ema_decay=1.5", r"train\.ema_decay 1\.5 is out of range: it must be <= 1"),
        ("train.time_budget_s=-1", r"train\.time_budget_s -1\.0 is out of range"),
        ("train.accumulate=0", r"train\.accumulate 0 is out of range"),
        ("data.augment.flip=2", r"data\.augment\.flip 2\.0 is out of range: it must be <= 1"),
        ("data.augment.scale=[0, 1]", r"data\.augment\.scale 0\.0 is out of range"),
        ("data.augment.scale=[1.4, 0.6]", r"data\.augment\.scale \(1\.4, 0\.6\)"),
        ("data.input_size=[0, 320]", r"data\.input_size 0 is out of range: it must be >= 32"),
        ("data.workers=-1", r"data\.workers -1 is out of range"),
        ("data.train_input_size=[250, 256]",
         r"data\.train_input_size 250x256 \(width x height\): both must be multiples of 32"),
        ("model.num_classes=0", r"model\.num_classes 0 is out of range: it must be >= 1"),
        ("model.head.reg_max=0", r"model\.head\.reg_max 0 is out of range"),
        ("model.detach_epoch=-1", r"model\.detach_epoch -1 is out of range"),
        ("train.device=gpu", r"train\.device 'gpu' is not auto, cpu, mps, cuda or cuda:N"),
    ],
)
def test_out_of_range_values_fail_at_load(override: str, expected: str):
    with pytest.raises(ConfigError, match=expected):
        load_config("nanodet-plus-m_320", [override])


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["model.neck.in_channels=[116, 232, 460]"],
         r"model\.neck\.in_channels \[116, 232, 460\] do not match the backbone outputs "
         r"\[116, 232, 464\]"),
        (["model.backbone.model_size=1.5x"], r"model\.neck\.in_channels .* \[176, 352, 704\]"),
        (["model.backbone.out_stages=[2, 5]"], r"model\.backbone\.out_stages \[2, 5\]"),
        (["model.head.strides=[8, 16, 32]"], r"model\.head\.strides has 3 values .* 4 levels"),
        (["model.head.input_channel=64"], r"model\.head\.input_channel 64 differs"),
        (["model.aux_head.num_groups=5"], r"not divisible by model\.aux_head\.num_groups 5"),
    ],
)
def test_fields_that_must_agree_fail_at_load(overrides: list[str], expected: str):
    with pytest.raises(ConfigError, match=expected):
        load_config("nanodet-plus-m_320", overrides)


def test_a_model_config_built_in_python_is_checked_by_build_model():
    from nanodet_plus.models.factory import build_model

    with pytest.raises(ConfigError, match=r"model\.num_classes '80' is not a number"):
        build_model(ModelConfig(num_classes="80"))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"model\.num_classes 0 is out of range"):
        build_model("nanodet-plus-m_320", num_classes=0)


def test_declared_names_are_the_ones_the_builders_accept():
    from nanodet_plus.assigners.factory import build_assigner
    from nanodet_plus.layers.activation import build_activation
    from nanodet_plus.layers.conv import build_norm

    for name in schema.ACTIVATIONS:
        build_activation(name)
    with pytest.raises(ValueError, match="unknown activation"):
        build_activation("Swish")
    for norm in schema.NORMS:
        build_norm(norm, 32)
    for assigner in schema.ASSIGNERS:
        build_assigner(schema.AssignerConfig(name=assigner))


def test_the_trainer_leaves_the_loaded_config_alone():
    from nanodet_plus.engine.trainer import config_with_classes

    config = load_config("nanodet-plus-m_320")
    before = dataclasses.asdict(config)
    resolved = config_with_classes(config, ["cat", "dog"])
    assert dataclasses.asdict(config) == before
    assert (resolved.model.num_classes, resolved.class_names) == (2, ["cat", "dog"])
    assert config_with_classes(resolved, ["cat", "dog"]) is resolved
