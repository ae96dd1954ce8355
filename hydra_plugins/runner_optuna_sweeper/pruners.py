"""The Optuna pruner ``hydra.sweeper.pruner`` describes, built and checked before the sweep
starts a JVM: its ``_target_`` importable and an Optuna pruner, its keys accepted, and no pruner
on a multi-objective study (Optuna takes no intermediate values there). Each problem is one
line naming the key.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from omegaconf import DictConfig, OmegaConf

from runner.errors import RunnerError, first_line

from . import targets
from .config import PRUNERS

if TYPE_CHECKING:
    from optuna.pruners import BasePruner

KEY = "hydra.sweeper.pruner"
# Pruners that compare trials fold by fold, not by their running means
PER_FOLD = ("WilcoxonPruner",)


def build(pruner_cfg: DictConfig | None, group: str | None, objectives: int = 1) -> BasePruner:
    """The pruner (NopPruner when none is configured); ``group``: the ``hydra/sweeper/pruner``
    option chosen (its defaults that an overridden ``_target_`` does not take are left out)."""
    from hydra.utils import instantiate
    from optuna.exceptions import ExperimentalWarning
    from optuna.pruners import BasePruner, NopPruner

    if pruner_cfg is None:
        return NopPruner()
    cfg = OmegaConf.to_container(pruner_cfg, resolve=True)
    assert isinstance(cfg, dict)
    target = str(cfg.get("_target_", ""))
    cls = targets.locate_class(KEY, target, BasePruner, "an Optuna pruner (a subclass of "
                               "optuna.pruners.BasePruner)")
    if objectives > 1 and not issubclass(cls, NopPruner):
        raise RunnerError(
            f"{KEY}: {cls.__name__} prunes single-objective sweeps only, and "
            f"hydra.sweeper.direction gives {objectives} objectives: choose "
            "hydra/sweeper/pruner=nop (or sweep one objective)")
    defaults = PRUNERS[group]().__dict__ if group in PRUNERS else {}
    cfg = targets.accepted(cls, {str(k): v for k, v in cfg.items()}, defaults, KEY,
                           f"choose a pruner with hydra/sweeper/pruner=<{'|'.join(PRUNERS)}>")
    try:
        with warnings.catch_warnings():  # WilcoxonPruner is experimental: chosen knowingly
            warnings.simplefilter("ignore", ExperimentalWarning)
            pruner: BasePruner = instantiate(cfg)
    except Exception as exc:  # noqa: BLE001 - the pruner's own check of its arguments
        raise RunnerError(f"{KEY}: {cls.__name__}: {first_line(exc.__cause__ or exc)}") from None
    return pruner


def per_fold(pruner: BasePruner) -> bool:
    """The pruner compares each fold's own score (see view.Reporter)."""
    return any(base.__name__ in PER_FOLD for base in type(pruner).__mro__)
