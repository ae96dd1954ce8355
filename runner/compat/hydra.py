# Checked against hydra-core 1.3.8 and omegaconf 2.3.1 (pyproject pins hydra-core>=1.3.2,<1.4,
# omegaconf>=2.3,<2.4). tests/test_compat.py names these versions when a call breaks.
"""Hydra's (and OmegaConf's) private names that runner and its Optuna sweeper use, one typed
function each, so that a Hydra upgrade that moves one breaks here (tests/test_compat.py) and
nowhere else.

OmegaConf is Hydra's config library, its version bound by hydra-core's: its one private call is
kept here too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.grammar import grammar_functions
from hydra._internal.utils import _locate
from hydra.core.override_parser.types import Override
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn
from hydra.types import HydraContext
from omegaconf import DictConfig
from omegaconf.base import Node


def apply_overrides(overrides: list[Override], config: DictConfig) -> None:
    """Apply parsed value overrides to ``config`` in place, exactly as Hydra's compose does.

    The sweeper recomposes a trial from the previous trial's config this way (~0.45 s a trial
    saved); Hydra has no public function for it."""
    ConfigLoaderImpl._apply_overrides_to_config(overrides, config)


def overrides_dirname(overrides: list[Override], kv_sep: str, item_sep: str,
                      exclude_keys: Sequence[str]) -> str:
    """``hydra.job.override_dirname`` for these overrides, by Hydra's own rules (a public name
    in a private module)."""
    return str(get_overrides_dirname(overrides=overrides, kv_sep=kv_sep, item_sep=item_sep,
                                     exclude_keys=list(exclude_keys)))


def locate(path: str) -> Any:
    """The object a dotted path names. ``hydra.utils.get_class``/``get_method`` wrap this one
    but log pages of traceback on failure; runner reports one line itself."""
    return _locate(path)


def normalize_cast_value(*args: Any, value: Any = None) -> Any:
    """What Hydra's grammar cast functions (``int(...)``) see as their argument: a sweep
    object, a list or a value. The sweeper checks it before Hydra casts."""
    return grammar_functions._normalize_cast_value(*args, value=value)


def cast_int(*args: Any, value: Any = None) -> Any:
    """Hydra's ``int(...)`` grammar function itself (its signature is what Hydra checks)."""
    return grammar_functions.cast_int(*args, value=value)


def grid_batches(overrides: list[Override]) -> list[list[list[str]]]:
    """The jobs Hydra's basic (grid) sweeper makes of these overrides, in one batch."""
    return BasicSweeper.split_arguments(overrides, None)


def job_error(job_return: JobReturn) -> Any:
    """The exception a failed job raised. ``JobReturn.return_value`` re-raises it; the sweep
    reports it instead."""
    return job_return._return_value


@contextmanager
def singleton_replaced(cls: type, instance: Any) -> Iterator[None]:
    """Stand ``instance`` in for the process-wide Hydra singleton of ``cls`` (``HydraConfig``)
    for the block, then put the original back."""
    instances: dict[type, Any] = Singleton._instances
    original = instances.get(cls)
    instances[cls] = instance
    try:
        yield
    finally:
        if original is None:
            instances.pop(cls, None)
        else:
            instances[cls] = original


def config_node(config: DictConfig, key: str) -> Node | None:
    """The OmegaConf node under ``key`` of ``config`` (not its value): its type says what
    values the schema allows (an ``IntegerNode``), and whether it is missing."""
    return config._get_node(key)


def callbacks(hydra_context: HydraContext) -> list[Any]:
    """The multirun's Hydra callbacks, as Hydra built them from ``hydra.callbacks`` (a sweeper
    finds runner's sweep callback among them)."""
    return list(hydra_context.callbacks.callbacks)
