"""Fit a pipeline, reusing its fitted feature stages across the trials of a sweep.

Trials that differ only in the classifier's hyperparameters fit the same feature stages on the
same training split again and again (a Spark job per indexer or scaler). The fitted feature
stages and the training split they produce are kept per process, keyed by the features and data
config; each trial then fits only its classifier. The result is the same PipelineModel.
``featurized`` gives the other splits through the same fitted stages, cached too, so a trial
scores them with its classifier alone.
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
    splits: dict[str, DataFrame]  # split name -> the split with the feature columns, cached


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
            _cache[key] = _Featurized(fitted.stages, {"train": fitted.transform(train).cache()})
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


def _key(cfg: DictConfig) -> str:
    groups = {g: OmegaConf.to_container(cfg[g], resolve=True) for g in ("features", "data")}
    return OmegaConf.to_yaml(OmegaConf.create(groups))
