"""A fitted model logged into its run, registered once the run has ended FINISHED, and aliased
by the champion rule."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from runner import tracking
from runner.config.enums import value_of
from runner.data import dataset as data_mod
from runner.data.spec import DataSpec
from runner.pipeline.assemble import LOWER_IS_BETTER, model_inputs


def register(cfg: DictConfig, logged: tracking.LoggedModel, metrics: dict[str, float]
             ) -> tracking.LoggedModel:
    """Register a logged model (its run has ended FINISHED) and alias it by the champion rule."""
    logged = tracking.register(logged)
    if logged.version:
        promote(cfg, logged.registered_name or "", logged.version,
                metrics[value_of(cfg.evaluation.primary)])
    return logged


def log_fitted_model(cfg: DictConfig, spec: DataSpec, fitted: Any, example: Any = None
                     ) -> tracking.LoggedModel | None:
    """Log the fitted pipeline into the active run, unless log_models is none; the caller
    registers it (``tracking.register``) once the run has ended FINISHED.

    ``example``: input rows saved as the model's input example (``input_example``)."""
    if value_of(cfg.tracking.log_models) == "none":
        return None
    inputs = model_inputs(cfg, spec)
    signature = tracking.signature(inputs, spec.label)
    return tracking.log_model(fitted, signature, cfg.tracking.registered_model_name,
                              inputs, list(spec.class_names), example)


def input_example(cfg: DictConfig, spec: DataSpec, dataset: data_mod.Dataset) -> Any:
    """The first training row's inputs as pandas: one small job on the cached split, where
    MLflow's own handling of an example would score it through a second Spark session."""
    if value_of(cfg.tracking.log_models) == "none":
        return None
    return dataset.train.select(*[f"`{c}`" for c in model_inputs(cfg, spec)]).limit(1).toPandas()


def promote(cfg: DictConfig, name: str, version: str, value: float) -> str:
    """Alias a registered version ``champion`` if its primary metric beats the current
    champion's by more than ``tracking.champion_margin``, else ``challenger``."""
    primary = value_of(cfg.evaluation.primary)
    margin = float(cfg.tracking.get("champion_margin", 0.0))
    return tracking.promote(name, version, primary, value, margin, primary not in LOWER_IS_BETTER)
