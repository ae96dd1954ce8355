"""Fit a pipeline, reusing its fitted feature stages across the trials of a sweep.

Trials that differ only in the classifier's hyperparameters fit the same feature stages on the
same training split again and again (a Spark job per indexer or scaler). The fitted feature
stages and the training split they produce are kept in the task's ``RunContext``, keyed by the
features and data config; each trial then fits only its classifier. The result is the same
PipelineModel. ``featurized`` gives the other splits through the same fitted stages, cached too,
so a trial scores them with its classifier alone; ``collected`` gives small splits as columns on
the driver, for the compiled scorer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from omegaconf import DictConfig

from runner.context import Featurized, RunContext, config_key

if TYPE_CHECKING:
    from pyspark.ml import Estimator, Pipeline, PipelineModel
    from pyspark.sql import DataFrame

    from runner.data import DataSpec


def fit(context: RunContext, pipeline: Pipeline, train: DataFrame, cfg: DictConfig,
        train_rows: int, part: str = "") -> PipelineModel:
    """``pipeline.fit(train)``, with the feature stages (all but the last) fitted once per
    ``context`` for this ``cfg.features``, ``cfg.data`` and ``part`` of the training split
    (a cross-validation fold's training rows: its own stages, as CrossValidator fits them);
    their output is kept for the classifier (``spark.keep``: a local checkpoint for small data
    on a local master)."""
    from pyspark.ml import Pipeline, PipelineModel

    from runner import spark

    *feature_stages, classifier = pipeline.getStages()
    key = _key(cfg, part)
    with context.lock:  # trials running in threads fit the shared feature stages once
        if key not in context.featurized:
            fitted = Pipeline(stages=feature_stages).fit(train)
            kept = spark.keep(fitted.transform(train), cfg.spark, train_rows)
            context.featurized[key] = Featurized(fitted.stages, {"train": kept})
        featurized = context.featurized[key]
    estimator = cast("Estimator", classifier)  # a Pipeline's last stage here is the classifier
    return PipelineModel(stages=[*featurized.stages, estimator.fit(featurized.splits["train"])])


def featurized(context: RunContext, splits: dict[str, DataFrame], cfg: DictConfig,
               part: str = "") -> dict[str, DataFrame]:
    """``splits`` (train and the others of ``cfg.data``) through the feature stages that ``fit``
    fitted for ``cfg`` and ``part``: what the fitted model's classifier sees. Call ``fit``
    first."""
    from pyspark.ml import PipelineModel

    with context.lock:
        cached = context.featurized[_key(cfg, part)]
        for name, frame in splits.items():
            if name not in cached.splits:
                cached.splits[name] = PipelineModel(stages=cached.stages).transform(frame).cache()
        return {name: cached.splits[name] for name in splits}


def collected(context: RunContext, splits: dict[str, DataFrame], spec: DataSpec
              ) -> dict[str, dict[str, list[Any]]]:
    """Each split's schema columns as lists, collected to the driver once per ``context`` for
    this data ``spec``. For small splits only: the caller checks their size."""
    key = spec.key
    columns = list(spec.schema)
    with context.lock:
        cached = context.collected.setdefault(key, {})
        for name, frame in splits.items():
            if name not in cached:
                rows = frame.select(*[f"`{c}`" for c in columns]).collect()
                cached[name] = {c: [row[i] for row in rows] for i, c in enumerate(columns)}
        return {name: cached[name] for name in splits}


def _key(cfg: DictConfig, part: str = "") -> str:
    return config_key(cfg.features, cfg.data) + part
