"""Feature stages from the ``features`` config, in the order they are listed.

The wiring is checked from config alone, before the JVM starts: every stage reads columns that
data.schema has or an earlier stage wrote, and the stages produce ``features.output_col``. With
``data.missing=impute`` an Imputer is put first, so the fitted pipeline (and so serving) fills
missing numeric values itself, and StringIndexers keep nulls in their own bucket.

A stage's ``inputCols`` may select columns by rule rather than by name (``features=auto``): the
rules are resolved in ``column_rules``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.context import RunContext, config_key
from runner.errors import RunnerError
from runner.pipeline import stages
from runner.pipeline.column_rules import (
    INPUT_KEYS,
    OUTPUT_KEYS,
    columns_of,
    numeric_columns,
    resolved,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from runner.data import DataSpec

IMPUTER = "impute_missing"


def check(cfg: Any, data: DataSpec) -> None:
    """Check every stage's class, params and column wiring (no JVM needed)."""
    available = set(data.feature_columns)
    produced: set[str] = set()
    for name, spec in resolved(cfg, data):
        where = f"features.stages.{name}"
        cls = stages.check(spec, where)
        for column in columns_of(spec, INPUT_KEYS):
            _check_input(column, available, data.label, where)
        outputs = columns_of(spec, OUTPUT_KEYS)
        if not any(hasattr(cls, key) for key in OUTPUT_KEYS):
            return  # its outputs cannot be known from config (e.g. RFormula): stop checking here
        if not outputs:
            raise RunnerError(f"{where}: set outputCol (or outputCols) so later stages can read it")
        for column in outputs:
            if column in available:
                raise RunnerError(f"{where}: output column {column!r} already exists")
        available.update(outputs)
        produced.update(outputs)
    if cfg.output_col not in produced:
        raise RunnerError(
            f"features.output_col={cfg.output_col!r} is not produced by any feature stage; "
            f"they produce {sorted(produced)}"
        )


def read_columns(cfg: Any, data: DataSpec) -> list[str]:
    """The data columns the feature stages read, in the data's order: the model's inputs.

    A column is read when a stage names it in ``inputCol``/``inputCols`` and no earlier stage
    wrote it; a column no stage reads (an ID left out by ``exclude``) is no input, so requests
    need not send it. Every feature column when a stage reads columns its config cannot name
    (RFormula, SQLTransformer: no ``inputCol`` params).
    """
    raw = data.feature_columns
    produced: set[str] = set()
    read: set[str] = set()
    for name, spec in resolved(cfg, data):
        if not isinstance(spec, dict) or "_target_" not in spec:
            return raw  # check names the mistake
        if not any(hasattr(stages.locate(spec["_target_"], f"features.stages.{name}"), key)
                   for key in INPUT_KEYS):
            return raw
        read.update(c for c in columns_of(spec, INPUT_KEYS) if c not in produced)
        produced.update(columns_of(spec, OUTPUT_KEYS))
    return [c for c in raw if c in read]


def _check_input(column: str, available: set[str], label: str, where: str) -> None:
    if column == label:
        raise RunnerError(f"{where}: reads the label {label!r}, which serving requests lack")
    if column not in available:
        raise RunnerError(
            f"{where}: input column {column!r} is not in data.schema nor written by an earlier "
            f"stage; available: {sorted(available)}"
        )


def build(cfg: Any, data: DataSpec, context: RunContext | None = None) -> list[tuple[str, Any]]:
    """The stages as (config name, stage) pairs; an Imputer first if data.missing=impute.

    Built once per ``context`` for the same configs: the trials of a sweep share them
    (unfitted; nothing changes a stage after it is built), which saves a JVM object per stage
    and param. Without a context they are built afresh.
    """
    if context is None:
        return _build(cfg, data)
    key = config_key(cfg, data.key)
    with context.built_lock:
        if key not in context.built:
            context.built[key] = _build(cfg, data)
        return list(context.built[key])


def _build(cfg: Any, data: DataSpec) -> list[tuple[str, Any]]:
    named = []
    filled = [c for c in numeric_columns(data) if c in read_columns(cfg, data)]
    if data.imputes and filled:
        named.append((IMPUTER, _imputer(data, filled)))
    for name, spec in resolved(cfg, data):
        extra = _keep_nulls(spec, data) if data.imputes else {}
        named.append((name, stages.build(spec, f"features.stages.{name}", **extra)))
    return named


def _imputer(data: DataSpec, columns: list[str]) -> Any:
    """Fill the numeric columns the stages read in place, so they read them unchanged (a column
    no stage reads is left alone: it is no model input)."""
    spec = {"_target_": "pyspark.ml.feature.Imputer", "inputCols": columns, "outputCols": columns,
            "strategy": data.impute_strategy}
    return stages.build(spec, f"features.{IMPUTER} (data.missing=impute)")


def _keep_nulls(spec: Any, data: DataSpec) -> dict[str, Any]:
    """A StringIndexer on raw data columns puts nulls in an extra bucket unless told otherwise."""
    if not str(spec["_target_"]).endswith(".StringIndexer") or "handleInvalid" in spec:
        return {}
    raw = set(data.feature_columns)
    return {"handleInvalid": "keep"} if set(columns_of(spec, INPUT_KEYS)) & raw else {}


def vector_size(named: list[tuple[str, Any]], train: DataFrame, output_col: str) -> int:
    """Length of the assembled feature vector: fit the feature stages on ``train``, read one row.

    Fitting is the one robust way (one-hot and polynomial sizes depend on the data and degree);
    on a few hundred rows it costs well under a second, and only models that need it call it.
    """
    from pyspark.ml import Pipeline

    fitted = Pipeline(stages=[stage for _, stage in named]).fit(train)
    row = fitted.transform(train.limit(1)).select(output_col).first()
    if row is None:
        raise RunnerError("data: the training split is empty")
    return int(row[0].size)
