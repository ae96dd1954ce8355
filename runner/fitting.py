"""Fit a pipeline, reusing its fitted feature stages across the trials of a sweep.

Trials that differ only in the classifier's hyperparameters fit the same feature stages on the
same training split again and again (a Spark job per indexer or scaler). The fitted feature
stages and the training split they produce are kept per process, keyed by the features and data
config; each trial then fits only its classifier. The result is the same PipelineModel.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from omegaconf import DictConfig, OmegaConf

if TYPE_CHECKING:
    from pyspark.ml import Estimator, Pipeline, PipelineModel
    from pyspark.sql import DataFrame


@dataclass(frozen=True)
class _Featurized:
    stages: list[Any]  # fitted feature stages, in pipeline order
    train: DataFrame  # the training split with the feature columns, cached


_cache: dict[str, _Featurized] = {}
_lock = threading.Lock()


def fit(pipeline: Pipeline, train: DataFrame, cfg: DictConfig) -> PipelineModel:
    """``pipeline.fit(train)``, with the feature stages (all but the last) fitted once per
    process for this ``cfg.features`` and ``cfg.data``."""
    from pyspark.ml import Pipeline, PipelineModel

    *feature_stages, classifier = pipeline.getStages()
    key = _key(cfg)
    with _lock:  # trials running in threads fit the shared feature stages once
        if key not in _cache:
            fitted = Pipeline(stages=feature_stages).fit(train)
            _cache[key] = _Featurized(fitted.stages, fitted.transform(train).cache())
        featurized = _cache[key]
    estimator = cast("Estimator", classifier)  # a Pipeline's last stage here is the classifier
    return PipelineModel(stages=[*featurized.stages, estimator.fit(featurized.train)])


def _key(cfg: DictConfig) -> str:
    groups = {g: OmegaConf.to_container(cfg[g], resolve=True) for g in ("features", "data")}
    return OmegaConf.to_yaml(OmegaConf.create(groups))
