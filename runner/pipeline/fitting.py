"""Fit a pipeline, reusing its fitted feature stages across the trials of a sweep.

Trials that differ only in the classifier's hyperparameters fit the same feature stages on the
same training split again and again (a Spark job per indexer or scaler). The fitted feature
stages and the training split they produce are kept per process, keyed by the features and data
config; each trial then fits only its classifier. The result is the same PipelineModel.
``featurized`` gives the other splits through the same fitted stages, cached too, so a trial
scores them with its classifier alone; ``collected`` gives small splits as columns on the driver,
for the compiled scorer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from omegaconf import DictConfig, OmegaConf

from runner.pipeline.schema import schema_of

if TYPE_CHECKING:
    from pyspark.ml import Estimator, Pipeline, PipelineModel
    from pyspark.sql import DataFrame


@dataclass(frozen=True)
class _Featurized:
    stages: list[Any]  # fitted feature stages, in pipeline order
    splits: dict[str, DataFrame]  # split name -> the split with the feature columns, cached


_cache: dict[str, _Featurized] = {}
_collected: dict[str, dict[str, dict[str, list[Any]]]] = {}  # data config -> split -> columns
_lock = threading.Lock()


def fit(pipeline: Pipeline, train: DataFrame, cfg: DictConfig, train_rows: int
        ) -> PipelineModel:
    """``pipeline.fit(train)``, with the feature stages (all but the last) fitted once per
    process for this ``cfg.features`` and ``cfg.data``; their output is kept for the classifier
    (``spark.keep``: a local checkpoint for small data on a local master)."""
    from pyspark.ml import Pipeline, PipelineModel

    from runner import spark

    *feature_stages, classifier = pipeline.getStages()
    key = _key(cfg)
    with _lock:  # trials running in threads fit the shared feature stages once
        if key not in _cache:
            fitted = Pipeline(stages=feature_stages).fit(train)
            kept = spark.keep(fitted.transform(train), cfg.spark, train_rows)
            _cache[key] = _Featurized(fitted.stages, {"train": kept})
        featurized = _cache[key]
    estimator = cast("Estimator", classifier)  # a Pipeline's last stage here is the classifier
    return PipelineModel(stages=[*featurized.stages, estimator.fit(featurized.splits["train"])])


def featurized(splits: dict[str, DataFrame], cfg: DictConfig) -> dict[str, DataFrame]:
    """``splits`` (train and the others of ``cfg.data``) through the feature stages that ``fit``
    fitted for ``cfg``: what the fitted model's classifier sees. Call ``fit`` first."""
    from pyspark.ml import PipelineModel

    with _lock:
        cached = _cache[_key(cfg)]
        for name, frame in splits.items():
            if name not in cached.splits:
                cached.splits[name] = PipelineModel(stages=cached.stages).transform(frame).cache()
        return {name: cached.splits[name] for name in splits}


def collected(splits: dict[str, DataFrame], cfg: DictConfig) -> dict[str, dict[str, list[Any]]]:
    """Each split's ``data.schema`` columns as lists, collected to the driver once per process
    for this ``cfg.data``. For small splits only: the caller checks their size."""
    key = _key(cfg, groups=("data",))
    columns = list(schema_of(cfg.data))
    with _lock:
        cached = _collected.setdefault(key, {})
        for name, frame in splits.items():
            if name not in cached:
                rows = frame.select(*[f"`{c}`" for c in columns]).collect()
                cached[name] = {c: [row[i] for row in rows] for i, c in enumerate(columns)}
        return {name: cached[name] for name in splits}


def _key(cfg: DictConfig, groups: tuple[str, ...] = ("features", "data")) -> str:
    chosen = {g: OmegaConf.to_container(cfg[g], resolve=True) for g in groups}
    return OmegaConf.to_yaml(OmegaConf.create(chosen))
