"""Safe construction of pyspark.ml stages from config specs (``{_target_: ..., param: value}``).

Hydra's ``instantiate`` imports and calls whatever ``_target_`` names; runner only builds classes
that pyspark.ml defines as public, concrete Spark estimators or transformers, and checks every
parameter name and type against the class before the JVM starts.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from runner.errors import RunnerError, first_line
from runner.spark import is_connect

ALLOWED_MODULES = (
    "pyspark.ml.feature",
    "pyspark.ml.classification",
    "pyspark.ml.regression",
    "pyspark.ml.clustering",
)
# SQLTransformer runs any SQL statement, and Spark SQL can call Java methods (reflect, java_method)
DENIED_CLASSES = frozenset({"pyspark.ml.feature.SQLTransformer"})
# keys of a spec that runner reads itself and never passes to Spark
RUNNER_KEYS = frozenset({"_target_"})


def _refuse(target: Any, where: str, why: str) -> RunnerError:
    return RunnerError(
        f"{where}._target_={target!r} is not allowed: {why}; runner builds only public "
        f"estimator and transformer classes of {', '.join(ALLOWED_MODULES)}"
    )


def locate(target: Any, where: str) -> type:
    """Import the class named by ``target`` if it is an allowed pyspark.ml stage."""
    if not isinstance(target, str):
        raise _refuse(target, where, "it is not a class name")
    module_name, _, class_name = target.rpartition(".")
    if module_name not in ALLOWED_MODULES:
        raise _refuse(target, where, "not a pyspark.ml stage module")
    if not class_name.isidentifier() or class_name.startswith("_") or target in DENIED_CLASSES:
        raise _refuse(target, where, "not an allowed class")
    from pyspark.ml.base import Estimator, Model, Transformer

    cls = getattr(importlib.import_module(module_name), class_name, None)
    # a name re-exported from elsewhere (JavaEstimator, os, ...) is not a stage of that module
    if not inspect.isclass(cls) or cls.__module__ != module_name:
        raise _refuse(target, where, f"{module_name} defines no class {class_name!r}")
    if not issubclass(cls, (Estimator, Transformer)) or issubclass(cls, Model):
        raise _refuse(target, where, "not an estimator or transformer (fitted models neither)")
    if inspect.isabstract(cls):
        raise _refuse(target, where, "an abstract base class")
    return cls


def plain(spec: Any) -> dict[str, Any]:
    """A spec as a plain dict, interpolations resolved; Spark rejects ListConfig values."""
    if isinstance(spec, DictConfig):
        return cast(dict[str, Any], OmegaConf.to_container(spec, resolve=True))
    return dict(spec)


def spark_params(spec: Any) -> dict[str, Any]:
    """The spec's Spark parameters as plain Python values.

    A null value means "Spark's default": it is left out, since Spark cannot take None.
    """
    return {k: v for k, v in plain(spec).items() if k not in RUNNER_KEYS and v is not None}


def check(spec: Any, where: str) -> type:
    """Check class, parameter names and parameter types without a JVM; return the class."""
    if not isinstance(spec, (dict, DictConfig)) or "_target_" not in spec:
        raise RunnerError(f"{where}: no _target_ (the pyspark.ml class to build)")
    cls = locate(spec["_target_"], where)
    accepted = set(inspect.signature(cls).parameters)
    params = spark_params(spec)
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise RunnerError(
            f"{where}: {cls.__name__} has no parameter(s) {unknown}; it takes {sorted(accepted)}"
        )
    for name, value in params.items():
        _check_type(cls, name, value, where)
    return cls


def _check_type(cls: type, name: str, value: Any, where: str) -> None:
    """Run the Param's own type converter, which pyspark defines on the class (no JVM)."""
    from pyspark.ml.param import Param

    param = getattr(cls, name, None)
    if not isinstance(param, Param):
        return
    try:
        param.typeConverter(value)
    except (TypeError, ValueError) as exc:
        raise RunnerError(f"{where}.{name}={value!r}: wrong type for {cls.__name__}: {exc}"
                          ) from exc


def build(spec: Any, where: str, **extra: Any) -> Any:
    """Instantiate the stage (needs a SparkSession); ``extra`` params win over the spec's.

    The params are sent to the JVM at once, so a bad value (``handleInvalid: foo``) fails here
    with the stage's name instead of deep inside ``Pipeline.fit``.
    """
    cls = check(spec, where)
    params = {**spark_params(spec), **extra}
    try:
        stage = cls(**params)
        transfer = getattr(stage, "_transfer_params_to_java", None)
        if transfer is not None and not is_connect():  # Connect: no local JVM, checked when fitted
            transfer()
    except Exception as exc:  # TypeError, ValueError, or Spark's IllegalArgumentException
        raise RunnerError(f"{where}: cannot build {cls.__name__}: {first_line(exc)}") from exc
    return stage
