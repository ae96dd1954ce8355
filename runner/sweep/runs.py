"""How a trial's child run is tagged, and read back: trial number, swept values, overrides."""

from __future__ import annotations

import json

from runner import tracking

TRIAL_TAG = tracking.SWEEP_TAG + "trial"
PARAMS_TAG = tracking.SWEEP_TAG + "params"
STUDY_TAG = tracking.SWEEP_TAG + "study"  # <storage>#<study name>, for people
STUDY_UID_TAG = tracking.SWEEP_TAG + "study_uid"  # the study's uid, to adopt an unstored parent
# A trial's state beside its run's status: PRUNED on a pruned trial's run (ended KILLED)
STATE_TAG = tracking.TRIAL_STATE_TAG


def trial_number(child: tracking.ChildRun) -> int:
    """The trial a child run ran; -1 for a run with no trial tag."""
    return int(child.tags.get(TRIAL_TAG, "-1"))


def trial_params(child: tracking.ChildRun) -> dict[str, str]:
    """The swept values a child run was given, by config key."""
    return dict(json.loads(child.tags.get(PARAMS_TAG, "{}")))


def split_overrides(overrides: list[str]) -> dict[str, str]:
    """``["model.maxIter=5,10", "+x=1"]`` -> ``{"model.maxIter": "5,10", "x": "1"}``."""
    pairs = (line.partition("=") for line in overrides)
    return {key.lstrip("+~"): value for key, _, value in pairs}
