"""A batch input made fit for a fitted pipeline: read as the model's training run read its data,
cast to the model's signature types and guarded.

A user's ``new.csv`` comes with no reader options: the format and options (CSV header,
separator) the training run used are taken from its logged config. Spark would score a value
that does not cast as null, and fail on a null the pipeline does not handle with a JVM stack
trace: here each such value stops the job with a marker naming the check that fired, and
``explain`` turns the marker into one line naming the column, the row and the value. Everything
is lazy: the checks run inside the job that writes the output.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.config.types import SPARK_TYPES
from runner.data import formats
from runner.errors import RunnerError, first_line

if TYPE_CHECKING:
    from runner.data.spec import DataSpec

_GUARD = "runner-invalid-input:"
_GUARD_RE = re.compile(re.escape(_GUARD) + r"(\d+)")


@dataclass(frozen=True)
class Check:
    """A guarded input column: ``bad`` is true on a row the model cannot take."""

    column: str
    kind: str  # "cast" (a value that is not of the model's type) or "null" (or NaN)
    want: str
    bad: Any  # a Column


@dataclass(frozen=True)
class Prepared:
    columns: list[Any]  # every input column, the model's cast and guarded
    checks: list[Check]


def reading(path: str, input_format: str | None, input_options: Mapping[str, Any] | None,
            trained: DataSpec) -> tuple[str, dict[str, str]]:
    """The format and reader options of the input at ``path`` (``predict.input``), as the
    model's training run (``trained``: the data spec it logged) read its data.

    The format: ``input_format``, else told by the path (``formats.format_of``), else the training
    data's. The options: the training run's ``data.options`` (CSV header, separator) when the
    formats match, updated with ``input_options``.
    """
    trained_format = trained.format
    fmt = input_format
    if not fmt:
        try:
            fmt = formats.format_of(path, None)
        except RunnerError:
            if not trained_format:
                raise RunnerError(f"predict.input={path}: cannot tell its format from the "
                                  "path: set predict.input_format (csv, parquet, ...)") from None
            fmt = trained_format
    options = dict(trained.options) if fmt == trained_format else {}
    options.update({str(k): str(v) for k, v in (input_options or {}).items()})
    return str(fmt), options


def read(session: Any, path: str, fmt: str, options: dict[str, str]) -> Any:
    """The input as a DataFrame (lazily); a path or format Spark refuses is one line."""
    try:
        return session.read.format(fmt).options(**options).load(path)
    except Exception as exc:  # AnalysisException for a missing path or unknown format
        raise RunnerError(f"predict.input={path} ({fmt}): {first_line(exc)}") from exc


def null_unsafe_columns(pipeline: Any) -> set[str]:
    """Input columns whose nulls (or NaN) the fitted pipeline would fail on: read by a stage, and
    by no Imputer and no stage whose ``handleInvalid`` is keep or skip (a StringIndexer's own
    index, a VectorAssembler's NaN, a dropped row: the pipeline's own handling, kept)."""
    handled: dict[str, bool] = {}
    for stage in getattr(pipeline, "stages", []):
        handles = type(stage).__name__ == "ImputerModel" or (
            stage.hasParam("handleInvalid")
            and stage.getOrDefault("handleInvalid") in ("keep", "skip"))
        for column in _stage_inputs(stage):
            handled[column] = handled.get(column, False) or handles
    return {column for column, ok in handled.items() if not ok}


def held_back(pipeline: Any, columns: list[str], model_inputs: list[str]) -> list[str]:
    """Columns of the input that a stage reads but that are no model input: the label, which
    its StringIndexerModel (``handleInvalid=error``) would index, failing on a value unseen in
    training. Scoring needs no label: hidden from the pipeline, Spark skips that stage."""
    read = {c for stage in _flat(pipeline) for c in _stage_inputs(stage)}
    return [c for c in columns if c in read and c not in model_inputs]


def _flat(pipeline: Any) -> list[Any]:
    """The stages of a PipelineModel, nested ones in their place."""
    if hasattr(pipeline, "stages"):
        return [s for stage in pipeline.stages for s in _flat(stage)]
    return [pipeline]


def _stage_inputs(stage: Any) -> list[str]:
    found: list[str] = []
    for name in ("inputCol", "inputCols"):
        if stage.hasParam(name) and stage.isDefined(stage.getParam(name)):
            value = stage.getOrDefault(stage.getParam(name))
            found += [value] if isinstance(value, str) else list(value)
    return found


def prepare(frame: Any, inputs: list[tuple[str, str]], null_unsafe: set[str]) -> Prepared:
    """Every column; the model's inputs (name, MLflow type) cast to their Spark types, guarded.

    A value that does not cast (text where a number is taken) and a null or NaN the pipeline
    would not handle stop the job with a marker naming the check, where Spark would print a JVM
    stack or score a wrong value. Raises RunnerError naming missing columns.
    """
    types = dict(frame.dtypes)
    missing = [n for n, _ in inputs if n not in types]
    if missing:
        raise RunnerError(f"the input lacks column(s) {', '.join(missing)}; the model takes "
                          + ", ".join(f"{n} ({t})" for n, t in inputs))
    wanted = {n: SPARK_TYPES.get(t, t) for n, t in inputs}
    columns: list[Any] = []
    checks: list[Check] = []
    for name in frame.columns:
        want = wanted.get(name)
        column, guards = _cast_and_guard(name, types[name], want, name in null_unsafe)
        columns.append(_guarded(column, guards, len(checks)).alias(name) if guards else column)
        checks += guards
    return Prepared(columns, checks)


def _cast_and_guard(name: str, have: str, want: str | None, null_unsafe: bool
                    ) -> tuple[Any, list[Check]]:
    """The column cast to ``want`` (as it is when no type is wanted) and its checks."""
    from pyspark.sql import functions as F  # noqa: N812 - Spark's convention

    raw = F.col(f"`{name}`")
    if want is None:
        return raw, []
    value = raw if have == want else raw.try_cast(want)
    guards = [] if value is raw else [Check(name, "cast", want, raw.isNotNull() & value.isNull())]
    if null_unsafe:
        missing_value = raw.isNull()
        if want in ("double", "float"):
            missing_value = missing_value | F.isnan(value)
        guards.append(Check(name, "null", want, missing_value))
    return value, guards


def _guarded(value: Any, guards: list[Check], first: int) -> Any:
    """``value``, or an error carrying the check's number (counted from ``first``) on a row
    where a check is bad."""
    from pyspark.sql import functions as F  # noqa: N812

    guarded: Any = None
    for number, check in enumerate(guards, start=first):
        fire = F.raise_error(F.lit(f"{_GUARD}{number}"))
        guarded = F.when(check.bad, fire) if guarded is None else guarded.when(check.bad, fire)
    return guarded.otherwise(value)


def explain(frame: Any, prepared: Prepared, error: BaseException) -> str | None:
    """One line for a job that failed on a guard of ``prepared``: the column, the first such row
    (1 = the first data row, in the input's order) and its value; None when no guard fired.
    Runs only on failure: two small jobs."""
    fired = _GUARD_RE.search(str(error))
    if fired is None:
        return None
    return _describe(frame, prepared.checks[int(fired.group(1))])


def _describe(frame: Any, check: Check) -> str:
    from pyspark.sql import functions as F  # noqa: N812

    numbered = frame.withColumn("__runner_row", F.monotonically_increasing_id())
    first = (numbered.where(check.bad).orderBy("__runner_row")
             .select(F.col(f"`{check.column}`").cast("string").alias("v"), "__runner_row").first())
    if first is None:  # the input changed under us: say what was checked
        return f"column {check.column}: a value the model cannot take ({check.kind})"
    row = numbered.where(F.col("__runner_row") < first["__runner_row"]).count() + 1
    if check.kind == "cast":
        return (f"column {check.column}, row {row}: {first['v']!r} is not a {check.want} "
                "(the model's input type)")
    return (f"column {check.column}, row {row}: missing value ({first['v'] or 'null'}), and the "
            "model's pipeline does not fill it (train with data.missing=impute, or a "
            "handleInvalid=keep stage, to score such rows); fill or drop such rows")
