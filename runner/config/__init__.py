"""runner's config: the structured schemas Hydra composes against (``schemas``, ``classifiers``,
``enums``) and the checks a composed config passes before anything starts (``checks``).

``types`` (the one map of column types) sits below everything else and is imported directly.
"""

from runner.config.checks import check, check_serving, describe_omegaconf_error, nearest
from runner.config.enums import BINARY_METRICS, value_of
from runner.config.schemas import RunnerConfig, register_configs

__all__ = [
    "BINARY_METRICS",
    "RunnerConfig",
    "check",
    "check_serving",
    "describe_omegaconf_error",
    "nearest",
    "register_configs",
    "value_of",
]
