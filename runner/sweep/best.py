"""The best trial: kept while trials run, chosen from the child runs at the end, its model
logged (or refit, when its trial ran in a process that has ended) and registered once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from runner import spark, tracking, train
from runner.console import out
from runner.context import RunContext
from runner.data import dataset as data_mod
from runner.sweep.contract import PRUNED
from runner.sweep.objectives import Goals
from runner.sweep.runs import STATE_TAG, trial_number


@dataclass
class Best:
    """The best trial so far; ``fitted`` only when it ran in this process and is not logged yet."""

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
    """Per ``tracking.log_models``: best logs it now, all already did; then the champion rule.

    ``kept``: the best trial this process ran, with its config and fitted model when it is
    ``chosen``; otherwise the config comes from the run and the model is refit.
    """
    kept = kept if kept is not None and kept.run_id == chosen.run_id else None
    cfg: Any = (kept.cfg if kept else None) or OmegaConf.create(
        tracking.fetch_run(chosen.run_id).config_yaml)
    policy = train.enum_value(cfg.tracking.log_models)
    name = cfg.tracking.registered_model_name
    if policy == "none":
        return
    version = tracking.registered_version(name, chosen.run_id) if name else None
    if version is None and (name or policy == "best"):  # not done by an earlier run
        logged = tracking.LoggedModel("", name, None, chosen.run_id)  # "all": trials logged
        if policy == "best":
            dataset = _dataset(cfg, context)
            fitted = (kept.fitted if kept else None) or refit(cfg, context, dataset)
            example = train.input_example(cfg, dataset)  # as a single run's model has
            with tracking.reopened(chosen.run_id):
                logged = train.log_fitted_model(cfg, fitted, example) or logged
        version = tracking.register(logged).version  # the run is FINISHED again by now
    if name and version:
        alias = train.promote(cfg, name, version, chosen.metrics[primary])
        out(f"[sweep] best trial's model: {name} version {version} @{alias}")


def _dataset(cfg: DictConfig, context: RunContext) -> data_mod.Dataset:
    """The trial's prepared data (from the sweep's context: the trials' own, when they ran
    here)."""
    return data_mod.load(spark.get_session(cfg.spark), cfg.data, context,
                         list(train.model_inputs(cfg)))


def refit(cfg: DictConfig, context: RunContext, dataset: data_mod.Dataset | None = None) -> Any:
    """Fit a trial's pipeline again from its logged config (its model was in a process that
    ended before the sweep did). Same data, seed and params give the same model."""
    dataset = dataset if dataset is not None else _dataset(cfg, context)
    pipeline, _ = train.build_pipeline(cfg, dataset, context)
    return pipeline.fit(dataset.train)
