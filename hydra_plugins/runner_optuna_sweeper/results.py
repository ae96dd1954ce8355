"""optimization_results.yaml in the sweep dir, as the official plugin writes it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf

from . import study as study_mod

if TYPE_CHECKING:
    import optuna


def save(study: optuna.Study, sweep_dir: str) -> dict[str, Any] | None:
    """The best params and value (a multi-objective study: its Pareto front, the official
    plugin's "solutions"); None, and no file, when no trial is COMPLETE."""
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    results: dict[str, Any] = {"name": "optuna", "study_name": study.study_name}
    if study_mod.is_multi_objective(study):
        results["solutions"] = [{"number": t.number, "params": t.params, "values": t.values}
                                for t in study.best_trials]
    else:
        results.update(best_params=study.best_params, best_value=study.best_value)
    os.makedirs(sweep_dir, exist_ok=True)  # no job ran: a finished study
    OmegaConf.save(OmegaConf.create(results), f"{sweep_dir}/optimization_results.yaml")
    return results
