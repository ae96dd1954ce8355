# Checked against optuna 5.0.0 (pyproject pins optuna>=5,<6). tests/test_compat.py names this
# version when a call breaks.
"""Optuna's private names that runner's sweeper uses, one typed function each, so that an Optuna
upgrade that moves one breaks here (tests/test_compat.py) and nowhere else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial


def live_trial(study: optuna.Study, frozen: FrozenTrial) -> optuna.Trial:
    """A writable ``Trial`` for a trial read back from the storage (a ``FrozenTrial``), to set
    user attributes on a trial left RUNNING by an interrupted sweep. Optuna builds one from the
    storage's trial id, which only the private ``_trial_id`` carries."""
    from optuna.trial import Trial

    return Trial(study, frozen._trial_id)
