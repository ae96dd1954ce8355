"""Safe construction of pyspark.ml stages from config specs (``{_target_: ..., param: value}``).

Hydra's ``instantiate`` imports and calls whatever ``_target_`` names; runner only builds classes
that pyspark.ml defines as public, concrete Spark estimators or transformers, and checks every
parameter name and type against the class before the JVM starts.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
from dataclasses import dataclass
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from runner.compat import pyspark as compat_pyspark
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
# Spark accepts maxIter=0 (its validator says >= 0) and then fits nothing: the "model" is its
# initial state (issue 13: maxIter=0 trained and was promoted). Refused with this note.
STRICTER = {"maxIter": (">=", 1.0, "Spark accepts 0 but then trains no iteration: a useless model")}

_NUM = r"-?\d+(?:\.\d+)?"
# pyspark's Param docs quote the Scala ParamValidators: "(>= 0)", "(>=1)", "(> 0)"
_PAREN = re.compile(rf"\(\s*(>=|>|<=|<)\s*({_NUM})\s*\)")
# "Must be >= 0", "Must be >=2", "should be >= 0", "Should be greater than 0", "must be > 1"
_MUST = re.compile(rf"(?:must|should) be\s*(>=|>|<=|<|greater than|less than)\s*({_NUM})", re.I)
# "in range [0, 1]", "in range (0, 1]", "in interval [0.0, 0.5)", "Must be in the range [0, 1]"
_INTERVAL = re.compile(
    rf"in (?:the )?(?:range|interval)\s*([\[(])\s*({_NUM})\s*,\s*({_NUM})\s*([\])])", re.I)
# "(>= 1) or disable checkpoint (-1)": one value outside the range that switches a feature off
_SPECIAL = re.compile(rf"\bor [^()]*\(({_NUM})\)")
_WORDS = {"greater than": ">", "less than": "<"}
_OPS = {">=": float.__ge__, ">": float.__gt__, "<=": float.__le__, "<": float.__lt__}


@dataclass(frozen=True)
class Range:
    """The valid values of a numeric Spark param, as its doc string states them."""

    bounds: tuple[tuple[str, float], ...]  # every (op, limit) must hold
    special: tuple[float, ...] = ()  # values allowed besides (checkpointInterval's -1)
    text: str = ""  # the range as the doc says it: ">= 0", "in [0, 1]", ">= 1 or -1"

    def holds(self, value: float) -> bool:
        if value in self.special:
            return True
        return all(_OPS[op](float(value), limit) for op, limit in self.bounds)


def doc_range(doc: str) -> Range | None:
    """Parse the range a pyspark Param's doc states, None when it states none.

    Only phrases that bound the param itself count: "(>= 0)", "must be >= 2", "in range [0, 1]";
    conditional ones ("if this is an integer >= 1 ...") do not match.
    """
    bounds: list[tuple[str, float]] = []
    texts: list[str] = []
    for op, num in [*_PAREN.findall(doc), *_MUST.findall(doc)]:
        op = _WORDS.get(op.lower(), op)
        if (op, float(num)) not in bounds:
            bounds.append((op, float(num)))
            texts.append(f"{op} {num}")
    for left, low, high, right in _INTERVAL.findall(doc):
        for bound in ((">=" if left == "[" else ">", float(low)),
                      ("<=" if right == "]" else "<", float(high))):
            if bound not in bounds:
                bounds.append(bound)
        texts.append(f"in {left}{low}, {high}{right}")
    if not bounds:
        return None
    special = tuple(float(v) for v in _SPECIAL.findall(doc))
    text = " and ".join(texts) + "".join(f" or {v}" for v in _SPECIAL.findall(doc))
    return Range(tuple(bounds), special, text)


@functools.cache
def param_range(cls: type, name: str) -> Range | None:
    """The range of ``cls``'s numeric param ``name`` from its doc, tightened by ``STRICTER``."""
    from pyspark.ml.param import Param

    param = getattr(cls, name, None)
    if not isinstance(param, Param):
        return None
    found = doc_range(param.doc or "")
    if name in STRICTER:
        op, limit, why = STRICTER[name]
        bounds = tuple(b for b in (found.bounds if found else ()) if b[0] not in (">=", ">"))
        return Range(((op, limit), *bounds), (), f"{op} {limit:g} ({why})")
    return found


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
        converted = param.typeConverter(value)
    except (TypeError, ValueError) as exc:
        raise RunnerError(f"{where}.{name}={value!r}: wrong type for {cls.__name__}: {exc}"
                          ) from exc
    _check_range(cls, name, converted, where)


def _check_range(cls: type, name: str, value: Any, where: str) -> None:
    """A number outside the range Spark's validator allows (or NaN) fails here, before the JVM."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    valid = param_range(cls, name)
    if valid is None:
        return
    if not valid.holds(value):  # NaN holds no bound
        raise RunnerError(f"{where}.{name}={value!r} is out of range: {cls.__name__}.{name} "
                          f"must be {valid.text}")


def build(spec: Any, where: str, **extra: Any) -> Any:
    """Instantiate the stage (needs a SparkSession); ``extra`` params win over the spec's.

    The params are sent to the JVM at once, so a bad value (``handleInvalid: foo``) fails here
    with the stage's name instead of deep inside ``Pipeline.fit``.
    """
    cls = check(spec, where)
    params = {**spark_params(spec), **extra}
    try:
        stage = cls(**params)
        if not is_connect():  # Connect: no local JVM, checked when fitted
            compat_pyspark.send_params_to_jvm(stage)
    except Exception as exc:  # TypeError, ValueError, or Spark's IllegalArgumentException
        raise RunnerError(f"{where}: cannot build {cls.__name__}: {first_line(exc)}") from exc
    return stage
