"""Training as steps: prepare (check, data, pipeline), fit, evaluate, log; ``run`` composes them.

A single run (``run``) registers and promotes its model once its MLflow run has ended FINISHED.
A sweep composes the same steps its own way (runner.sweep.trials): each trial fits, evaluates
and logs its metrics in a child run, and the best trial's model is logged and registered once.
The steps share a ``RunContext`` (prepared data, fitted feature stages, the Spark work pool):
one per single run, one per sweep.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from runner import spark, tracking
from runner.config.enums import value_of
from runner.console import Progress
from runner.context import RunContext
from runner.data import dataset as data_mod
from runner.data.spec import DataSpec, for_task
from runner.pipeline import fitting, models
from runner.pipeline.assemble import (
    build_pipeline,
    check,
    metric_names,
    model_inputs,
    positive_index,
    with_class_names,
)
from runner.train import evaluation, publish

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class TrainResult:
    """What a run produced: its id, test (and train) metrics, and the registered model if any."""

    run_id: str
    metrics: dict[str, float]
    primary: str
    tracking_uri: str
    model: tracking.LoggedModel | None = None
    train_metrics: dict[str, float] = field(default_factory=dict)
    # the fit's wall time, logged as the metric train_seconds (not a score: kept apart)
    fit_seconds: float = field(default=0.0, compare=False)

    @property
    def value(self) -> float:
        return self.metrics[self.primary]


@dataclass(frozen=True)
class Prepared:
    """A run ready to fit: its config, data spec (class names filled in), data and unfitted
    pipeline, and what its MLflow run logs before the fit (tags, params, the settled config as
    YAML)."""

    cfg: DictConfig
    spec: DataSpec
    session: SparkSession
    dataset: data_mod.Dataset
    pipeline: Any  # a pyspark.ml Pipeline
    params: dict[str, Any]
    config_yaml: str
    tags: dict[str, str]
    tracking_uri: str


@dataclass(frozen=True)
class Fitted:
    """The fitted PipelineModel and the fit's wall seconds (``train_seconds``); the model's
    input example when it was taken during the fit."""

    model: Any
    seconds: float
    example: Any = None


@dataclass(frozen=True)
class Evaluated:
    """Test (and train) metrics as logged, and the model if this step logged it."""

    metrics: dict[str, float]
    train_metrics: dict[str, float]
    logged: tracking.LoggedModel | None


def run(cfg: DictConfig, overrides: list[str], extra_tags: dict[str, str] | None = None,
        context: RunContext | None = None) -> TrainResult:
    """Train, log, register and promote one run from a composed config.

    ``extra_tags`` are added to the run's (``runner reproduce`` names its source run);
    ``context``: caches to share with other runs of the task (one of its own by default).
    """
    own = context is None
    context = context or RunContext()
    try:
        progress = Progress(enabled=True)
        prepared = prepare(cfg, context, progress)
        tags = {**prepared.tags, **(extra_tags or {})}
        with tracking.run(prepared.cfg.tracking.run_name, tags) as run_id:
            fitted = fit(prepared, context, overrides, progress, example=True)
            evaluated = evaluate_and_log(prepared, context, fitted, progress, with_model=True)
        # Registered, and aliased, only now that the run has ended FINISHED with all logged.
        logged = evaluated.logged
        if logged is not None:
            logged = publish.register(prepared.cfg, logged, evaluated.metrics)
        return result(run_id, prepared, fitted, evaluated, logged)
    finally:
        if own:
            context.close()


def result(run_id: str, prepared: Prepared, fitted: Fitted, evaluated: Evaluated,
           model: tracking.LoggedModel | None = None) -> TrainResult:
    """The steps' outcome as a ``TrainResult``."""
    return TrainResult(run_id, evaluated.metrics, value_of(prepared.cfg.evaluation.primary),
                       prepared.tracking_uri, model, evaluated.train_metrics, fitted.seconds)


def prepare(cfg: DictConfig, context: RunContext, progress: Progress) -> Prepared:
    """Every check, the Spark session, the data (its spec and splits from ``context`` when a
    trial read them) and the pipeline: all that can fail before an MLflow run exists."""
    spec = for_task(cfg.data, context)
    check(cfg, spec)
    tracking.check_store(cfg.tracking.uri)  # seconds, before the JVM: not minutes of retries
    loading = prefetch(cfg, context)  # the JVM starts and reads the data while MLflow sets up
    uri = tracking.configure(cfg.tracking)
    session, dataset = loading.result()
    progress.step(f"Spark session, MLflow store and data ready: {dataset.train_rows} train, "
                  f"{dataset.test_rows} test rows")
    spec = with_class_names(spec, dataset)
    pipeline, params = build_pipeline(cfg, spec, dataset, context)
    # a metric the data or the model cannot give, or a positive class the label lacks: now,
    # not after the fit
    metric_names(cfg, dataset, pipeline.getStages()[-1])
    positive_index(spec, dataset)
    tags = {**tracking.standard_tags(spark.master_of(session)),
            **models.tags(cfg.model, models.class_count(dataset.classes)),
            **dict(cfg.tracking.tags)}
    # Before the Spark thread reads cfg: OmegaConf's deepcopy (settled) unhooks each node of
    # the source from its parent while copying it, so a concurrent read of '${seed}' failed
    # ('Cannot resolve interpolation for a node without a parent').
    config_yaml = OmegaConf.to_yaml(data_mod.settled(cfg, spec), resolve=True)
    return Prepared(cfg, spec, session, dataset, pipeline, params, config_yaml, tags, uri)


def fit(prepared: Prepared, context: RunContext, overrides: list[str], progress: Progress,
        example: bool = False) -> Fitted:
    """Fit in a Spark thread (feature stages reused from ``context``) while this one logs the
    run's inputs: config, overrides, params, dataset. Inside the active MLflow run.

    ``example``: also take the model's input example meanwhile (a run that logs its model):
    its small Spark job then runs beside the fit's, not after it on the way to the model."""
    p = prepared
    fitting_ = context.pool.submit(spark.in_thread(p.session, _timed_fit), context, p.pipeline,
                                   p.dataset.train, p.cfg, p.dataset.train_rows)
    log_inputs(p.cfg, p.spec, p.config_yaml, overrides, p.params, p.dataset)
    sample = publish.input_example(p.cfg, p.spec, p.dataset) if example else None
    fitted = fitting_.result()
    progress.step("pipeline fitted")
    return Fitted(fitted.model, fitted.seconds, sample)


def evaluate_and_log(prepared: Prepared, context: RunContext, fitted: Fitted,
                     progress: Progress, with_model: bool) -> Evaluated:
    """Score the splits in a Spark thread while this one logs the model (``with_model``, as
    tracking.log_models allows); then the metrics and the confusion figure. Inside the run."""
    cfg, spec, dataset = prepared.cfg, prepared.spec, prepared.dataset
    scoring = context.pool.submit(spark.in_thread(prepared.session, evaluation.score), context,
                                  cfg, spec, fitted.model, dataset)
    logged = None
    if with_model:
        example = (fitted.example if fitted.example is not None
                   else publish.input_example(cfg, spec, dataset))
        logged = publish.log_fitted_model(cfg, spec, fitted.model, example)
    metrics, train_metrics = evaluation.log_evaluation(cfg, *scoring.result(), fitted.seconds)
    progress.step("evaluated" + (" and model logged" if logged else ""))
    return Evaluated(metrics, train_metrics, logged)


def prefetch(cfg: DictConfig, context: RunContext
             ) -> Future[tuple[SparkSession, data_mod.Dataset]]:
    """Start the session and prepare the data (its spec from ``context``, resolved here on the
    task's first ask) in a Spark thread; ``.result()`` waits for both.

    Callers set up MLflow meanwhile: importing it and creating a new store's tables take seconds,
    as long as a cold JVM takes to read and split the data. A Spark Connect session is per
    thread, so there the data is prepared in the caller's thread, before it returns. A small
    input gets the quick JIT (``spark.quick_jit_below_mb``).
    """
    spec = for_task(cfg.data, context)
    session_future = spark.start_async(cfg.spark, spec.path)

    def load() -> tuple[SparkSession, data_mod.Dataset]:
        session = session_future.result()
        return session, data_mod.load(session, spec, context, list(model_inputs(cfg, spec)))

    if not cfg.spark.remote:
        return context.pool.submit(load)
    loaded: Future[tuple[SparkSession, data_mod.Dataset]] = Future()
    try:
        loaded.set_result(load())
    except BaseException as exc:  # raised where the caller waits, as from the pool
        loaded.set_exception(exc)
    return loaded


def _timed_fit(*args: Any) -> Fitted:
    """``fitting.fit`` and its wall seconds: the ``train_seconds`` a sweep may minimize."""
    started = time.perf_counter()
    model = fitting.fit(*args)
    return Fitted(model, time.perf_counter() - started)


def log_inputs(cfg: DictConfig, spec: DataSpec, config_yaml: str, overrides: list[str],
               params: dict[str, Any], dataset: data_mod.Dataset) -> None:
    """The run's config, overrides, params and data set, into the active run."""
    tracking.log_config(config_yaml, overrides)
    tracking.log_params({**params, "data.path": spec.source, "data.rows": dataset.rows,
                         "data.split.seed": spec.split.seed})
    if cfg.tracking.log_datasets:
        tracking.log_dataset(dataset, spec.name, dict(spec.schema))
