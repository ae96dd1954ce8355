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
from runner.console import Progress
from runner.errors import RunnerError
from runner.pipeline import data as data_mod
from runner.pipeline import evaluate, features, fitting, models
from runner.pipeline.context import RunContext

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from pyspark.sql import SparkSession

# Metrics where a smaller value is better; every other metric is maximized.
LOWER_IS_BETTER = frozenset({"hammingLoss", "weightedFalsePositiveRate", "logLoss"})
# the pipeline's fit time, logged with every run's metrics (an objective of multi-objective sweeps)
TRAIN_SECONDS = "train_seconds"


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
    """A run ready to fit: its config (class names filled in), data and unfitted pipeline, and
    what its MLflow run logs before the fit (tags, params, the settled config as YAML)."""

    cfg: DictConfig
    session: SparkSession
    dataset: data_mod.Dataset
    pipeline: Any  # a pyspark.ml Pipeline
    params: dict[str, Any]
    config_yaml: str
    tags: dict[str, str]
    tracking_uri: str


@dataclass(frozen=True)
class Fitted:
    """The fitted PipelineModel and the fit's wall seconds (``train_seconds``)."""

    model: Any
    seconds: float


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
            fitted = fit(prepared, context, overrides, progress)
            evaluated = evaluate_and_log(prepared, context, fitted, progress, with_model=True)
        # Registered, and aliased, only now that the run has ended FINISHED with all logged.
        logged = evaluated.logged
        if logged is not None:
            logged = register(prepared.cfg, logged, evaluated.metrics)
        return result(run_id, prepared, fitted, evaluated, logged)
    finally:
        if own:
            context.close()


def result(run_id: str, prepared: Prepared, fitted: Fitted, evaluated: Evaluated,
           model: tracking.LoggedModel | None = None) -> TrainResult:
    """The steps' outcome as a ``TrainResult``."""
    return TrainResult(run_id, evaluated.metrics, enum_value(prepared.cfg.evaluation.primary),
                       prepared.tracking_uri, model, evaluated.train_metrics, fitted.seconds)


def prepare(cfg: DictConfig, context: RunContext, progress: Progress) -> Prepared:
    """Every check, the Spark session, the data (from ``context`` when a trial read it) and the
    pipeline: all that can fail before an MLflow run exists."""
    check(cfg)
    tracking.check_store(cfg.tracking.uri)  # seconds, before the JVM: not minutes of retries
    loading = prefetch(cfg, context)  # the JVM starts and reads the data while MLflow sets up
    uri = tracking.configure(cfg.tracking)
    session, dataset = loading.result()
    progress.step(f"Spark session, MLflow store and data ready: {dataset.train_rows} train, "
                  f"{dataset.test_rows} test rows")
    cfg = with_class_names(cfg, dataset)
    pipeline, params = build_pipeline(cfg, dataset, context)
    # a metric the data or the model cannot give, or a positive class the label lacks: now,
    # not after the fit
    metric_names(cfg, dataset, pipeline.getStages()[-1])
    positive_index(cfg, dataset)
    tags = {**tracking.standard_tags(spark.master_of(session)),
            **models.tags(cfg.model, models.class_count(dataset.classes)),
            **dict(cfg.tracking.tags)}
    # Before the Spark thread reads cfg: OmegaConf's deepcopy (settled) unhooks each node of
    # the source from its parent while copying it, so a concurrent read of '${seed}' failed
    # ('Cannot resolve interpolation for a node without a parent').
    config_yaml = OmegaConf.to_yaml(data_mod.settled(cfg), resolve=True)
    return Prepared(cfg, session, dataset, pipeline, params, config_yaml, tags, uri)


def fit(prepared: Prepared, context: RunContext, overrides: list[str], progress: Progress
        ) -> Fitted:
    """Fit in a Spark thread (feature stages reused from ``context``) while this one logs the
    run's inputs: config, overrides, params, dataset. Inside the active MLflow run."""
    p = prepared
    fitting_ = context.pool.submit(spark.in_thread(p.session, _timed_fit), context, p.pipeline,
                                   p.dataset.train, p.cfg, p.dataset.train_rows)
    _log_inputs(p.cfg, p.config_yaml, overrides, p.params, p.dataset)
    fitted = fitting_.result()
    progress.step("pipeline fitted")
    return fitted


def evaluate_and_log(prepared: Prepared, context: RunContext, fitted: Fitted,
                     progress: Progress, with_model: bool) -> Evaluated:
    """Score the splits in a Spark thread while this one logs the model (``with_model``, as
    tracking.log_models allows); then the metrics and the confusion figure. Inside the run."""
    cfg, dataset = prepared.cfg, prepared.dataset
    scoring = context.pool.submit(spark.in_thread(prepared.session, _evaluate), context, cfg,
                                  fitted.model, dataset)
    logged = (log_fitted_model(cfg, fitted.model, input_example(cfg, dataset)) if with_model
              else None)
    metrics, train_metrics = _log_evaluation(cfg, *scoring.result(), fitted.seconds)
    progress.step("evaluated" + (" and model logged" if logged else ""))
    return Evaluated(metrics, train_metrics, logged)


def register(cfg: DictConfig, logged: tracking.LoggedModel, metrics: dict[str, float]
             ) -> tracking.LoggedModel:
    """Register a logged model (its run has ended FINISHED) and alias it by the champion rule."""
    logged = tracking.register(logged)
    if logged.version:
        promote(cfg, logged.registered_name or "", logged.version,
                metrics[enum_value(cfg.evaluation.primary)])
    return logged


def check(cfg: DictConfig) -> None:
    """Every check that needs neither a JVM nor data: classes, parameter names, paths."""
    data_mod.check_config(cfg.data)
    features.check(cfg.features, cfg.data)
    models.check(cfg.model)


def build_pipeline(cfg: DictConfig, dataset: data_mod.Dataset | None = None,
                   context: RunContext | None = None) -> tuple[Any, dict[str, Any]]:
    """The Spark Pipeline (feature stages then classifier) and every stage's params by config key.

    The classifier may depend on the data (OneVsRest for 3+ classes, MLP layer sizes); without
    ``dataset`` it is built for two classes. The unfitted feature stages come from ``context``
    when another run of the task built them.
    """
    from pyspark.ml import Pipeline

    named = features.build(cfg.features, cfg.data, context)
    out = cfg.features.output_col
    size = (lambda: features.vector_size(named, dataset.train, out)) if dataset else None
    n_classes = models.class_count(dataset.classes) if dataset else 2
    classifier = models.build(cfg.model, out, label_column(cfg, dataset), n_classes, size)
    params = {f"features.{name}.{k}": v for name, stage in named for k, v in _params(stage).items()}
    params.update({f"model.{k}": v for k, v in _params(models.unwrap(classifier)).items()})
    labels = [label_indexer(cfg, dataset)] if dataset and dataset.indexed else []
    return Pipeline(stages=[*labels, *(stage for _, stage in named), classifier]), params


def label_column(cfg: DictConfig, dataset: data_mod.Dataset | None) -> str:
    """The column holding class indices: the label itself, or its indexer's output."""
    if dataset is not None and dataset.indexed:
        return data_mod.label_index_column(cfg.data)
    return str(cfg.data.label)


def label_indexer(cfg: DictConfig, dataset: data_mod.Dataset) -> Any:
    """The label's StringIndexerModel, its labels the class names in class-index order.

    Built from the whole data set's classes (as ``StringIndexer(stringOrderType=...)`` fitted
    on all rows would be), so a class missing from the training split keeps its index. At
    transform Spark skips it when the label column is absent (serving, predict). handleInvalid
    stays ``error``: under ``keep`` the index column's metadata would list k + 1 values and
    every classifier would fit k + 1 classes.
    """
    from pyspark.ml.feature import StringIndexerModel

    return StringIndexerModel.from_labels(
        dataset.class_names, inputCol=str(cfg.data.label),
        outputCol=data_mod.label_index_column(cfg.data))


def _params(stage: Any) -> dict[str, Any]:
    """Every param with a value (set or default), by Spark's name."""
    return {p.name: v for p, v in stage.extractParamMap().items()}


def with_class_names(cfg: DictConfig, dataset: data_mod.Dataset) -> DictConfig:
    """``cfg`` with data.class_names taken from the data when it names none and the label is
    indexed: logged with the run's config, they are what serve's ``label``, predict's
    ``predicted_label`` and the confusion matrix show, and a rerun keeps the class order."""
    if data_mod.class_names_of(cfg.data) or not dataset.indexed:
        return cfg
    named = data_mod.settled(cfg)  # the schema read is written out: it stays with the names
    named.data.class_names = list(dataset.class_names)
    named.data.written_for = None
    return named


def metric_names(cfg: DictConfig, dataset: data_mod.Dataset, classifier: Any) -> list[str]:
    """The metrics a run logs: evaluation.metrics, the primary, and on two-class data
    BINARY_METRICS (evaluation.binary_metrics; logLoss only for a model with probabilities).
    Raises RunnerError for an asked metric the data or the model cannot give."""
    from runner.config.schemas import BINARY_METRICS

    n_classes = models.class_count(dataset.classes)
    has_probability = classifier.hasParam("probabilityCol")
    asked = [enum_value(m) for m in cfg.evaluation.metrics]
    asked += [m for m in [enum_value(cfg.evaluation.primary)] if m not in asked]
    for name in asked:
        if name in evaluate.CURVE_METRICS and n_classes != 2:
            raise RunnerError(f"evaluation: {name} is a two-class metric but label "
                              f"{cfg.data.label!r} has {n_classes} classes; pick another metric")
        if name in evaluate.PROBABILITY_METRICS and not has_probability:
            raise RunnerError(f"evaluation: {name} needs class probabilities, which "
                              f"{type(classifier).__name__} does not give; pick another metric")
    if n_classes == 2 and cfg.evaluation.get("binary_metrics", True):
        asked += [m for m in BINARY_METRICS if m not in asked
                  and (has_probability or m not in evaluate.PROBABILITY_METRICS)]
    return asked


def positive_index(cfg: DictConfig, dataset: data_mod.Dataset) -> int:
    """The class index of data.positive_class (a class name, or the index of unnamed 0..k-1
    labels); the second class when null, as Spark's evaluators default to label 1."""
    positive = cfg.data.get("positive_class")
    if positive is None:
        return 1
    names = data_mod.class_names_of(cfg.data)
    if str(positive) in names:
        return names.index(str(positive))
    if not names and str(positive) in {str(c) for c in dataset.classes}:
        return int(positive)
    choices = names or [str(c) for c in dataset.classes]
    raise RunnerError(f"data.positive_class={positive!r} is not a class of label "
                      f"{cfg.data.label!r}: one of {choices}")


def prefetch(cfg: DictConfig, context: RunContext
             ) -> Future[tuple[SparkSession, data_mod.Dataset]]:
    """Start the session and prepare the data in a Spark thread; ``.result()`` waits for both.

    Callers set up MLflow meanwhile: importing it and creating a new store's tables take seconds,
    as long as a cold JVM takes to read and split the data. A Spark Connect session is per
    thread, so there the data is prepared in the caller's thread, before it returns. A small
    input gets the quick JIT (``spark.quick_jit_below_mb``).
    """
    session_future = spark.start_async(cfg.spark, data_mod.resolve_path(cfg.data.path))

    def load() -> tuple[SparkSession, data_mod.Dataset]:
        session = session_future.result()
        return session, data_mod.load(session, cfg.data, context)

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


def _log_inputs(cfg: DictConfig, config_yaml: str, overrides: list[str],
                params: dict[str, Any], dataset: data_mod.Dataset) -> None:
    tracking.log_config(config_yaml, overrides)
    tracking.log_params({**params, "data.path": cfg.data.path, "data.rows": dataset.rows,
                         "data.split.seed": cfg.data.split.seed})
    if cfg.tracking.log_datasets:
        tracking.log_dataset(dataset, cfg.data.name, data_mod.schema_of(cfg.data))


def _evaluate(context: RunContext, cfg: DictConfig, fitted: Any, dataset: data_mod.Dataset
              ) -> tuple[dict[str, tuple[dict[str, float], Any]], Figure | None]:
    """Metrics per split and the test confusion figure; touches Spark, never MLflow."""
    names = metric_names(cfg, dataset, fitted.stages[-1])
    splits = {"test": dataset.test, **({"train": dataset.train} if cfg.evaluation.train_metrics
                                        else {})}
    results = _evaluate_on_driver(context, cfg, fitted, dataset, splits, names)
    if results is None:
        # the fitted feature stages' output is cached per split: only the classifier runs here
        featurized = fitting.featurized(context, splits, cfg)
        results = evaluate.evaluate_splits(fitted.stages[-1], featurized,
                                           label_column(cfg, dataset), names,
                                           positive_index(cfg, dataset))
    fig = None
    if cfg.evaluation.confusion_matrix:
        fig = evaluate.confusion_figure(results["test"][1], data_mod.class_names_of(cfg.data),
                                        "test split")
    return results, fig


def _evaluate_on_driver(context: RunContext, cfg: DictConfig, fitted: Any,
                        dataset: data_mod.Dataset, splits: dict[str, Any], names: list[str]
                        ) -> dict[str, tuple[dict[str, float], Any]] | None:
    """Small splits scored by the model's compiled scorer on the driver: the same counts as
    Spark's transform without its ~0.2 s job. None where that does not apply: more rows than
    ``evaluation.local_max_rows``, a stage the compiler does not cover, or a row Spark would
    reject (Spark then raises its own error)."""
    from runner.compiled import ScoringError, UnsupportedStage, compile_pipeline

    sizes = {"train": dataset.train_rows, "test": dataset.test_rows}
    if sum(sizes[name] for name in splits) > cfg.evaluation.local_max_rows:
        return None
    try:
        scorer = compile_pipeline(fitted, _inputs(cfg))
        columns = fitting.collected(context, splits, cfg)
        return evaluate.evaluate_columns(scorer, columns, cfg.data.label, names,
                                         positive_index(cfg, dataset), dataset.label_values)
    except (UnsupportedStage, ScoringError):
        return None


def _inputs(cfg: DictConfig) -> dict[str, str]:
    """The model's raw input columns and their Spark SQL types: data.schema without the label."""
    return {c: t for c, t in data_mod.schema_of(cfg.data).items() if c != cfg.data.label}


def _log_evaluation(cfg: DictConfig, results: dict[str, tuple[dict[str, float], Any]],
                    fig: Figure | None, fit_seconds: float
                    ) -> tuple[dict[str, float], dict[str, float]]:
    metrics = results["test"][0]
    train_metrics = results["train"][0] if "train" in results else {}
    tracking.log_metrics({**metrics, **{f"train_{k}": v for k, v in train_metrics.items()},
                          TRAIN_SECONDS: fit_seconds})
    if fig is not None:
        tracking.log_figure(fig, "confusion_matrix.png")
    return metrics, train_metrics


def log_fitted_model(cfg: DictConfig, fitted: Any, example: Any = None
                     ) -> tracking.LoggedModel | None:
    """Log the fitted pipeline into the active run, unless log_models is none; the caller
    registers it (``tracking.register``) once the run has ended FINISHED.

    ``example``: input rows saved as the model's input example (``input_example``)."""
    if enum_value(cfg.tracking.log_models) == "none":
        return None
    signature = tracking.signature(data_mod.schema_of(cfg.data), cfg.data.label)
    return tracking.log_model(fitted, signature, cfg.tracking.registered_model_name,
                              _inputs(cfg), data_mod.class_names_of(cfg.data), example)


def input_example(cfg: DictConfig, dataset: data_mod.Dataset) -> Any:
    """The first training row's inputs as pandas: one small job on the cached split, where
    MLflow's own handling of an example would score it through a second Spark session."""
    if enum_value(cfg.tracking.log_models) == "none":
        return None
    return dataset.train.select(*[f"`{c}`" for c in _inputs(cfg)]).limit(1).toPandas()



def promote(cfg: DictConfig, name: str, version: str, value: float) -> str:
    """Alias a registered version ``champion`` if its primary metric beats the current
    champion's by more than ``tracking.champion_margin``, else ``challenger``."""
    primary = enum_value(cfg.evaluation.primary)
    margin = float(cfg.tracking.get("champion_margin", 0.0))
    return tracking.promote(name, version, primary, value, margin, primary not in LOWER_IS_BETTER)


def enum_value(value: Any) -> str:
    """A config enum's value, or the plain string when the config was loaded untyped."""
    return str(value.value) if hasattr(value, "value") else str(value)
