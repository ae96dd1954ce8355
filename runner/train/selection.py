"""A sweep trial scored on validation rows, never on the test split.

The trial's pipeline is fit on each fold's training rows (feature stages too, as CrossValidator
fits them: a scaler fit on all training rows would see the fold's validation rows) and scored
on the fold's validation rows. The figures are logged as ``val_<metric>`` (mean),
``val_<metric>_std`` and ``val_<metric>_fold_<i>``; ``train_<metric>`` is the mean over the folds'
training rows, ``train_seconds`` the mean fit time of a fold. After each fold the trial tells its
``report`` (a pruner's, from the sweep) the running mean of the primary metric; a pruned trial
stops there. The folds are built once per task (RunContext), so every trial sees the same rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from runner import spark, tracking
from runner.config import value_of
from runner.context import RunContext, config_key
from runner.pipeline import cv, fitting
from runner.pipeline.assemble import TRAIN_SECONDS
from runner.train import evaluation
from runner.train.steps import Prepared, log_inputs

# the sweep's pruning hook: report(step, value) after each fold (step = folds done - 1, value =
# the running mean); it may raise runner.errors.TrialPruned
Report = Callable[[int, float], None]


@dataclass(frozen=True)
class Validated:
    """A trial's validation figures (val_*, train_* means, train_seconds) as logged."""

    metrics: dict[str, float]
    fit_seconds: float  # a fold's mean fit time


def folds(prepared: Prepared, context: RunContext) -> cv.Folds:
    """The task's folds of the training split (or its validation split), built and checked
    once: a class too small for the folds, or an empty validation part, is one line here,
    before the trial's MLflow run."""
    cfg = prepared.cfg
    fraction = prepared.spec.split.validation
    k = int(cfg.evaluation.cv.folds)
    key = config_key(prepared.spec.key, {"folds": k})
    with context.data_lock:
        if key not in context.folds:
            context.folds[key] = _build(prepared, k, fraction)
        built: cv.Folds = context.folds[key]
        return built


def _build(prepared: Prepared, k: int, fraction: float) -> cv.Folds:
    cfg, dataset = prepared.cfg, prepared.dataset
    counts = cv.class_counts(dataset.train, prepared.spec.label)
    if fraction > 0:
        cv.check_validation(fraction, counts)
    else:
        cv.check_folds(k, counts)
    assigned = cv.assign(dataset.train, prepared.spec.label, prepared.spec.split.seed, k, fraction)
    frame = spark.keep(assigned, cfg.spark, dataset.train_rows)
    sizes = {int(r[0]): int(r[1]) for r in frame.groupBy(cv.FOLD_COL).count().collect()}
    if fraction > 0:
        return cv.Folds(frame, 2, (0,), sizes, f"validation split {fraction:g}")
    return cv.Folds(frame, k, tuple(range(k)), sizes, f"{k}-fold cross-validation")


def validate_and_log(prepared: Prepared, context: RunContext, folds: cv.Folds, run_id: str,
                     overrides: list[str], report: Report | None = None) -> Validated:
    """Score the trial on ``folds`` in a Spark thread while this one logs its inputs; inside
    its MLflow run ``run_id``."""
    scoring = context.pool.submit(spark.in_thread(prepared.session, validate), prepared,
                                  context, folds, run_id, report)
    p = prepared
    log_inputs(p.cfg, p.spec, p.config_yaml, overrides, p.params, p.dataset)
    return scoring.result()  # a pruned trial raises here, its inputs and folds logged


def validate(prepared: Prepared, context: RunContext, folds: cv.Folds, run_id: str,
             report: Report | None = None) -> Validated:
    """Fit and score each fold in turn, logging its figures as it ends and telling ``report``
    the running mean of the primary metric; then the means, spreads and train_seconds."""
    primary = value_of(prepared.cfg.evaluation.primary)
    per_fold: list[dict[str, float]] = []
    on_train: list[dict[str, float]] = []
    seconds: list[float] = []
    for step, fold in enumerate(folds.scored):
        scores, train_scores, fit_seconds = score_fold(prepared, context, folds, fold)
        per_fold.append(scores)
        on_train += [train_scores] if train_scores else []
        seconds.append(fit_seconds)
        if len(folds.scored) > 1:
            tracking.log_to_run(run_id, metrics={
                k: v for name in scores for k, v in cv.fold_figures([scores], (fold,), name)
                .items()})
        if report is not None:
            report(step, cv.running_mean(per_fold, primary))
    metrics = cv.figures(per_fold, folds.scored)
    for name in on_train[0] if on_train else []:
        metrics[f"train_{name}"] = float(np.mean([s[name] for s in on_train]))
    metrics[TRAIN_SECONDS] = float(np.mean(seconds))
    tracking.log_to_run(run_id, metrics=metrics)
    return Validated(metrics, metrics[TRAIN_SECONDS])


def score_fold(prepared: Prepared, context: RunContext, folds: cv.Folds, fold: int
               ) -> tuple[dict[str, float], dict[str, float], float]:
    """Fold ``fold``: the pipeline fit on its training rows (feature stages kept per fold for
    the next trials), its validation (and, with evaluation.train_metrics, training) metrics and
    the fit's seconds."""
    cfg = prepared.cfg
    train_part, validation = folds.parts(fold)
    part = f"|{folds.name}|{fold}"
    started = time.perf_counter()
    model = fitting.fit(context, prepared.pipeline, train_part, cfg, folds.train_rows(fold), part)
    seconds = time.perf_counter() - started
    name = f"{folds.name} fold {fold}"
    splits: dict[str, Any] = {f"{name} validation": validation}
    rows = folds.sizes.get(fold, 0)
    if cfg.evaluation.train_metrics:
        splits[f"{name} train"] = train_part
        rows += folds.train_rows(fold)
    results = evaluation.score_splits(context, cfg, prepared.spec, model, prepared.dataset,
                                      splits, rows, part)
    train_scores = results[f"{name} train"][0] if cfg.evaluation.train_metrics else {}
    return results[f"{name} validation"][0], train_scores, seconds


def fit_whole_and_log(prepared: Prepared, context: RunContext, test: bool, with_model: bool
                      ) -> tracking.LoggedModel | None:
    """``evaluation.test_each_trial`` or ``tracking.log_models=all``: the trial's pipeline fit
    on the whole training split, its test metrics logged under their plain names (as a single
    run's) and its model logged. Inside the trial's run."""
    from runner.train import publish

    cfg, dataset = prepared.cfg, prepared.dataset
    model = fitting.fit(context, prepared.pipeline, dataset.train, cfg, dataset.train_rows)
    if test:
        results, fig = evaluation.score(context, cfg, prepared.spec, model, dataset)
        tracking.log_metrics(results["test"][0])
        if fig is not None:
            tracking.log_figure(fig, "confusion_matrix.png")
    if not with_model:
        return None
    spec = prepared.spec
    return publish.log_fitted_model(cfg, spec, model, publish.input_example(cfg, spec, dataset))
