"""The configuration: one TOML file, the one source of truth, loaded into frozen dataclasses."""
from appliance.config.schema import *  # noqa: F401,F403
from appliance.config.schema import (DEFAULT_CONFIG_PATH, CentralConfig, Config, ConfigError, load_config,
                                     masked_dict, parse_config, to_toml)
