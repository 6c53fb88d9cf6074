"""Typed configuration: schema, presets and the YAML loader."""

from nanodet_plus.config.loader import (
    list_presets,
    load_config,
    save_config,
    to_dict,
)
from nanodet_plus.config.schema import (
    AssignerConfig,
    AugmentConfig,
    AuxHeadConfig,
    BackboneConfig,
    Config,
    DataConfig,
    DatasetConfig,
    HeadConfig,
    LossConfig,
    ModelConfig,
    NeckConfig,
    OptimizerConfig,
    TrainConfig,
)
from nanodet_plus.errors import ConfigError

__all__ = [
    "AssignerConfig",
    "AugmentConfig",
    "AuxHeadConfig",
    "BackboneConfig",
    "Config",
    "ConfigError",
    "DataConfig",
    "DatasetConfig",
    "HeadConfig",
    "LossConfig",
    "ModelConfig",
    "NeckConfig",
    "OptimizerConfig",
    "TrainConfig",
    "list_presets",
    "load_config",
    "save_config",
    "to_dict",
]
