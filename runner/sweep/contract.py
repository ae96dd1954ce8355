"""Where runner's sweep and a sweeper meet: the view of a study a sweeper hands the sweep.

Runner's Optuna sweeper (hydra_plugins/runner_optuna_sweeper/view.py) implements ``StudyView``
and gives it to the ``Sweep`` with ``Sweep.attach``; a grid sweep (Hydra's BasicSweeper) has no
study, and the sweep then goes by its MLflow runs alone. Nothing else passes between them.
"""

from __future__ import annotations

from typing import Any, Protocol

# A trial's state as runner reports it: Optuna's names, and INTERRUPTED for a trial an
# interruption ended (Optuna holds it as FAIL; it does not count towards n_trials)
STATES = ("COMPLETE", "PRUNED", "FAIL", "INTERRUPTED")
# A pruned trial's MLflow run ends KILLED, with this tag value under runs.STATE_TAG
PRUNED = "PRUNED"


class Reporter(Protocol):
    """A trial's intermediate values, for its pruner: called after each fold with the fold's
    step (folds done - 1) and the running mean of the fold scores. Raises
    ``runner.errors.TrialPruned`` when the pruner stops the trial."""

    def __call__(self, step: int, value: float) -> None: ...


class StudyView(Protocol):
    """What runner needs from the sweeper's study."""

    def statuses(self) -> dict[int, str]:
        """Trial number -> the MLflow status its run must end with: FINISHED, FAILED, KILLED,
        or PRUNED (a run ended KILLED and tagged pruned)."""
        ...

    def states(self) -> dict[str, int]:
        """How many trials are in each of ``STATES``: what the summary counts."""
        ...

    def best_number(self) -> int | None:
        """The best trial of a single-objective study (None: none COMPLETE, or several
        objectives)."""
        ...

    def front(self) -> set[int] | None:
        """The Pareto front's trial numbers of a multi-objective study; None for one objective."""
        ...

    def reporter_for(self, number: int) -> Reporter | None:
        """Trial ``number``'s reporter while it runs (None: the study takes no intermediate
        values, e.g. several objectives)."""
        ...

    def plot_source(self) -> Any:
        """The ``optuna.Study`` to draw Optuna's plots from."""
        ...
