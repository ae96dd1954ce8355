"""Checks of a composed config that need neither a JVM nor data, run before a run or a sweep
starts: every value resolves, no key was added that the schemas do not define, runner's own
numbers are in range, and the groups agree with each other. Each raises RunnerError naming the
key. Checks that read the data or pyspark's classes are the pipeline's (``pipeline.data``,
``features``, ``models``).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from runner.compat.hydra import config_node
from runner.config.enums import BINARY_METRICS, value_of
from runner.errors import RunnerError

# Where any key is legitimate: Spark params (checked against the class by pipeline.stages), Spark
# settings, and every mapping whose schema type is a plain dict (``*.options``, tags, schema).
FREE_KEYS = frozenset({"model", "features.stages", "spark.conf"})
# Spark and Python seeds are 64-bit signed
SEED_RANGE = (-(2**63), 2**63 - 1)
SPARK_LOG_LEVELS = frozenset({"ALL", "DEBUG", "ERROR", "FATAL", "INFO", "OFF", "TRACE", "WARN"})
_LOCAL_MASTER = re.compile(r"local(\[(\*|[1-9]\d*)(,\s*[1-9]\d*)?\])?|local-cluster\[.*\]")


def check(cfg: DictConfig) -> None:
    """Every check of a composed config that needs neither a JVM nor data, run before a run or a
    sweep starts: interpolations resolve, no unknown key was added, numbers are in range, and the
    groups agree with each other. Raises RunnerError naming the key."""
    _check_resolves(cfg)
    for key, suggestion in unknown_keys(cfg):
        hint = f"; did you mean {suggestion}?" if suggestion else ""
        raise RunnerError(f"{key}: no such key in runner's config{hint}")
    _check_numbers(cfg)
    check_serving(cfg.serving)
    _check_evaluation(cfg.evaluation)
    _check_mlp(cfg)


def _check_resolves(cfg: DictConfig) -> None:
    """Resolve every value once: a missing group (``~tracking``), a ``???`` or an interpolation
    to a missing key fails here instead of deep inside a run."""
    # plain values first: ``seed=${missing}`` is named as seed, not as data.split.seed
    for key in sorted(cfg, key=lambda k: OmegaConf.is_config(config_node(cfg, k))):
        if key == "hydra":
            continue
        try:
            node = config_node(cfg, key)
            if OmegaConf.is_config(node):
                OmegaConf.to_container(node, resolve=True, throw_on_missing=True)
            else:
                cfg[key]  # noqa: B018 - resolves it
        except OmegaConfBaseException as exc:
            raise RunnerError(describe_omegaconf_error(exc, str(key))) from exc


def describe_omegaconf_error(exc: Exception, fallback_key: str = "") -> str:
    """One line for an OmegaConf error: the full key first, then its message's first line."""
    key = getattr(exc, "full_key", None) or fallback_key
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if type(exc).__name__ == "MissingMandatoryValue":
        group = key.split(".")[0]
        return (f"{key}: missing mandatory value (was the required group {group!r} removed? "
                f"choose one, e.g. {group}=<name>)")
    return f"{key}: {msg}" if key else msg


def unknown_keys(cfg: DictConfig) -> list[tuple[str, str | None]]:
    """Keys of ``cfg`` its dataclass schemas do not define (added with ``+``), with the nearest
    defined key, by a walk of the config beside its schemas."""
    found: list[tuple[str, str | None]] = []
    _walk(cfg, "", found)
    return found


def _walk(node: DictConfig, prefix: str, found: list[tuple[str, str | None]]) -> None:
    schema = OmegaConf.get_type(node)
    if schema is None or not dataclasses.is_dataclass(schema):
        return  # a plain mapping: options, tags, data.schema
    names = [f.name for f in dataclasses.fields(schema)]
    for key in node:
        full = f"{prefix}{key!s}"
        if not prefix and key == "hydra":
            continue
        if key not in names:
            found.append((full, nearest(str(key), names, prefix)))
            continue
        child = config_node(node, key)
        if (isinstance(child, DictConfig) and full not in FREE_KEYS
                and not OmegaConf.is_missing(node, key)):
            _walk(child, f"{full}.", found)


def nearest(key: str, names: list[str], prefix: str) -> str | None:
    """The defined key closest to ``key``, ignoring case and underscores (experimentName ->
    experiment_name)."""
    def norm(name: str) -> str:
        return name.replace("_", "").lower()

    by_norm = {norm(n): n for n in names}
    match = difflib.get_close_matches(norm(key), list(by_norm), n=1, cutoff=0.6)
    return f"{prefix}{by_norm[match[0]]}" if match else None


def _in_range(key: str, value: Any, low: float, high: float, text: str) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
        isinstance(value, int) or math.isfinite(value))
    if not ok or not low <= value <= high:
        raise RunnerError(f"{key}={value!r} is out of range: must be {text}")


def _check_numbers(cfg: DictConfig) -> None:
    """Runner's own numeric keys (serving.* and hydra.sweeper.* are checked by their owners)."""
    for key in ("seed", "data.split.seed"):
        _in_range(key, OmegaConf.select(cfg, key), *SEED_RANGE, "a 64-bit integer")
    split = cfg.data.split
    for part in ("train", "test"):
        value = split[part]
        if not isinstance(value, (int, float)) or math.isnan(value) or not 0 < value <= 1:
            raise RunnerError(f"data.split.{part}={value!r} is out of range: must be in (0, 1]")
    if split.train + split.test > 1 + 1e-9:
        raise RunnerError(f"data.split.train + data.split.test = {split.train + split.test:g}: "
                          "must be <= 1 (fractions of the rows)")
    _in_range("data.split.validation", split.validation, 0, 1 - 1e-12,
              "in [0, 1): a fraction of the training part (0: cross-validate)")
    _in_range("evaluation.cv.folds", cfg.evaluation.cv.folds, 2, math.inf,
              "an integer >= 2 (folds of the training part a sweep's trials are scored on)")
    _in_range("evaluation.local_max_rows", cfg.evaluation.local_max_rows, 0, math.inf, ">= 0")
    _in_range("tracking.champion_margin", cfg.tracking.champion_margin, 0, math.inf,
              ">= 0 (a finite margin)")
    _check_spark(cfg.spark)


def _check_spark(spark: DictConfig) -> None:
    _in_range("spark.quick_jit_below_mb", spark.quick_jit_below_mb, 0, math.inf, ">= 0")
    _in_range("spark.checkpoint_below_rows", spark.checkpoint_below_rows, 0, math.inf, ">= 0")
    if str(spark.log_level).upper() not in SPARK_LOG_LEVELS:
        raise RunnerError(f"spark.log_level={spark.log_level!r} is not a Spark log level: "
                          f"one of {', '.join(sorted(SPARK_LOG_LEVELS))}")
    master = str(spark.master)
    if not spark.remote and master.startswith("local") and not _LOCAL_MASTER.fullmatch(master):
        raise RunnerError(f"spark.master={master!r} is not a local master URL: local, local[N] "
                          "(N >= 1), local[*] or local[N,F]")


def _check_evaluation(evaluation: DictConfig) -> None:
    metrics = [value_of(m) for m in evaluation.metrics]
    if not metrics:
        raise RunnerError("evaluation.metrics=[] is empty: list at least evaluation.primary")
    primary = value_of(evaluation.primary)
    if primary not in metrics and not (evaluation.binary_metrics and primary in BINARY_METRICS):
        raise RunnerError(f"evaluation.primary={primary} is not in evaluation.metrics={metrics}: "
                          f"add it (sweeps optimize it and every run logs it)")


def _check_mlp(cfg: DictConfig) -> None:
    """MLP layer sizes positive (the last one against the class count: ``pipeline.models``)."""
    if not str(cfg.model.get("_target_", "")).endswith(".MultilayerPerceptronClassifier"):
        return
    for key in ("layers", "hidden_layers"):
        sizes = cfg.model.get(key)
        if sizes is None:
            continue
        if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes):
            raise RunnerError(f"model.{key}={list(sizes)}: every layer size must be an integer > 0")
        if key == "layers" and len(sizes) < 2:
            raise RunnerError(f"model.layers={list(sizes)}: needs at least the input and the "
                              "output layer")


def check_serving(serving: Any) -> None:
    """The serving keys' ranges, before the model is loaded or the port bound."""
    rules = [("port", 0 <= serving.port <= 65535, "0..65535 (0: a free port)"),
             ("workers", serving.workers >= 1, ">= 1"),
             ("max_body_bytes", serving.max_body_bytes > 0, "> 0"),
             ("header_timeout", serving.header_timeout > 0, "> 0 (seconds)"),
             ("body_timeout", serving.body_timeout > 0, "> 0 (seconds)"),
             ("idle_timeout", serving.idle_timeout > 0, "> 0 (seconds)"),
             ("max_connections", serving.max_connections >= 1, ">= 1"),
             ("reload_interval", serving.reload_interval >= 0, ">= 0 (seconds; 0: never)"),
             ("shutdown_timeout", serving.shutdown_timeout >= 0, ">= 0 (seconds)")]
    for key, ok, valid in rules:
        if not ok:
            raise RunnerError(f"serving.{key}={getattr(serving, key)} is out of range: it must "
                              f"be {valid}")
