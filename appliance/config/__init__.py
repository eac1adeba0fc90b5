"""The configuration: one TOML file, the one source of truth, loaded into frozen dataclasses."""
from appliance.config.loader import ConfigError, load_config, parse_config
from appliance.config.schema import DEFAULT_CONFIG_PATH, Config, DeviceEntry, SiteConfig, StoreConfig
from appliance.config.show import masked_dict, to_toml
from appliance.sync.config import CentralConfig

__all__ = ["DEFAULT_CONFIG_PATH", "CentralConfig", "Config", "ConfigError", "DeviceEntry",
           "SiteConfig", "StoreConfig", "load_config", "masked_dict", "parse_config", "to_toml"]
