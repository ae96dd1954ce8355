"""The Optuna sampler ``hydra.sweeper.sampler`` describes, built and checked before the sweep
starts a JVM: its ``_target_`` importable and an Optuna sampler, its keys accepted, the packages it
needs installed. Each problem is one line naming the key.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from runner.errors import RunnerError, first_line

from . import space as space_mod
from . import targets
from .config import SAMPLERS

if TYPE_CHECKING:
    from optuna.samplers import BaseSampler

KEY = "hydra.sweeper.sampler"
# Packages a sampler imports only when it first samples (optuna's docs say which): without them
# the first trial would fail after the JVM started.
NEEDS = {"CmaEsSampler": ("cmaes",), "QMCSampler": ("scipy",), "GPSampler": ("torch", "scipy")}
# Samplers that raise on a multi-objective study, and only once past their startup trials
# (optuna 5: CmaEsSampler calls _raise_error_if_multi_objective; every other built-in one,
# GPSampler included, optimizes several objectives)
SINGLE_OBJECTIVE = ("CmaEsSampler",)
MULTI_OBJECTIVE_CHOICES = "tpe|nsgaii|random|qmc|grid|gp"


def build(sampler_cfg: DictConfig, space: space_mod.SearchSpace, existing: int = 0,
          group: str | None = None, objectives: int = 1) -> BaseSampler:
    """The sampler, seeded past ``existing`` trials (a resumed seeded sampler must not replay
    the first ones); the grid sampler gets the grid of ``space``. ``group`` is the
    ``hydra/sweeper/sampler`` option chosen: keys of its defaults that an overridden
    ``_target_`` does not take are left out (they were not the user's). ``objectives``: how
    many the study has (a sampler that optimizes one only is refused for more)."""
    from hydra.utils import instantiate
    from optuna.samplers import GridSampler

    cfg = OmegaConf.to_container(sampler_cfg, resolve=True)
    assert isinstance(cfg, dict)
    cls = sampler_class(str(cfg.get("_target_", "")), objectives)
    cfg = _accepted(cls, {str(k): v for k, v in cfg.items()}, group)
    if cfg.get("seed") is not None and existing:
        cfg["seed"] += existing
    grid = issubclass(cls, GridSampler)
    if grid:
        cfg["_partial_"] = True
    try:
        sampler = instantiate(cfg)
        return sampler(space_mod.grid(space.distributions)) if grid else sampler
    except RunnerError:
        raise
    except Exception as exc:  # noqa: BLE001 - the sampler's own check of its arguments
        cause = exc.__cause__ or exc
        raise RunnerError(f"{KEY}: {cls.__name__}: {first_line(cause)}") from None


def sampler_class(target: str, objectives: int = 1) -> type[BaseSampler]:
    """The class ``_target_`` names, if it is an Optuna sampler for this many objectives whose
    packages are installed."""
    from optuna.samplers import BaseSampler

    cls = targets.locate_class(KEY, target, BaseSampler, "an Optuna sampler (a "
                                "subclass of optuna.samplers.BaseSampler)")
    if objectives > 1:  # before its packages: installing them would not help
        check_multi_objective(cls, objectives)
    for base in cls.__mro__:
        missing = [p for p in NEEDS.get(base.__name__, ()) if importlib.util.find_spec(p) is None]
        if missing:
            raise RunnerError(f"{KEY}: {cls.__name__} needs the package(s) "
                              f"{', '.join(missing)}: pip install {' '.join(missing)}")
    return cls


def check_multi_objective(cls: type, objectives: int) -> None:
    """Refuse a sampler that cannot optimize ``objectives`` objectives at once."""
    single = next((b.__name__ for b in cls.__mro__ if b.__name__ in SINGLE_OBJECTIVE), None)
    if single is not None:
        raise RunnerError(
            f"{KEY}: {cls.__name__} optimizes one objective, and hydra.sweeper.direction gives "
            f"{objectives}: choose hydra/sweeper/sampler=<{MULTI_OBJECTIVE_CHOICES}> (nsgaii "
            "and tpe are made for several objectives)")


def _accepted(cls: type, cfg: dict[str, Any], group: str | None) -> dict[str, Any]:
    defaults = SAMPLERS[group]().__dict__ if group in SAMPLERS else {}
    return targets.accepted(cls, cfg, defaults, KEY,
                            f"choose a sampler with hydra/sweeper/sampler=<{'|'.join(SAMPLERS)}>")
