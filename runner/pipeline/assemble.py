"""A run's Spark pipeline and what it can measure, from its config and its data spec.

Every check that needs neither a JVM nor data (``check``), the pipeline with the label's indexer
and every stage's params (``build_pipeline``), and the metrics and positive class a run can
give, refused before the fit when it cannot.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from runner.config.enums import value_of
from runner.context import RunContext
from runner.data import checks, labels
from runner.data import dataset as data_mod
from runner.data.spec import DataSpec
from runner.errors import RunnerError
from runner.pipeline import evaluate, features, models

# Metrics where a smaller value is better; every other metric is maximized.
LOWER_IS_BETTER = frozenset({"hammingLoss", "weightedFalsePositiveRate", "logLoss"})
# the pipeline's fit time, logged with every run's metrics (an objective of multi-objective sweeps)
TRAIN_SECONDS = "train_seconds"


def check(cfg: DictConfig, spec: DataSpec) -> None:
    """Every check that needs neither a JVM nor the data's values: the data spec's columns,
    the stages' classes, parameter names and wiring."""
    checks.check_config(spec)
    features.check(cfg.features, spec)
    models.check(cfg.model, spec)


def build_pipeline(cfg: DictConfig, spec: DataSpec, dataset: data_mod.Dataset | None = None,
                   context: RunContext | None = None) -> tuple[Any, dict[str, Any]]:
    """The Spark Pipeline (feature stages then classifier) and every stage's params by config key.

    The classifier may depend on the data (OneVsRest for 3+ classes, MLP layer sizes); without
    ``dataset`` it is built for two classes. The unfitted feature stages come from ``context``
    when another run of the task built them.
    """
    from pyspark.ml import Pipeline

    named = features.build(cfg.features, spec, context)
    out = cfg.features.output_col
    size = (lambda: features.vector_size(named, dataset.train, out)) if dataset else None
    n_classes = models.class_count(dataset.classes) if dataset else 2
    classifier = models.build(cfg.model, out, label_column(spec, dataset), n_classes, size)
    params = {f"features.{name}.{k}": v for name, stage in named for k, v in _params(stage).items()}
    params.update({f"model.{k}": v for k, v in _params(models.unwrap(classifier)).items()})
    labels = [label_indexer(spec, dataset)] if dataset and dataset.indexed else []
    return Pipeline(stages=[*labels, *(stage for _, stage in named), classifier]), params


def label_column(spec: DataSpec, dataset: data_mod.Dataset | None) -> str:
    """The column holding class indices: the label itself, or its indexer's output."""
    if dataset is not None and dataset.indexed:
        return labels.label_index_column(spec)
    return spec.label


def label_indexer(spec: DataSpec, dataset: data_mod.Dataset) -> Any:
    """The label's StringIndexerModel, its labels the class names in class-index order.

    Built from the whole data set's classes (as ``StringIndexer(stringOrderType=...)`` fitted
    on all rows would be), so a class missing from the training split keeps its index. At
    transform Spark skips it when the label column is absent (serving, predict). handleInvalid
    stays ``error``: under ``keep`` the index column's metadata would list k + 1 values and
    every classifier would fit k + 1 classes.
    """
    from pyspark.ml.feature import StringIndexerModel

    return StringIndexerModel.from_labels(
        dataset.class_names, inputCol=spec.label, outputCol=labels.label_index_column(spec))


def _params(stage: Any) -> dict[str, Any]:
    """Every param with a value (set or default), by Spark's name."""
    return {p.name: v for p, v in stage.extractParamMap().items()}


def with_class_names(spec: DataSpec, dataset: data_mod.Dataset) -> DataSpec:
    """``spec`` with class names taken from the data when it names none and the label is
    indexed: logged with the run's config (``data.settled``), they are what serve's ``label``,
    predict's ``predicted_label`` and the confusion matrix show, and a rerun keeps the class
    order."""
    if spec.class_names or not dataset.indexed:
        return spec
    return spec.named(list(dataset.class_names))


def metric_names(cfg: DictConfig, dataset: data_mod.Dataset, classifier: Any) -> list[str]:
    """The metrics a run logs: evaluation.metrics, the primary, and on two-class data
    BINARY_METRICS (evaluation.binary_metrics; logLoss only for a model with probabilities).
    Raises RunnerError for an asked metric the data or the model cannot give."""
    from runner.config import BINARY_METRICS

    n_classes = models.class_count(dataset.classes)
    has_probability = classifier.hasParam("probabilityCol")
    asked = [value_of(m) for m in cfg.evaluation.metrics]
    asked += [m for m in [value_of(cfg.evaluation.primary)] if m not in asked]
    for name in asked:
        if name in evaluate.CURVE_METRICS and n_classes != 2:
            raise RunnerError(f"evaluation: {name} is a two-class metric but label "
                              f"{dataset.label!r} has {n_classes} classes; pick another metric")
        if name in evaluate.PROBABILITY_METRICS and not has_probability:
            raise RunnerError(f"evaluation: {name} needs class probabilities, which "
                              f"{type(classifier).__name__} does not give; pick another metric")
    if n_classes == 2 and cfg.evaluation.get("binary_metrics", True):
        asked += [m for m in BINARY_METRICS if m not in asked
                  and (has_probability or m not in evaluate.PROBABILITY_METRICS)]
    return asked


def positive_index(spec: DataSpec, dataset: data_mod.Dataset) -> int:
    """The class index of data.positive_class (a class name, or the index of unnamed 0..k-1
    labels); the second class when null, as Spark's evaluators default to label 1."""
    positive = spec.positive_class
    if positive is None:
        return 1
    names = list(spec.class_names)
    if positive in names:
        return names.index(positive)
    if not names and positive in {str(c) for c in dataset.classes}:
        return int(positive)
    choices = names or [str(c) for c in dataset.classes]
    raise RunnerError(f"data.positive_class={positive!r} is not a class of label "
                      f"{spec.label!r}: one of {choices}")


def model_inputs(cfg: DictConfig, spec: DataSpec) -> dict[str, str]:
    """The model's raw input columns and their Spark SQL types, in the data's order: the columns
    its feature stages read (``features.read_columns``). The compiled scorer, the signature, the
    input example and so serve and predict take these; a column no stage reads (an ID) is no
    input a request must send."""
    return {c: spec.schema[c] for c in features.read_columns(cfg.features, spec)}
