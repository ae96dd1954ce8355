"""A fitted run scored and its metrics logged: on the driver by the compiled scorer when the
splits are small, else by Spark on the splits through the cached feature stages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from runner import tracking
from runner.context import RunContext
from runner.data import dataset as data_mod
from runner.data.spec import DataSpec
from runner.pipeline import evaluate, fitting
from runner.pipeline.assemble import (
    TRAIN_SECONDS,
    label_column,
    metric_names,
    model_inputs,
    positive_index,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from pyspark.sql import DataFrame


def score(context: RunContext, cfg: DictConfig, spec: DataSpec, fitted: Any,
          dataset: data_mod.Dataset
          ) -> tuple[dict[str, tuple[dict[str, float], Any]], Figure | None]:
    """Metrics per split and the test confusion figure; touches Spark, never MLflow."""
    splits = {"test": dataset.test, **({"train": dataset.train} if cfg.evaluation.train_metrics
                                        else {})}
    rows = dataset.test_rows + (dataset.train_rows if "train" in splits else 0)
    results = score_splits(context, cfg, spec, fitted, dataset, splits, rows)
    fig = None
    if cfg.evaluation.confusion_matrix:
        fig = evaluate.confusion_figure(results["test"][1], list(spec.class_names),
                                        "test split")
    return results, fig


def score_splits(context: RunContext, cfg: DictConfig, spec: DataSpec, fitted: Any,
                 dataset: data_mod.Dataset, splits: dict[str, DataFrame], rows: int,
                 part: str = "") -> dict[str, tuple[dict[str, float], Any]]:
    """Metrics and confusion counts of each of ``splits`` (``rows`` in all; split names unique
    within the task: their columns are cached by name), scored by ``fitted``, whose feature
    stages ``fitting.fit`` fitted for ``part`` of the training split."""
    names = metric_names(cfg, dataset, fitted.stages[-1])
    results = _evaluate_on_driver(context, cfg, spec, fitted, dataset, splits, names, rows)
    if results is None:
        # the fitted feature stages' output is cached per split: only the classifier runs here
        featurized = fitting.featurized(context, splits, cfg, part)
        results = evaluate.evaluate_splits(fitted.stages[-1], featurized,
                                           label_column(spec, dataset), names,
                                           positive_index(spec, dataset))
    return results


def _evaluate_on_driver(context: RunContext, cfg: DictConfig, spec: DataSpec, fitted: Any,
                        dataset: data_mod.Dataset, splits: dict[str, Any], names: list[str],
                        rows: int) -> dict[str, tuple[dict[str, float], Any]] | None:
    """Small splits scored by the model's compiled scorer on the driver: the same counts as
    Spark's transform without its ~0.2 s job. None where that does not apply: more rows than
    ``evaluation.local_max_rows``, a stage the compiler does not cover, or a row Spark would
    reject (Spark then raises its own error)."""
    from runner.compiled import ScoringError, UnsupportedStage, compile_pipeline

    if rows > cfg.evaluation.local_max_rows:
        return None
    try:
        scorer = compile_pipeline(fitted, model_inputs(cfg, spec))
        columns = fitting.collected(context, splits, spec)
        return evaluate.evaluate_columns(scorer, columns, spec.label, names,
                                         positive_index(spec, dataset), dataset.label_values)
    except (UnsupportedStage, ScoringError):
        return None


def log_evaluation(cfg: DictConfig, results: dict[str, tuple[dict[str, float], Any]],
               fig: Figure | None, fit_seconds: float
               ) -> tuple[dict[str, float], dict[str, float]]:
    """Log test metrics, ``train_<metric>``s and ``train_seconds`` into the active run, and the
    confusion figure; return the test and train metrics."""
    metrics = results["test"][0]
    train_metrics = results["train"][0] if "train" in results else {}
    tracking.log_metrics({**metrics, **{f"train_{k}": v for k, v in train_metrics.items()},
                          TRAIN_SECONDS: fit_seconds})
    if fig is not None:
        tracking.log_figure(fig, "confusion_matrix.png")
    return metrics, train_metrics
