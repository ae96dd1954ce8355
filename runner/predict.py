"""``runner predict``: batch scoring on Spark with the model's spark flavor.

The PipelineModel's own ``transform`` runs in the JVM over the whole input, written straight to the
output: nothing is collected to the driver, and no Python UDF sits in the row path
(``mlflow.pyfunc.spark_udf`` is ~20x slower on the same model). Every check that needs no JVM
(paths, save mode, model) runs first, so a mistake costs no Spark start.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from runner import spark, tracking
from runner.errors import RunnerError, first_line
from runner.scorers import spark_reason
from runner.train import enum_value

# Spark SQL type per MLflow signature type; numeric inputs are cast to it (the lab's ints)
SPARK_TYPES = {"double": "double", "float": "float", "long": "bigint", "integer": "int",
               "string": "string", "boolean": "boolean"}
NUMERIC_SQL = ("tinyint", "smallint", "int", "bigint", "float", "double", "decimal")
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
    """Resolve the model, read the input, transform, write; returns what was done."""
    p = cfg.predict
    mode = check(p)
    tracking.use_store(cfg.tracking.uri)
    model = tracking.resolve_model(p.model_uri, cfg.tracking.registered_model_name)
    inputs = tracking.model_inputs(model.local_path)
    labels = tracking.run_class_names(model.run_id) if p.label_col else []
    _say(f"scoring {p.input} with {model.uri} (run {model.run_id}) on Spark")
    session = spark.get_session(cfg.spark, p.input)
    start = time.perf_counter()
    frame = read_input(session, p)
    scored = score(tracking.load_spark_model(model.local_path), frame, inputs, labels, p.label_col)
    write(scored, p.output, p.output_format, mode)
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
        return path[len("file:"):].replace("//", "/", 1) if path.startswith("file://") else path[5:]
    return None if "://" in path else path


def read_input(session: Any, p: Any) -> Any:
    try:
        reader = session.read.format(p.input_format).options(**dict(p.input_options or {}))
        return reader.load(p.input)
    except Exception as exc:  # AnalysisException for a missing path or unknown format
        raise RunnerError(f"predict.input={p.input} ({p.input_format}): {first_line(exc)}") from exc


def score(pipeline: Any, frame: Any, inputs: list[tuple[str, str]], class_names: list[str],
          label_col: str | None) -> Any:
    """The input's columns plus prediction, probability (array) and the class name, lazily."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F  # noqa: N812 - Spark's convention

    original = list(frame.columns)
    scored = pipeline.transform(frame.select(*cast_inputs(frame, inputs)))
    extra = [F.col("prediction")]
    if "probability" in scored.columns:
        extra.append(vector_to_array(F.col("probability")).alias("probability"))
    if label_col and class_names:
        names = F.create_map(*[F.lit(x) for i, n in enumerate(class_names) for x in (float(i), n)])
        extra.append(F.try_element_at(names, F.col("prediction")).alias(label_col))
    return scored.select(*[F.col(f"`{c}`") for c in original], *extra)


def cast_inputs(frame: Any, inputs: list[tuple[str, str]]) -> list[Any]:
    """Every column, the model's inputs cast to their signature types (numeric to numeric only).

    Raises RunnerError naming missing columns, or a text column where the model takes a number.
    """
    from pyspark.sql import functions as F  # noqa: N812

    types = dict(frame.dtypes)
    missing = [n for n, _ in inputs if n not in types]
    if missing:
        raise RunnerError(f"the input lacks column(s) {', '.join(missing)}; the model takes "
                          + ", ".join(f"{n} ({t})" for n, t in inputs))
    wanted = {n: SPARK_TYPES.get(t, t) for n, t in inputs}
    columns = []
    for name in frame.columns:
        have, want = types[name], wanted.get(name)
        if want is None or have == want:
            columns.append(F.col(f"`{name}`"))
        elif have.startswith(NUMERIC_SQL) and want in NUMERIC_SQL:
            columns.append(F.col(f"`{name}`").cast(want).alias(name))
        else:
            raise RunnerError(f"input column {name} is {have}; the model takes {want}")
    return columns


def write(scored: Any, output: str, output_format: str, mode: str) -> None:
    # "error" is the same mode; Spark Connect's writer accepts only that spelling of it
    mode = "error" if mode == "errorifexists" else mode
    try:
        scored.write.format(output_format).mode(mode).save(output)
    except Exception as exc:  # AnalysisException (path exists) or the model rejecting rows
        raise RunnerError(f"predict.output={output}: {spark_reason(exc)}") from exc


def _count(session: Any, p: Any) -> int | None:
    """Rows written, read back from the output's metadata (parquet and orc only: cheap there)."""
    if p.output_format not in ("parquet", "orc"):
        return None
    return int(session.read.format(p.output_format).load(p.output).count())


def _say(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()
