"""Configuration as data: frozen dataclasses, TOML presets and overrides."""

from privshare.config.loading import (
    PRESETS,
    ConfigError,
    config_differences,
    config_from_dict,
    config_mismatch,
    config_to_dict,
    load_config,
    parse_override,
    read_run_config,
    save_config,
    validate,
)
from privshare.config.schema import (
    DataConfig,
    DPSGDConfig,
    ExportConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TrainConfig,
)

__all__ = [
    "PRESETS",
    "ConfigError",
    "DataConfig",
    "DPSGDConfig",
    "ExportConfig",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "TrainConfig",
    "config_differences",
    "config_from_dict",
    "config_mismatch",
    "config_to_dict",
    "load_config",
    "parse_override",
    "read_run_config",
    "save_config",
    "validate",
]
