"""One training run: check config, load data, build the pipeline, fit, evaluate, log, register."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from runner import spark, tracking
from runner.console import Progress
from runner.errors import RunnerError
from runner.pipeline import data as data_mod
from runner.pipeline import evaluate, features, fitting, formats, models, schema
from runner.pipeline.labels import class_names_of, label_index_column

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from pyspark.sql import SparkSession

# data.load caches per process; trials of a sweep may run in threads (hydra.sweeper.n_jobs),
# and the first trial's data may be loading already (Sweep.open)
_data_lock = threading.Lock()
# Spark work of a run beside its MLflow calls; one thread per concurrent trial
_spark_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="spark-work")


@dataclass(frozen=True)
class TrainResult:
    """What a run produced: its id, test (and train) metrics, and the registered model if any."""

    run_id: str
    metrics: dict[str, float]
    primary: str
    tracking_uri: str
    model: tracking.LoggedModel | None = None
    train_metrics: dict[str, float] = field(default_factory=dict)
    fitted: Any = field(default=None, repr=False, compare=False)  # the PipelineModel
    # the fit's wall time, logged as the metric train_seconds (not a score: kept apart)
    fit_seconds: float = field(default=0.0, compare=False)

    @property
    def value(self) -> float:
        return self.metrics[self.primary]


def check(cfg: DictConfig) -> None:
    """Every check that needs neither a JVM nor data: classes, parameter names, paths."""
    data_mod.check_config(cfg.data)
    features.check(cfg.features, cfg.data)
    models.check(cfg.model, cfg.data)


def build_pipeline(cfg: DictConfig, dataset: data_mod.Dataset | None = None
                   ) -> tuple[Any, dict[str, Any]]:
    """The Spark Pipeline (feature stages then classifier) and every stage's params by config key.

    The classifier may depend on the data (OneVsRest for 3+ classes, MLP layer sizes); without
    ``dataset`` it is built for two classes.
    """
    from pyspark.ml import Pipeline

    named = features.build(cfg.features, cfg.data)
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
        return label_index_column(cfg.data)
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
        outputCol=label_index_column(cfg.data))


def _params(stage: Any) -> dict[str, Any]:
    """Every param with a value (set or default), by Spark's name."""
    return {p.name: v for p, v in stage.extractParamMap().items()}


def run(cfg: DictConfig, overrides: list[str], extra_tags: dict[str, str] | None = None,
        parent_run_id: str | None = None, log_model: bool = True) -> TrainResult:
    """Train and log one run from a composed config.

    ``log_model=False`` leaves model logging to the caller (a sweep logs only its best trial's
    model, through ``log_fitted_model``, once it knows which trial that is).
    """
    check(cfg)
    tracking.check_store(cfg.tracking.uri)  # seconds, before the JVM: not minutes of retries
    progress = Progress(enabled=parent_run_id is None)  # a sweep prints a line per trial instead
    loading = prefetch(cfg)  # the JVM starts and reads the data while MLflow sets up its store
    uri = tracking.configure(cfg.tracking)
    session, dataset = loading.result()
    progress.step(f"Spark session, MLflow store and data ready: {dataset.train_rows} train, "
                  f"{dataset.test_rows} test rows")
    cfg = with_class_names(cfg, dataset)
    pipeline, params = build_pipeline(cfg, dataset)
    # a metric the data or the model cannot give, or a positive class the label lacks: now,
    # not after the fit
    metric_names(cfg, dataset, pipeline.getStages()[-1])
    positive_index(cfg, dataset)
    tags = {**tracking.standard_tags(spark.master_of(session)),
            **models.tags(cfg.model, models.class_count(dataset.classes)),
            **dict(cfg.tracking.tags), **(extra_tags or {})}
    # Before the Spark thread reads cfg: OmegaConf's deepcopy (settled) unhooks each node of
    # the source from its parent while copying it, so a concurrent read of '${seed}' failed
    # ('Cannot resolve interpolation for a node without a parent').
    config_yaml = OmegaConf.to_yaml(data_mod.settled(cfg), resolve=True)
    with tracking.run(cfg.tracking.run_name, tags, parent_run_id) as run_id:
        # Spark works in a thread while this one talks to MLflow: fitting (feature stages reused
        # in sweeps) beside logging the inputs, then scoring the splits beside saving the model
        fitting_ = _spark_pool.submit(spark.in_thread(session, _timed_fit), pipeline,
                                      dataset.train, cfg, dataset.train_rows)
        _log_inputs(cfg, config_yaml, overrides, params, dataset)
        fitted, fit_seconds = fitting_.result()
        progress.step("pipeline fitted")
        scoring = _spark_pool.submit(spark.in_thread(session, _evaluate), cfg, fitted, dataset)
        logged = log_fitted_model(cfg, fitted, input_example(cfg, dataset)) if log_model else None
        metrics, train_metrics = _log_evaluation(cfg, *scoring.result(), fit_seconds)
        progress.step("evaluated" + (" and model logged" if logged else ""))
    # Registered, and aliased, only now that the run has ended FINISHED with everything logged.
    # A sweep registers and promotes only its best trial's model.
    if logged and parent_run_id is None:
        logged = tracking.register(logged)
        if logged.version:
            promote(cfg, logged.registered_name or "", logged.version,
                    metrics[enum_value(cfg.evaluation.primary)])
    return TrainResult(run_id, metrics, enum_value(cfg.evaluation.primary), uri, logged,
                       train_metrics, fitted, fit_seconds)


def with_class_names(cfg: DictConfig, dataset: data_mod.Dataset) -> DictConfig:
    """``cfg`` with data.class_names taken from the data when it names none and the label is
    indexed: logged with the run's config, they are what serve's ``label``, predict's
    ``predicted_label`` and the confusion matrix show, and a rerun keeps the class order."""
    if class_names_of(cfg.data) or not dataset.indexed:
        return cfg
    named = data_mod.settled(cfg)  # the schema read is written out: it stays with the names
    named.data.class_names = list(dataset.class_names)
    named.data.written_for = None
    return named


def metric_names(cfg: DictConfig, dataset: data_mod.Dataset, classifier: Any) -> list[str]:
    """The metrics a run logs: evaluation.metrics, the primary, and on two-class data
    BINARY_METRICS (evaluation.binary_metrics; logLoss only for a model with probabilities).
    Raises RunnerError for an asked metric the data or the model cannot give."""
    from runner.config import BINARY_METRICS

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
    names = class_names_of(cfg.data)
    if str(positive) in names:
        return names.index(str(positive))
    if not names and str(positive) in {str(c) for c in dataset.classes}:
        return int(positive)
    choices = names or [str(c) for c in dataset.classes]
    raise RunnerError(f"data.positive_class={positive!r} is not a class of label "
                      f"{cfg.data.label!r}: one of {choices}")


def prefetch(cfg: DictConfig) -> Future[tuple[SparkSession, data_mod.Dataset]]:
    """Start the session and prepare the data in a Spark thread; ``.result()`` waits for both.

    Callers set up MLflow meanwhile: importing it and creating a new store's tables take seconds,
    as long as a cold JVM takes to read and split the data. A Spark Connect session is per
    thread, so there the data is prepared in the caller's thread, before it returns. A small
    input gets the quick JIT (``spark.quick_jit_below_mb``).
    """
    session_future = spark.start_async(cfg.spark, formats.resolve_path(cfg.data.path))

    def load() -> tuple[SparkSession, data_mod.Dataset]:
        session = session_future.result()
        with _data_lock:  # sweep trials in threads would all prepare the data
            return session, data_mod.load(session, cfg.data)

    if not cfg.spark.remote:
        return _spark_pool.submit(load)
    loaded: Future[tuple[SparkSession, data_mod.Dataset]] = Future()
    try:
        loaded.set_result(load())
    except BaseException as exc:  # raised where the caller waits, as from the pool
        loaded.set_exception(exc)
    return loaded


def _timed_fit(*args: Any) -> tuple[Any, float]:
    """``fitting.fit`` and its wall seconds: the ``train_seconds`` a sweep may minimize."""
    started = time.perf_counter()
    fitted = fitting.fit(*args)
    return fitted, time.perf_counter() - started


def _log_inputs(cfg: DictConfig, config_yaml: str, overrides: list[str],
                params: dict[str, Any], dataset: data_mod.Dataset) -> None:
    tracking.log_config(config_yaml, overrides)
    tracking.log_params({**params, "data.path": cfg.data.path, "data.rows": dataset.rows,
                         "data.split.seed": cfg.data.split.seed})
    if cfg.tracking.log_datasets:
        tracking.log_dataset(dataset, cfg.data.name, schema.schema_of(cfg.data))


def _evaluate(cfg: DictConfig, fitted: Any, dataset: data_mod.Dataset
              ) -> tuple[dict[str, tuple[dict[str, float], Any]], Figure | None]:
    """Metrics per split and the test confusion figure; touches Spark, never MLflow."""
    names = metric_names(cfg, dataset, fitted.stages[-1])
    splits = {"test": dataset.test, **({"train": dataset.train} if cfg.evaluation.train_metrics
                                        else {})}
    results = _evaluate_on_driver(cfg, fitted, dataset, splits, names)
    if results is None:
        # the fitted feature stages' output is cached per split: only the classifier runs here
        results = evaluate.evaluate_splits(fitted.stages[-1], fitting.featurized(splits, cfg),
                                           label_column(cfg, dataset), names,
                                           positive_index(cfg, dataset))
    fig = None
    if cfg.evaluation.confusion_matrix:
        fig = evaluate.confusion_figure(results["test"][1], class_names_of(cfg.data),
                                        "test split")
    return results, fig


def _evaluate_on_driver(cfg: DictConfig, fitted: Any, dataset: data_mod.Dataset,
                        splits: dict[str, Any], names: list[str]
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
        return evaluate.evaluate_columns(scorer, fitting.collected(splits, cfg), cfg.data.label,
                                         names, positive_index(cfg, dataset),
                                         dataset.label_values)
    except (UnsupportedStage, ScoringError):
        return None


def _inputs(cfg: DictConfig) -> dict[str, str]:
    """The model's raw input columns and their Spark SQL types: data.schema without the label."""
    return {c: t for c, t in schema.schema_of(cfg.data).items() if c != cfg.data.label}


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
    signature = tracking.signature(schema.schema_of(cfg.data), cfg.data.label)
    return tracking.log_model(fitted, signature, cfg.tracking.registered_model_name,
                              _inputs(cfg), class_names_of(cfg.data), example)


def input_example(cfg: DictConfig, dataset: data_mod.Dataset) -> Any:
    """The first training row's inputs as pandas: one small job on the cached split, where
    MLflow's own handling of an example would score it through a second Spark session."""
    if enum_value(cfg.tracking.log_models) == "none":
        return None
    return dataset.train.select(*[f"`{c}`" for c in _inputs(cfg)]).limit(1).toPandas()


# Metrics where a smaller value is better; every other metric is maximized.
LOWER_IS_BETTER = frozenset({"hammingLoss", "weightedFalsePositiveRate", "logLoss"})
# the pipeline's fit time, logged with every run's metrics (an objective of multi-objective sweeps)
TRAIN_SECONDS = "train_seconds"



def promote(cfg: DictConfig, name: str, version: str, value: float) -> str:
    """Alias a registered version ``champion`` if its primary metric beats the current
    champion's by more than ``tracking.champion_margin``, else ``challenger``."""
    primary = enum_value(cfg.evaluation.primary)
    margin = float(cfg.tracking.get("champion_margin", 0.0))
    return tracking.promote(name, version, primary, value, margin, primary not in LOWER_IS_BETTER)


def enum_value(value: Any) -> str:
    """A config enum's value, or the plain string when the config was loaded untyped."""
    return str(value.value) if hasattr(value, "value") else str(value)
