"""``runner predict``: batch scoring on Spark with the model's spark flavor.

The PipelineModel's own ``transform`` runs in the JVM over the whole input, written to a hidden
sibling of the output and moved into place when complete: nothing is collected to the driver, no
Python UDF sits in the row path (``mlflow.pyfunc.spark_udf`` is ~20x slower on the same model),
and a failed write leaves no output. The input is read as the model's training run read its data
(format, reader options) and cast to the model's input types. Every check that needs no JVM
(paths, save mode, model) runs first, so a mistake costs no Spark start.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

from runner import console, spark, tracking
from runner.errors import RunnerError, first_line
from runner.pipeline import data
from runner.serving.scorers import spark_reason
from runner.train import enum_value

# Spark SQL type per MLflow signature type; numeric inputs are cast to it (the lab's ints)
SPARK_TYPES = {"double": "double", "float": "float", "long": "bigint", "integer": "int",
               "string": "string", "boolean": "boolean"}
OUTPUTS = ("prediction", "probability")


@dataclass(frozen=True)
class PredictResult:
    model_uri: str
    input: str
    output: str
    rows: int | None
    seconds: float


def main(cfg: Any) -> None:
    """Entry point of ``runner predict``: score, write, print a one-line summary."""
    result = run(cfg)
    rows = f"{result.rows:,} rows" if result.rows is not None else "rows"
    _say(f"scored {rows} from {result.input} with {result.model_uri} in {result.seconds:.1f} s "
         f"-> {result.output}")


def run(cfg: Any) -> PredictResult:
    """Resolve the model, read the input as the model was trained, transform, write; returns
    what was done."""
    p = cfg.predict
    mode = check(p)
    tracking.use_store(cfg.tracking.uri)
    model = tracking.resolve_model(p.model_uri, cfg.tracking.registered_model_name)
    inputs = tracking.model_inputs(model.local_path)
    trained = tracking.run_config(model.run_id).get("data") or {}
    labels = [str(c) for c in trained.get("class_names") or []] if p.label_col else []
    fmt, options = reading(p, trained)
    _say(f"scoring {p.input} ({fmt}) with {model.uri} (run {model.run_id}) on Spark")
    session = spark.get_session(cfg.spark, p.input)
    start = time.perf_counter()
    frame = read_input(session, p.input, fmt, options)
    pipeline = tracking.load_spark_model(model.local_path)
    prepared = prepare_inputs(frame, inputs, null_unsafe_columns(pipeline))
    scored = score(pipeline, frame, prepared.columns, labels, p.label_col)
    try:
        write_atomically(scored, p.output, p.output_format, mode)
    except InvalidInput as exc:
        raise RunnerError(f"predict.input={p.input}: {describe(frame, prepared, exc)}") from None
    seconds = time.perf_counter() - start
    return PredictResult(model.uri, p.input, p.output, _count(session, p), seconds)


def check(p: Any) -> str:
    """Checks that need no JVM: input and output set, input present, output free; the mode."""
    mode = enum_value(p.mode)
    if not p.input or not p.output:
        raise RunnerError("set predict.input and predict.output (paths), e.g. "
                          "`runner predict predict.input=in.parquet predict.output=out.parquet`")
    local_in, local_out = _local(p.input), _local(p.output)
    if local_in is not None and not os.path.exists(local_in):
        raise RunnerError(f"predict.input={p.input}: no such file or directory")
    if local_out is not None and os.path.exists(local_out) and mode == "errorifexists":
        raise RunnerError(f"predict.output={p.output} exists: choose another path or set "
                          "predict.mode=overwrite (or append, ignore)")
    return mode


def _local(path: str) -> str | None:
    """The local filesystem path of a plain or file: path; None for other filesystems."""
    if path.startswith("file:"):
        return tracking.uris.local_path(path)
    return None if "://" in path else path


def _format_of(path: str) -> str:
    """The format the training run read ``path`` as when its config left data.format null
    (told by the path then, as now); empty when the path says nothing."""
    if not path:
        return ""
    try:
        return data.format_of(data.resolve_path(path), None)
    except RunnerError:  # the training data is gone or unreadable: its format stays unknown
        return ""


def reading(p: Any, trained: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The input's format and reader options, as the model's training run read its data.

    The format: ``predict.input_format``, else told by the path (``data.format_of``), else the
    training data's. The options: the training run's ``data.options`` (CSV header, separator)
    when the formats match, updated with ``predict.input_options``.
    """
    trained_format = str(trained.get("format") or _format_of(str(trained.get("path") or "")))
    fmt = p.input_format
    if not fmt:
        try:
            fmt = data.format_of(p.input, None)
        except RunnerError:
            if not trained_format:
                raise RunnerError(f"predict.input={p.input}: cannot tell its format from the "
                                  "path: set predict.input_format (csv, parquet, ...)") from None
            fmt = trained_format
    options = dict(trained.get("options") or {}) if fmt == trained_format else {}
    options.update({str(k): str(v) for k, v in (p.input_options or {}).items()})
    return str(fmt), options


def read_input(session: Any, path: str, fmt: str, options: dict[str, str]) -> Any:
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


def _stage_inputs(stage: Any) -> list[str]:
    found: list[str] = []
    for name in ("inputCol", "inputCols"):
        if stage.hasParam(name) and stage.isDefined(stage.getParam(name)):
            value = stage.getOrDefault(stage.getParam(name))
            found += [value] if isinstance(value, str) else list(value)
    return found


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


class InvalidInput(Exception):
    """A guard fired while the output was written: ``checks[index]`` failed on some row."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


_GUARD = "runner-invalid-input:"
_GUARD_RE = re.compile(re.escape(_GUARD) + r"(\d+)")


def prepare_inputs(frame: Any, inputs: list[tuple[str, str]], null_unsafe: set[str]
                   ) -> Prepared:
    """Every column; the model's inputs cast to their signature types, guarded.

    A value that does not cast (text where a number is taken) and a null or NaN the pipeline
    would not handle stop the job with a marker naming the check (``InvalidInput``), where Spark
    would print a JVM stack or score a wrong value. Raises RunnerError naming missing columns.
    """
    from pyspark.sql import functions as F  # noqa: N812 - Spark's convention

    types = dict(frame.dtypes)
    missing = [n for n, _ in inputs if n not in types]
    if missing:
        raise RunnerError(f"the input lacks column(s) {', '.join(missing)}; the model takes "
                          + ", ".join(f"{n} ({t})" for n, t in inputs))
    wanted = {n: SPARK_TYPES.get(t, t) for n, t in inputs}
    columns: list[Any] = []
    checks: list[Check] = []
    for name in frame.columns:
        raw, want = F.col(f"`{name}`"), wanted.get(name)
        if want is None:
            columns.append(raw)
            continue
        value = raw if types[name] == want else raw.try_cast(want)
        guards = [] if value is raw else [Check(name, "cast", want,
                                                raw.isNotNull() & value.isNull())]
        if name in null_unsafe:
            missing_value = raw.isNull()
            if want in ("double", "float"):
                missing_value = missing_value | F.isnan(value)
            guards.append(Check(name, "null", want, missing_value))
        guarded = None
        for check in guards:
            fire = F.raise_error(F.lit(f"{_GUARD}{len(checks)}"))
            guarded = F.when(check.bad, fire) if guarded is None else guarded.when(check.bad, fire)
            checks.append(check)
        columns.append(guarded.otherwise(value).alias(name) if guarded is not None else value)
    return Prepared(columns, checks)


def score(pipeline: Any, frame: Any, columns: list[Any], class_names: list[str],
          label_col: str | None) -> Any:
    """The input's columns (``prepare_inputs``) plus prediction, probability (array) and the
    class name, lazily."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F  # noqa: N812 - Spark's convention

    original = list(frame.columns)
    scored = pipeline.transform(frame.select(*columns))
    extra = [F.col("prediction")]
    if "probability" in scored.columns:
        extra.append(vector_to_array(F.col("probability")).alias("probability"))
    if label_col and class_names:
        names = F.create_map(*[F.lit(x) for i, n in enumerate(class_names) for x in (float(i), n)])
        extra.append(F.try_element_at(names, F.col("prediction")).alias(label_col))
    return scored.select(*[F.col(f"`{c}`") for c in original], *extra)


def describe(frame: Any, prepared: Prepared, exc: InvalidInput) -> str:
    """One line for a guard that fired: the column, the first such row (1 = the first data row,
    in the input's order) and its value. Runs only on failure: two small jobs."""
    from pyspark.sql import functions as F  # noqa: N812

    check = prepared.checks[exc.index]
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


def write_atomically(scored: Any, output: str, output_format: str, mode: str) -> None:
    """Write to a hidden sibling of ``output``, then move it into place: a failed or
    interrupted write leaves nothing at ``output`` (a rerun works). Local paths only; other
    filesystems get Spark's own write."""
    local = _local(output)
    if local is None:
        write(scored, output, output_format, mode)
        return
    target = os.path.abspath(local)
    if os.path.exists(target) and mode in ("ignore", "errorifexists"):
        if mode == "ignore":
            return
        raise RunnerError(f"predict.output={output} exists: choose another path or set "
                          "predict.mode=overwrite (or append, ignore)")
    _remove_stale_temps(target)
    temp = f"{_temp_prefix(target)}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        write(scored, temp, output_format, "errorifexists")
        publish(temp, target, mode)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _temp_prefix(target: str) -> str:
    head, tail = os.path.split(target)
    return os.path.join(head, f".{tail}.runner-tmp-")


def _remove_stale_temps(target: str) -> None:
    """Temps of earlier runs that were killed mid-write (their process is gone)."""
    prefix = _temp_prefix(target)
    head, name = os.path.split(prefix)
    for entry in os.listdir(head or ".") if os.path.isdir(head or ".") else []:
        if not entry.startswith(name):
            continue
        pid = entry[len(name):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(os.path.join(head, entry), ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def publish(temp: str, target: str, mode: str) -> None:
    """Move a finished write into place: a rename (overwrite: the old output set aside first,
    removed after); append moves the new data files into an existing output."""
    if not os.path.exists(target):
        os.rename(temp, target)
    elif mode == "append":
        for entry in os.listdir(temp):
            if not entry.startswith(("_", ".")):
                os.rename(os.path.join(temp, entry), os.path.join(target, entry))
    elif mode == "overwrite":
        old = f"{temp}.old"
        os.rename(target, old)
        os.rename(temp, target)
        (shutil.rmtree if os.path.isdir(old) else os.remove)(old)
    else:  # created meanwhile by someone else
        raise RunnerError(f"predict.output={target} appeared while scoring: choose another path "
                          "or set predict.mode=overwrite")


def write(scored: Any, output: str, output_format: str, mode: str) -> None:
    # "error" is the same mode; Spark Connect's writer accepts only that spelling of it
    mode = "error" if mode == "errorifexists" else mode
    try:
        scored.write.format(output_format).mode(mode).save(output)
    except Exception as exc:  # AnalysisException (path exists) or the model rejecting rows
        guard = _GUARD_RE.search(str(exc))
        if guard:
            raise InvalidInput(int(guard.group(1))) from None
        raise RunnerError(f"predict.output={output}: {spark_reason(exc)}") from exc


def _count(session: Any, p: Any) -> int | None:
    """Rows written, read back from the output's metadata (parquet and orc only: cheap there)."""
    if p.output_format not in ("parquet", "orc"):
        return None
    return int(session.read.format(p.output_format).load(p.output).count())


def _say(message: str) -> None:
    """A line on stdout, and in the job's log file (console.say)."""
    console.say(message, stream=sys.stdout)
