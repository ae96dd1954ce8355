"""The best trial: kept while trials run, chosen from the child runs at the end by its
validation figure, then refit on the whole training split and scored once on the test split;
that model is logged, registered and promoted on its test figure."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from runner import tracking, train
from runner.config import value_of
from runner.console import Progress, out
from runner.context import RunContext
from runner.sweep.contract import PRUNED
from runner.sweep.objectives import Goals
from runner.sweep.runs import STATE_TAG, trial_number

REFIT_TAG = tracking.SWEEP_TAG + "refit_of"  # on the winner's refit run: the trial it refits
REFIT_RUN_TAG = tracking.SWEEP_TAG + "refit_run_id"  # on the parent run
PARENT_TAG = "mlflow.parentRunId"


@dataclass
class Best:
    """The best trial so far; ``cfg`` only when it ran in this process."""

    value: float
    run_id: str
    number: int
    cfg: DictConfig | None = None
    fitted: Any = None
    values: tuple[float, ...] = ()  # every objective's value (multi-objective sweeps)


def beats(goals: Goals, best: Best | None, value: float, values: tuple[float, ...] = ()) -> bool:
    """A better primary value; on a tie in a multi-objective sweep, better on every objective
    (the earlier trial is then off the Pareto front, so not the champion)."""
    if best is None:
        return True
    if value == best.value and values and best.values:
        return goals.dominates(values, best.values)
    return goals.better(value, best.value)


def reconcile(children: list[tracking.ChildRun], outcomes: dict[int, str]
              ) -> list[tracking.ChildRun]:
    """Child runs' statuses made to agree with the study's trial states (``outcomes``: the study
    is the truth: a run can end FINISHED before an interruption kept Optuna from hearing of it,
    or stay RUNNING after a kill); without a study, runs left RUNNING become KILLED. A PRUNED
    outcome is a KILLED run tagged pruned."""
    wanted, tagged = {}, []
    for c in children:
        status = outcomes.get(trial_number(c), "KILLED" if c.status == "RUNNING" else c.status)
        if status == PRUNED:
            status = "KILLED"
            if c.tags.get(STATE_TAG) != PRUNED:
                tagged.append(c.run_id)
        if status != c.status:
            wanted[c.run_id] = status
    for run_id in tagged:
        tracking.log_to_run(run_id, tags={STATE_TAG: PRUNED})
    if wanted:
        tracking.set_statuses(wanted)
    if not wanted and not tagged:
        return children
    return [tracking.ChildRun(c.run_id, wanted.get(c.run_id, c.status), c.metrics,
                              {**c.tags, **({STATE_TAG: PRUNED} if c.run_id in tagged else {})})
            for c in children]


def best_child(children: list[tracking.ChildRun], goals: Goals, front: set[int],
               best_trial: Callable[[], int | None] | None) -> tracking.ChildRun | None:
    """Optuna's best trial (``best_trial``); in a multi-objective sweep, the Pareto ``front``'s
    trial with the best primary metric (the lowest trial number on a tie)."""
    done = [c for c in children if c.status == "FINISHED" and goals.primary in c.metrics]
    if not done:
        return None
    pick = max if goals.greater else min
    on_front = [c for c in done if trial_number(c) in front]
    if on_front:
        ordered = sorted(on_front, key=trial_number)
        return pick(ordered, key=lambda c: c.metrics[goals.primary])
    number = best_trial() if best_trial else None
    chosen = [c for c in done if number is not None and trial_number(c) == number]
    if chosen:  # Optuna's best trial: ties between equal values broken as Optuna does
        return chosen[-1]
    return pick(done, key=lambda c: c.metrics[goals.primary])


def log_best_model(chosen: tracking.ChildRun, kept: Best | None, context: RunContext,
                   primary: str) -> None:
    """The winner refit and tested once (``evaluation.refit``); its model registered per
    ``tracking.log_models`` and promoted on its test figure; the parent gets ``test_<metric>``.

    The refit is a run nested under the winning trial's (tagged ``runner.sweep.refit_of``): a
    single run's steps with the trial's config, so its pipeline is fit on the whole training
    split (the folds' or validation split's rows together) and its plain-named metrics are test
    figures, as every single run's are. A finished sweep run again finds it and fits nothing.
    ``kept``: the best trial this process ran, with its config when it is ``chosen``; otherwise
    the config comes from the run. ``primary``: what the trials were selected on (val_...).
    """
    kept = kept if kept is not None and kept.run_id == chosen.run_id else None
    cfg: Any = (copy.deepcopy(kept.cfg) if kept and kept.cfg else None) or OmegaConf.create(
        tracking.fetch_run(chosen.run_id).config_yaml)
    number = trial_number(chosen)
    if not cfg.evaluation.refit:
        out(f"[sweep] evaluation.refit=false: trial {number} is the winner on {primary}; no "
            "model refit, tested, logged or registered")
        return
    run_id, metrics, logged = _refit_run(cfg, chosen) or _refit(cfg, context, chosen)
    name = cfg.tracking.registered_model_name
    test_primary = value_of(cfg.evaluation.primary)
    tracking.log_to_run(chosen.tags[PARENT_TAG], metrics={f"test_{k}": v for k, v in
                                                         metrics.items()},
                        tags={REFIT_RUN_TAG: run_id})
    out(f"[sweep] trial {number}, selected on {primary}={chosen.metrics[primary]:.4f}, refit "
        f"on the whole training split and scored once on the test split: test {test_primary}="
        f"{metrics[test_primary]:.4f} (run {run_id})")
    if value_of(cfg.tracking.log_models) == "none" or not name:
        return
    version = tracking.registered_version(name, run_id) or tracking.register(
        logged or tracking.LoggedModel("", name, None, run_id)).version
    if version:
        alias = train.promote(cfg, name, version, metrics[test_primary])
        out(f"[sweep] refit winner's model: {name} version {version}"
            + (f" @{alias}" if alias else " (no alias)"))


def _refit_run(cfg: DictConfig, chosen: tracking.ChildRun
               ) -> tuple[str, dict[str, float], tracking.LoggedModel | None] | None:
    """The winner's refit run and its test metrics, when an earlier process finished it; one
    that a kill left RUNNING becomes KILLED."""
    experiment = tracking.experiment_id(cfg.tracking.experiment_name)
    refits = [r for r in tracking.child_runs(experiment, chosen.run_id) if REFIT_TAG in r.tags]
    tracking.kill_running(refits)
    for run in refits:
        if run.status == "FINISHED":
            return run.run_id, {k: v for k, v in run.metrics.items()
                                if not k.startswith("train_")}, None
    return None


def _refit(cfg: DictConfig, context: RunContext, chosen: tracking.ChildRun
           ) -> tuple[str, dict[str, float], tracking.LoggedModel | None]:
    """Fit the trial's pipeline on the whole training split and score the test split once, in
    a run nested under the trial's; the model logged as a single run logs it."""
    number = trial_number(chosen)
    OmegaConf.update(cfg, "tracking.run_name", f"refit-trial-{number:03d}")
    quiet = Progress(enabled=False)
    prepared = train.prepare(cfg, context, quiet)
    with_model = value_of(cfg.tracking.log_models) != "none"
    tags = {**prepared.tags, REFIT_TAG: str(number)}
    with tracking.run(prepared.cfg.tracking.run_name, tags, chosen.run_id) as run_id:
        fitted = train.fit(prepared, context, [], quiet)
        evaluated = train.evaluate_and_log(prepared, context, fitted, quiet, with_model)
    return run_id, evaluated.metrics, evaluated.logged
