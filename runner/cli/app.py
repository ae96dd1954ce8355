"""The Hydra side of the CLI: each task as a Hydra app over runner's config tree.

Every task composes the same config (``runner/conf``), has its launch-relative paths resolved
and its config checked before anything starts (a JVM, an MLflow run), and turns a RunnerError
into one line and exit 1 in a single run; in a sweep the error fails the trial instead.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from runner import console
from runner.cli import launch_paths
from runner.config import check
from runner.errors import RunnerError

# the verbs the first argument may be: the Hydra tasks below, and reproduce (no Hydra app)
TASKS = ("train", "serve", "predict", "reproduce")


def _is_multirun() -> bool:
    return HydraConfig.initialized() and str(HydraConfig.get().mode) == "RunMode.MULTIRUN"


def hydra_app(fn: Callable[[DictConfig], Any]) -> Callable[[], Any]:
    """``fn`` as a Hydra app: ``runner/conf/config.yaml`` composed with the command line."""
    return hydra.main(version_base="1.3", config_path="pkg://runner.conf",
                      config_name="config")(_user_errors_exit(fn))


def _user_errors_exit(fn: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """The config checked first; in a single run a RunnerError is one line on stderr and exit 1,
    in a sweep it propagates (the trial fails)."""

    def wrapped(cfg: DictConfig) -> Any:
        try:
            launch_paths.launch_relative(cfg)
            check(cfg)  # before anything starts: a JVM, an MLflow run
            return fn(cfg)
        except RunnerError as exc:
            if _is_multirun():
                raise
            console.error(str(exc))
            sys.exit(1)

    wrapped.__name__ = fn.__name__
    return wrapped


def train_task(cfg: DictConfig) -> float | tuple[float, ...]:
    """Train one run; the return value is the primary metric, which sweepers optimize (in a
    multi-objective sweep, the values of evaluation.objectives)."""
    from runner import sweep, train

    overrides = list(HydraConfig.get().overrides.task)
    active = sweep.current() if _is_multirun() else None
    if active is not None:  # a child run of the sweep's parent; progress comes from the callback
        return active.trial(cfg, overrides)
    result = train.run(cfg, overrides)
    console.out(train.summary(result))
    return result.value


def serve_task(cfg: DictConfig) -> None:
    from runner import serving

    serving.main(cfg)


def predict_task(cfg: DictConfig) -> None:
    from runner import predict

    predict.main(cfg)


HYDRA_TASKS = {"train": train_task, "serve": serve_task, "predict": predict_task}


class ConfigCheck(Callback):
    """Hydra callback (conf/config.yaml): a sweep's base config is checked before the sweep
    starts anything, so a mistake is one line and no JVM, MLflow run or Optuna trial exists.

    Hydra turns a callback's exceptions into warnings and goes on, hence the exit here.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from runner.data import DataSpec
        from runner.pipeline import features, models

        try:  # the sweep's values aside; each trial checks its own config when it starts
            launch_paths.launch_relative(config, config.hydra)  # before the sweep's callback
            check(config)
            spec = DataSpec.resolve(config.data)
            features.check(config.features, spec)
            models.check(config.model, spec)
        except RunnerError as exc:
            console.error(str(exc))
            sys.exit(1)
