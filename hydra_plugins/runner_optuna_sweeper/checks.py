"""The sweeper's own keys, checked before anything starts (one line each): counts, rates, and the
directions, one per objective, each the metric's own (a loss minimized, a score maximized)."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, ListConfig

from runner import sweep as runner_sweep
from runner.config import value_of
from runner.errors import RunnerError

DIRECTIONS = ("minimize", "maximize")


def check_counts(n_trials: int, n_jobs: int, max_failure_rate: float) -> None:
    if n_trials < 1:
        raise RunnerError(f"hydra.sweeper.n_trials={n_trials}: must be at least 1")
    if n_jobs < 1:
        raise RunnerError(f"hydra.sweeper.n_jobs={n_jobs}: must be at least 1")
    if not 0.0 <= max_failure_rate <= 1.0:
        raise RunnerError(f"hydra.sweeper.max_failure_rate={max_failure_rate}: must be "
                          "between 0 and 1")


def directions(direction: Any, config: DictConfig) -> list[str]:
    """``hydra.sweeper.direction`` as names, checked against runner's objectives (another
    app's task return value is optimized as it is)."""
    names = parse_directions(direction)
    evaluation = config.get("evaluation")
    if evaluation is not None and evaluation.get("primary") is not None:
        check_objectives(evaluation, names)
    return names


def parse_directions(direction: Any) -> list[str]:
    """``hydra.sweeper.direction`` as a list of names: one, or one per objective."""
    given = list(direction) if isinstance(direction, (list, tuple, ListConfig)) else [direction]
    names = [getattr(d, "name", str(d)) for d in given]
    if not names or any(n not in DIRECTIONS for n in names):
        raise RunnerError(f"hydra.sweeper.direction={show_directions(names)}: each direction must "
                          "be minimize or maximize; a list ([maximize,minimize]) makes a "
                          "multi-objective sweep, one direction per objective")
    return names


def show_directions(names: list[str]) -> str:
    """As written on the command line: ``maximize`` or ``[maximize,minimize]``."""
    return names[0] if len(names) == 1 else f"[{','.join(names)}]"


def check_objectives(evaluation: DictConfig, directions: list[str]) -> None:
    """One direction per objective, each the metric's own."""
    names = runner_sweep.check_objectives(evaluation)
    primary = value_of(evaluation.primary)
    given = show_directions(directions)
    what = (f"{runner_sweep.OBJECTIVES_KEY}={names}" if evaluation.get("objectives") else
            f"evaluation.primary={primary} (no {runner_sweep.OBJECTIVES_KEY})")
    if len(names) != len(directions):
        raise RunnerError(
            f"hydra.sweeper.direction={given} has {len(directions)} direction(s) but "
            f"{what} is {len(names)} objective(s): give one direction per objective, in "
            "the same order")
    wanted = ["minimize" if runner_sweep.lower_is_better(n) else "maximize" for n in names]
    for name, have, want in zip(names, directions, wanted, strict=True):
        if have == want:
            continue
        better = "lower" if want == "minimize" else "higher"
        if names == [primary] and not evaluation.get("objectives"):
            raise RunnerError(
                f"hydra.sweeper.direction={have} disagrees with evaluation.primary={primary}, "
                f"which is {better} is better: set hydra.sweeper.direction={want} (or pick "
                "another evaluation.primary)")
        raise RunnerError(
            f"hydra.sweeper.direction={given} disagrees with {what}: {name} is {better} is "
            f"better, so {want} it: set hydra.sweeper.direction={show_directions(wanted)}")
