"""Sweeps: one MLflow parent run per multirun, a child run per trial, the best model logged once.

Modules, lowest first: ``runs`` (child-run tags), ``objectives`` (what is optimized, which way),
``faults`` (kill points for the reliability tests), ``report`` (trials table, plots, summary),
``trials`` (one trial: the training steps in a child run), ``best`` (the best trial and its
model), ``state`` (``Sweep``: one multirun), ``callback`` (``SweepCallback``: Hydra's hook).
"""

from runner.sweep.best import Best
from runner.sweep.callback import SweepCallback, current
from runner.sweep.faults import kill_point
from runner.sweep.objectives import OBJECTIVES_KEY, check_objectives, lower_is_better
from runner.sweep.runs import PARAMS_TAG, TRIAL_TAG
from runner.sweep.state import StudyKey, Sweep

__all__ = [
    "OBJECTIVES_KEY",
    "PARAMS_TAG",
    "TRIAL_TAG",
    "Best",
    "StudyKey",
    "Sweep",
    "SweepCallback",
    "check_objectives",
    "current",
    "kill_point",
    "lower_is_better",
]
