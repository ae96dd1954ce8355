"""``runner predict``: batch scoring on Spark with the model's spark flavor.

The PipelineModel's own ``transform`` runs in the JVM over the whole input: nothing is collected
to the driver, no Python UDF sits in the row path (``mlflow.pyfunc.spark_udf`` is ~20x slower on
the same model). The task reads the input as the model's training run read its data (format,
reader options), has it cast and guarded against the model's signature
(``runner.data.inputs``) and written atomically (``runner.spark.output``: a failed write
leaves no output). Every check that needs no JVM (paths, save mode, model) runs first, so a
mistake costs no Spark start.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from runner import console, spark, tracking
from runner.config import value_of
from runner.data import DataSpec, inputs, missing
from runner.errors import RunnerError
from runner.serving.scorers import spark_reason
from runner.spark import output


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
    console.out(f"scored {rows} from {result.input} with {result.model_uri} in "
                f"{result.seconds:.1f} s -> {result.output}")


def run(cfg: Any) -> PredictResult:
    """Resolve the model, read the input as the model was trained, transform, write; returns
    what was done."""
    p = cfg.predict
    mode = check(p)
    tracking.use_store(cfg.tracking.uri)
    model = tracking.resolve_model(p.model_uri, cfg.tracking.registered_model_name)
    signature = tracking.model_inputs(model.local_path)
    trained = DataSpec.logged(tracking.run_config(model.run_id).get("data") or {})
    labels = list(trained.class_names) if p.label_col else []
    fmt, options = inputs.reading(p.input, p.input_format, p.input_options, trained)
    console.out(f"scoring {p.input} ({fmt}) with {model.uri} (run {model.run_id}) on Spark")
    session = spark.get_session(cfg.spark, p.input)
    start = time.perf_counter()
    frame = missing.markers_as_null(inputs.read(session, p.input, fmt, options), fmt,
                                    list(trained.na_values))
    pipeline = tracking.load_spark_model(model.local_path)
    prepared = inputs.prepare(frame, signature, inputs.null_unsafe_columns(pipeline))
    hidden = inputs.held_back(pipeline, list(frame.columns), [n for n, _ in signature])
    scored = score(pipeline, frame, prepared.columns, labels, p.label_col, hidden)
    try:
        output.write_atomically(scored, p.output, p.output_format, mode)
    except output.WriteFailed as failed:
        reason = inputs.explain(frame, prepared, failed.cause)
        if reason is not None:  # a row the model cannot take: named, not Spark's stack
            raise RunnerError(f"predict.input={p.input}: {reason}") from None
        raise RunnerError(f"predict.output={failed.path}: {spark_reason(failed.cause)}"
                          ) from failed.cause
    seconds = time.perf_counter() - start
    rows = output.rows_written(session, p.output, p.output_format)
    return PredictResult(model.uri, p.input, p.output, rows, seconds)


def check(p: Any) -> str:
    """Checks that need no JVM: input and output set, input present, output free; the mode."""
    mode = value_of(p.mode)
    if not p.input or not p.output:
        raise RunnerError("set predict.input and predict.output (paths), e.g. "
                          "`runner predict predict.input=in.parquet predict.output=out.parquet`")
    local_in, local_out = output.local_path(p.input), output.local_path(p.output)
    if local_in is not None and not os.path.exists(local_in):
        raise RunnerError(f"predict.input={p.input}: no such file or directory")
    if local_out is not None and os.path.exists(local_out) and mode == "errorifexists":
        raise output.exists_error(p.output)
    return mode


def score(pipeline: Any, frame: Any, columns: list[Any], class_names: list[str],
          label_col: str | None, hidden: list[str] | None = None) -> Any:
    """The input's columns (``inputs.prepare``) plus prediction, probability (array) and the
    class name, lazily. ``hidden`` columns (``inputs.held_back``: the label) pass through
    renamed, so no stage reads them: a label value unseen in training is kept as given."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F  # noqa: N812 - Spark's convention

    original = list(frame.columns)
    renamed = {c: f"__runner_held_{i}" for i, c in enumerate(hidden or [])}
    given = frame.select(*columns)
    for column, name in renamed.items():
        given = given.withColumnRenamed(column, name)
    scored = pipeline.transform(given)
    extra = [F.col("prediction")]
    if "probability" in scored.columns:
        extra.append(vector_to_array(F.col("probability")).alias("probability"))
    if label_col and class_names:
        names = F.create_map(*[F.lit(x) for i, n in enumerate(class_names) for x in (float(i), n)])
        extra.append(F.try_element_at(names, F.col("prediction")).alias(label_col))
    return scored.select(*[F.col(f"`{renamed.get(c, c)}`").alias(c) for c in original], *extra)
