"""One trial: the training steps composed for a sweep, in a child run of the sweep's parent.

A trial logs its inputs like a single run, and its validation figures (``val_<metric>``: k-fold
cross-validation of the training split, or its validation split; ``train.selection``), which are
what the sweep selects on. It touches the test split only with evaluation.test_each_trial, and
logs a model (fit on the whole training split) only under ``tracking.log_models=all``; it is
never registered here: the sweep refits its winner and registers that (``best``).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from runner import spark, tracking, train
from runner.compat import pyspark as compat_pyspark
from runner.config import value_of
from runner.console import Progress
from runner.context import RunContext
from runner.errors import RunnerError
from runner.sweep.contract import Reporter
from runner.sweep.objectives import OBJECTIVES_KEY, Goals
from runner.sweep.runs import PARAMS_TAG, TRIAL_TAG, split_overrides
from runner.train import selection


@dataclass(frozen=True)
class Trial:
    """What a trial gives its sweep: the run's result, its fitted model, objective values."""

    result: train.TrainResult
    fitted: Any  # None: a trial has a model per fold; the sweep refits its winner
    values: tuple[float, ...]  # every objective's, in a multi-objective sweep; else empty


class JobGroups:
    """The Spark job group of each running trial, to cancel them when the sweep stops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: dict[str, Any] = {}  # group -> its SparkContext

    @contextmanager
    def running(self, cfg: DictConfig, label: str, number: int) -> Iterator[None]:
        """This trial's Spark jobs in this thread's FAIR pool (trials running at once share the
        executors instead of queueing behind each other) and in a job group of its own (to be
        cancelled alone, and named ``label`` in Spark's UI). Spark Connect has no SparkContext:
        no-op."""
        if cfg.spark.remote:
            yield
            return
        context = spark.start_async(cfg.spark).result().sparkContext
        group = f"trial-{number}"
        context.setLocalProperty("spark.scheduler.pool", threading.current_thread().name)
        context.setJobGroup(group, label)
        with self._lock:
            self._groups[group] = context
        try:
            yield
        finally:
            with self._lock:
                self._groups.pop(group, None)
            compat_pyspark.clear_job_group(context)

    def cancel(self) -> None:
        """Cancel the Spark jobs of trials still running."""
        with self._lock:
            groups = dict(self._groups)
        for group, context in groups.items():
            context.cancelJobGroup(group)


def run(cfg: DictConfig, overrides: list[str], number: int, parent_run_id: str,
        swept_keys: list[str], kind: str, goals: Goals, context: RunContext,
        jobs: JobGroups, report: Reporter | None = None) -> Trial:
    """Prepare trial ``number``, score it on the sweep's validation folds (never the test
    split) and log it as a child run of ``parent_run_id``. ``report``: the study's reporter for
    this trial's intermediate values (None: no study, or one that takes none), told the running
    validation mean after each fold; it raises TrialPruned inside the run, which then ends
    pruned."""
    if not cfg.tracking.run_name:
        OmegaConf.update(cfg, "tracking.run_name", f"trial-{number:03d}")
    swept = {k: v for k, v in split_overrides(overrides).items() if k in swept_keys}
    tags = {TRIAL_TAG: str(number), PARAMS_TAG: json.dumps(swept)}
    with_model = value_of(cfg.tracking.log_models) == "all"
    quiet = Progress(enabled=False)  # the sweep prints a line per trial instead
    with jobs.running(cfg, f"{kind} sweep trial {number}: {json.dumps(swept)}", number):
        prepared = train.prepare(cfg, context, quiet)
        folds = selection.folds(prepared, context)  # checked before the trial's run exists
        with tracking.run(prepared.cfg.tracking.run_name, {**prepared.tags, **tags},
                          parent_run_id) as run_id:
            validated = selection.validate_and_log(prepared, context, folds, run_id, overrides,
                                                   report)
            quiet.step(f"scored on {folds.name}")
            logged = None
            if cfg.evaluation.test_each_trial or with_model:
                logged = selection.fit_whole_and_log(prepared, context,
                                                     bool(cfg.evaluation.test_each_trial),
                                                     with_model)
    result = train.TrainResult(run_id, validated.metrics, goals.primary, prepared.tracking_uri,
                               logged, fit_seconds=validated.fit_seconds)
    return Trial(result, None, objective_values(result, goals))


def objective_values(result: train.TrainResult, goals: Goals) -> tuple[float, ...]:
    """The objectives' values (none for a single objective: the primary is the result's value).
    A NaN or missing one fails the run and raises: Optuna fails the trial, and its run must
    not stay FINISHED."""
    logged = result.metrics
    keys = [("evaluation.primary", result.primary)] + (
        [(OBJECTIVES_KEY, o) for o in goals.objectives] if goals.multi else [])
    for key, name in keys:
        if math.isnan(logged.get(name, math.nan)):
            why = (f"{key}: {name} is NaN" if name in logged else
                   f"{key}: {name} was not computed (the run logged {sorted(logged)})")
            tracking.mark_failed(result.run_id, f"RunnerError: {why}")
            raise RunnerError(why)
    return tuple(logged[o] for o in goals.objectives) if goals.multi else ()
