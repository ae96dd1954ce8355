"""Sweeps: one MLflow parent run per multirun, a child run per trial, the best model logged once.

Modules, lowest first: ``runs`` (child-run tags), ``objectives`` (what is optimized, which way),
``contract`` (``StudyView``: what a sweeper's study shows the sweep), ``milestones`` (named
points a test may hook), ``report`` (trials table, plots, summary), ``trials`` (one trial: the
training steps in a child run), ``best`` (the best trial and its model), ``parent`` (the parent
run's life), ``progress`` (a line per trial), ``state`` (``Sweep``: one multirun), ``callback``
(``SweepCallback``: Hydra's hook, where a sweeper finds the sweep).
"""

from runner.sweep.best import Best
from runner.sweep.callback import SweepCallback, current, of_callbacks
from runner.sweep.contract import PRUNED, STATES, Reporter, StudyView
from runner.sweep.objectives import OBJECTIVES_KEY, check_objectives, lower_is_better
from runner.sweep.parent import StudyKey
from runner.sweep.runs import PARAMS_TAG, STATE_TAG, TRIAL_TAG
from runner.sweep.state import Sweep

__all__ = [
    "OBJECTIVES_KEY",
    "PARAMS_TAG",
    "PRUNED",
    "STATES",
    "STATE_TAG",
    "TRIAL_TAG",
    "Best",
    "Reporter",
    "StudyKey",
    "StudyView",
    "Sweep",
    "SweepCallback",
    "check_objectives",
    "current",
    "lower_is_better",
    "of_callbacks",
]
