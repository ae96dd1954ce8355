"""Safe construction of pyspark.ml stages from config specs (``{_target_: ..., param: value}``).

Hydra's ``instantiate`` imports and calls whatever ``_target_`` names; runner only builds classes
from pyspark.ml that are Spark estimators or transformers, and checks every parameter name against
the class before the JVM starts.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from omegaconf import DictConfig, OmegaConf

from runner.errors import RunnerError

ALLOWED_MODULES = (
    "pyspark.ml.feature",
    "pyspark.ml.classification",
    "pyspark.ml.regression",
    "pyspark.ml.clustering",
)
# keys of a spec that runner reads itself and never passes to Spark
RUNNER_KEYS = frozenset({"_target_", "binary_only"})


def locate(target: str, where: str) -> type:
    """Import the class named by ``target`` if it is an allowed pyspark.ml stage."""
    module_name, _, class_name = str(target).rpartition(".")
    if module_name not in ALLOWED_MODULES:
        raise RunnerError(
            f"{where}._target_={target!r} is not allowed: runner builds only classes from "
            f"{', '.join(ALLOWED_MODULES)}"
        )
    from pyspark.ml.base import Estimator, Transformer

    cls = getattr(importlib.import_module(module_name), class_name, None)
    if not (inspect.isclass(cls) and issubclass(cls, (Estimator, Transformer))):
        raise RunnerError(f"{where}._target_={target!r} is not a Spark ML estimator or transformer")
    return cls


def spark_params(spec: Any) -> dict[str, Any]:
    """The spec's Spark parameters as plain Python values (lists, not ListConfig)."""
    plain = OmegaConf.to_container(spec, resolve=True) if isinstance(spec, DictConfig) else spec
    return {k: v for k, v in dict(plain).items() if k not in RUNNER_KEYS}


def check(spec: Any, where: str) -> type:
    """Check class and parameter names without a JVM; return the class."""
    if "_target_" not in spec:
        raise RunnerError(f"{where}: no _target_ (the pyspark.ml class to build)")
    cls = locate(spec["_target_"], where)
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(spark_params(spec)) - accepted)
    if unknown:
        raise RunnerError(
            f"{where}: {cls.__name__} has no parameter(s) {unknown}; it takes {sorted(accepted)}"
        )
    return cls


def build(spec: Any, where: str, **extra: Any) -> Any:
    """Instantiate the stage (needs a SparkSession); ``extra`` params win over the spec's."""
    cls = check(spec, where)
    params = {**spark_params(spec), **extra}
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise RunnerError(f"{where}: cannot build {cls.__name__}: {exc}") from exc
