"""What a sweep optimizes: its objectives, each one's direction, and which trial is better."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig

from runner.config import BINARY_METRICS, value_of
from runner.errors import RunnerError
from runner.pipeline.cv import VALIDATION_PREFIX
from runner.train import LOWER_IS_BETTER, TRAIN_SECONDS

OBJECTIVES_KEY = "evaluation.objectives"


def objectives(evaluation: DictConfig) -> list[str]:
    """What a trial returns, in order: ``evaluation.objectives``, or just the primary metric."""
    names = evaluation.get("objectives")
    return [str(n) for n in names] if names else [value_of(evaluation.primary)]


def check_objectives(evaluation: DictConfig) -> list[str]:
    """The objectives, each a metric a run logs: one of evaluation.metrics, the primary, the
    two-class metrics (evaluation.binary_metrics; whether the data has two classes is checked
    once it is read), ``train_<metric>`` (with evaluation.train_metrics) or ``train_seconds``;
    one line naming the key otherwise."""
    names = objectives(evaluation)
    metrics = [value_of(m) for m in evaluation.metrics]
    metrics += [m for m in [value_of(evaluation.primary)] if m not in metrics]
    if evaluation.get("binary_metrics", True):
        metrics += [m for m in BINARY_METRICS if m not in metrics]
    known = [*metrics, *([f"train_{m}" for m in metrics] if evaluation.train_metrics else []),
             TRAIN_SECONDS]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise RunnerError(f"{OBJECTIVES_KEY}={names}: {', '.join(unknown)} is not a metric a "
                          f"run logs (one of {', '.join(known)})")
    if len(set(names)) != len(names):
        raise RunnerError(f"{OBJECTIVES_KEY}={names}: names an objective twice")
    return names


def lower_is_better(name: str) -> bool:
    """An objective to minimize: a loss (on validation, test or train) or the fit's time."""
    metric = name.removeprefix(VALIDATION_PREFIX).removeprefix("train_")
    return name == TRAIN_SECONDS or metric in LOWER_IS_BETTER


def selected_on(name: str) -> str:
    """The figure a trial logs, and the sweep selects on, for an objective or primary metric:
    ``val_<metric>`` (validation, never test); ``train_*`` and train_seconds as they are."""
    return name if name.startswith("train_") else VALIDATION_PREFIX + name


@dataclass(frozen=True)
class Goals:
    """A sweep's primary metric and its direction, and its objectives (several: ``multi``), by
    the names trials log them under: ``val_accuracy`` for evaluation.primary=accuracy."""

    primary: str
    greater: bool  # the primary metric is maximized
    objectives: tuple[str, ...]
    multi: bool

    @classmethod
    def of(cls, evaluation: DictConfig, kind: str) -> Goals:
        """Only Optuna sweeps optimize several objectives; a grid ranks by the primary."""
        primary = value_of(evaluation.primary)
        names = tuple(selected_on(n) for n in objectives(evaluation))
        return cls(selected_on(primary), primary not in LOWER_IS_BETTER, names,
                   kind == "optuna" and len(names) > 1)

    def better(self, value: float, than: float) -> bool:
        """A strictly better primary value."""
        return value > than if self.greater else value < than

    def dominates(self, a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        """``a`` at least as good as ``b`` on every objective, and not equal."""
        signs = [-1.0 if lower_is_better(o) else 1.0 for o in self.objectives]
        better = [s * x >= s * y for s, x, y in zip(signs, a, b, strict=True)]
        return all(better) and a != b
