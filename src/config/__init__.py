"""Layered YAML training configs: extends (C3), origins, strict schema, length proxies.

Never imports torch, transformers or ms-swift (tests/config/test_import_light.py).
"""

from .errors import ConfigError, Problem
from .fusion import FusionConfig, FusionSource, FusionTarget, load_fusion_config
from .loader import is_fusion_config, is_runnable_preset, load_training_config
from .merge import Origin
from .modes import Mode
from .paths import REPO_ROOT, display_path, resolve_repo_path
from .resolve import Override, ResolvedConfig, parse_override, resolve_config
from .training_config import PATH_KEYS, TrainingConfig
from .validate import REQUIRED_LAUNCH_SETTINGS, validate_training_config

__all__ = [
    "PATH_KEYS",
    "REPO_ROOT",
    "REQUIRED_LAUNCH_SETTINGS",
    "ConfigError",
    "FusionConfig",
    "FusionSource",
    "FusionTarget",
    "Mode",
    "Origin",
    "Override",
    "Problem",
    "ResolvedConfig",
    "TrainingConfig",
    "display_path",
    "is_fusion_config",
    "is_runnable_preset",
    "load_fusion_config",
    "load_training_config",
    "parse_override",
    "resolve_config",
    "resolve_repo_path",
    "validate_training_config",
]
