"""Every check of a configuration's values, in one place, run whenever a config is loaded.

Field-level rules (allowed names, numeric ranges) are declared beside each field in
:mod:`nanodet_plus.config.schema` with :func:`~nanodet_plus.config.schema.option` and
:func:`~nanodet_plus.config.schema.number`; this module enforces them and adds the checks
that involve several fields. Types are checked earlier, while the dataclasses are built.
"""

from __future__ import annotations

import dataclasses
import difflib
import operator
import re
from collections.abc import Iterator
from typing import Any

from nanodet_plus.config.schema import SHUFFLENET_WIDTHS, Config, ModelConfig
from nanodet_plus.errors import ConfigError

_BOUND_CHECKS = {
    "ge": (operator.ge, ">="),
    "gt": (operator.gt, ">"),
    "le": (operator.le, "<="),
    "lt": (operator.lt, "<"),
}
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def validate(config: Config) -> None:
    """Raise :class:`ConfigError` naming the key of the first invalid value of ``config``."""
    validate_fields(config)
    _check_model(config.model, "model")
    _check_data(config)
    _check_train(config)


def validate_model(model_config: ModelConfig) -> None:
    """The checks of :func:`validate` that concern the model section alone."""
    validate_fields(model_config, "model")
    _check_model(model_config, "model")


def validate_fields(section: Any, where: str = "") -> None:
    """Check each field of a config dataclass (recursively) against its declared rules."""
    for path, value, metadata in _walk(section, where):
        if "choices" in metadata:
            _check_choice(path, value, metadata["choices"])
        if "bounds" in metadata:
            for number in _numbers(value):
                _check_bounds(path, number, metadata["bounds"])


def _walk(section: Any, where: str) -> Iterator[tuple[str, Any, dict]]:
    for spec in dataclasses.fields(section):
        value = getattr(section, spec.name)
        path = f"{where}.{spec.name}" if where else spec.name
        if dataclasses.is_dataclass(value):
            yield from _walk(value, path)
        else:
            yield path, value, dict(spec.metadata)


def _numbers(value: Any) -> Iterator[float]:
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _numbers(item)
    elif value is not None:
        yield value


def _check_choice(path: str, value: Any, choices: tuple[Any, ...]) -> None:
    if value in choices:
        return
    by_lower = {str(choice).lower(): str(choice) for choice in choices}
    close = difflib.get_close_matches(str(value).lower(), list(by_lower), n=1)
    hint = f" (did you mean '{by_lower[close[0]]}'?)" if close else ""
    raise ConfigError(
        f"{path} '{value}' is not one of {', '.join(str(c) for c in choices)}{hint}"
    )


def _check_bounds(path: str, value: Any, bounds: dict[str, float]) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{path} {value!r} is not a number")
    for name, limit in bounds.items():
        compare, symbol = _BOUND_CHECKS[name]
        if not compare(value, limit):
            raise ConfigError(f"{path} {value!r} is out of range: it must be {symbol} {limit}")


def _check_model(model: ModelConfig, where: str) -> None:
    stages = tuple(model.backbone.out_stages)
    if not stages or not set(stages) <= {2, 3, 4} or len(set(stages)) != len(stages):
        raise ConfigError(
            f"{where}.backbone.out_stages {list(stages)} must be distinct stages among 2, 3, 4"
        )
    backbone = model.backbone
    widths = SHUFFLENET_WIDTHS[backbone.model_size]
    stage_channels = [
        widths[4] if stage == 4 and backbone.with_last_conv else widths[stage - 1]
        for stage in stages
    ]
    if list(model.neck.in_channels) != stage_channels:
        raise ConfigError(
            f"{where}.neck.in_channels {list(model.neck.in_channels)} do not match the backbone "
            f"outputs {stage_channels} ({where}.backbone.model_size {backbone.model_size})"
        )
    levels = len(stages) + model.neck.num_extra_level
    if len(model.head.strides) != levels:
        raise ConfigError(
            f"{where}.head.strides has {len(model.head.strides)} values but the neck gives "
            f"{levels} levels ({len(stages)} stages + {model.neck.num_extra_level} extra)"
        )
    if model.head.input_channel != model.neck.out_channels:
        raise ConfigError(
            f"{where}.head.input_channel {model.head.input_channel} differs from "
            f"{where}.neck.out_channels {model.neck.out_channels}"
        )
    aux = model.aux_head
    if aux is None:
        return
    if aux.norm == "GN" and aux.feat_channels % aux.num_groups:
        raise ConfigError(
            f"{where}.aux_head.feat_channels {aux.feat_channels} is not divisible by "
            f"{where}.aux_head.num_groups {aux.num_groups} (GroupNorm)"
        )
    if aux.norm == "GN" and aux.conv_type == "DWConv" and aux.input_channel % aux.num_groups:
        raise ConfigError(
            f"{where}.aux_head.input_channel {aux.input_channel} is not divisible by "
            f"{where}.aux_head.num_groups {aux.num_groups} (GroupNorm of the depthwise conv)"
        )
    expected = model.neck.out_channels * (2 if aux.own_fpn else 1)
    if aux.input_channel != expected:
        reads = "[neck, aux neck] features" if aux.own_fpn else "the neck's features"
        raise ConfigError(
            f"{where}.aux_head.input_channel {aux.input_channel} should be {expected}: the "
            f"AGM reads {reads} ({where}.neck.out_channels {model.neck.out_channels}, "
            f"{where}.aux_head.own_fpn {aux.own_fpn})"
        )


def _check_data(config: Config) -> None:
    for key in ("input_size", "train_input_size"):
        size = getattr(config.data, key)
        if size is not None and (size[0] % 32 or size[1] % 32):
            raise ConfigError(f"data.{key} {size[0]}x{size[1]} (width x height): both must "
                              "be multiples of 32")
    names = config.class_names
    if names is not None and len(names) != config.model.num_classes:
        raise ConfigError(
            f"class_names has {len(names)} names but model.num_classes is "
            f"{config.model.num_classes}"
        )
    low, high = config.data.augment.scale
    if low > high:
        raise ConfigError(f"data.augment.scale ({low}, {high}): the first value is the minimum")


def _check_train(config: Config) -> None:
    device = config.train.device
    if not _DEVICE.match(device):
        raise ConfigError(
            f"train.device '{device}' is not auto, cpu, mps, cuda or cuda:N (e.g. cuda:0)"
        )
