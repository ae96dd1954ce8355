"""The study as runner's sweep sees it (``runner.sweep.StudyView``), and each running trial's
reporter: its intermediate values told to Optuna, and its pruner asked after each."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from runner.errors import TrialPruned

from . import study as study_mod

if TYPE_CHECKING:
    import optuna


class OptunaStudyView:
    """``runner.sweep.StudyView`` over an Optuna study; the sweeper says which trials run."""

    def __init__(self, study: optuna.Study, per_fold: bool) -> None:
        self.study = study
        self.per_fold = per_fold  # the pruner compares fold by fold (Wilcoxon)
        self._running: dict[int, optuna.Trial] = {}
        self._lock = threading.Lock()  # trials run in threads

    def running(self, trial: optuna.Trial) -> None:
        with self._lock:
            self._running[trial.number] = trial

    def ended(self, number: int) -> None:
        with self._lock:
            self._running.pop(number, None)

    def statuses(self) -> dict[int, str]:
        return study_mod.mlflow_statuses(self.study)

    def states(self) -> dict[str, int]:
        return study_mod.state_counts(self.study)

    def best_number(self) -> int | None:
        return study_mod.best_number(self.study)

    def front(self) -> set[int] | None:
        return (study_mod.front_numbers(self.study) if study_mod.is_multi_objective(self.study)
                else None)

    def reporter_for(self, number: int) -> Reporter | None:
        """None for a multi-objective study: Optuna takes no intermediate values there."""
        with self._lock:
            trial = self._running.get(number)
        if trial is None or study_mod.is_multi_objective(self.study):
            return None
        return Reporter(trial, self.per_fold)

    def plot_source(self) -> Any:
        return self.study


class Reporter:
    """``runner.sweep.Reporter`` for one trial: ``report(step, running_mean)`` after each fold.

    Optuna's pruners compare trials at equal steps: the running mean is what they see, except a
    per-fold pruner (Wilcoxon: a paired test over the folds) that sees each fold's own score,
    recovered from two running means: fold_k = (k + 1) * mean_k - k * mean_(k-1).
    """

    def __init__(self, trial: optuna.Trial, per_fold: bool) -> None:
        self.trial, self.per_fold = trial, per_fold
        self._means: dict[int, float] = {}

    def __call__(self, step: int, value: float) -> None:
        self._means[step] = value
        reported = value
        if self.per_fold and step > 0 and step - 1 in self._means:
            reported = (step + 1) * value - step * self._means[step - 1]
        self.trial.report(reported, step)
        if self.trial.should_prune():
            raise TrialPruned(f"pruned at step {step}: {value:.4f}")
