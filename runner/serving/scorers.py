"""The two ``Scorer`` implementations behind the server, and the choice between them.

``compiled``: the JVM-free numpy scorer that ``runner.compiled`` saves in the MLflow model as its
``python_function`` flavor (``runner.compiled.LOADER_MODULES``); microseconds per request.
``spark``: the model's spark flavor on a local SparkSession; a JVM and ~100 ms per request, kept
as the fallback for models without the compiled scorer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from runner import tracking
from runner.compiled import LOADER_MODULES, CompiledPipeline, ScoringError
from runner.config.types import SPARK_TYPES


@dataclass
class Choice:
    """The scorer chosen for a model and why."""

    scorer: CompiledScorer | SparkScorer
    note: str


def choose(local_path: str, inputs: list[tuple[str, str]], spark_cfg: Any) -> Choice:
    """The compiled scorer when the model carries one, else Spark."""
    compiled_dir, why_not = compiled_location(local_path)
    if compiled_dir is not None:
        return Choice(CompiledScorer.load(compiled_dir), "compiled numpy scorer, no JVM")
    return Choice(SparkScorer.load(local_path, inputs, spark_cfg), f"Spark fallback: {why_not}")


def compiled_location(local_path: str) -> tuple[str | None, str]:
    """(directory of the compiled scorer, "") or (None, why the model has none)."""
    pyfunc = tracking.model_flavors(local_path).get("python_function", {})
    if pyfunc.get("loader_module") not in LOADER_MODULES:
        loader = pyfunc.get("loader_module", "none")
        return None, f"the model has no compiled scorer (python_function loader is {loader})"
    data = pyfunc.get("data") or pyfunc.get("model_path") or ""
    return os.path.join(local_path, data), ""


class CompiledScorer:
    """Adapter over ``runner.compiled.CompiledPipeline``."""

    kind = "compiled"

    def __init__(self, pipeline: CompiledPipeline) -> None:
        self.pipeline = pipeline
        self.class_names: list[str] = list(pipeline.class_names or [])  # saved with the scorer

    @classmethod
    def load(cls, directory: str) -> CompiledScorer:
        return cls(CompiledPipeline.load(directory))

    def predict_columns(self, columns: dict[str, Any]) -> dict[str, np.ndarray]:
        return dict(self.pipeline.predict_columns(columns))


class SparkRejected(ScoringError):
    """Rows the Spark scorer rejects, with Spark's own reason (``Unseen label: X``) as the message.

    A subclass only for its constructor: Spark names the column and value inside its text, not
    as fields, so there is no column, value or row to give ``ScoringError``'s own."""

    def __init__(self, reason: str) -> None:
        ValueError.__init__(self, reason)
        self.column, self.value, self.reason, self.row = "", None, reason, None


class SparkScorer:
    """The spark flavor on a local SparkSession: one small DataFrame per request."""

    kind = "spark"
    class_names: list[str] = []  # the spark flavor does not carry them

    def __init__(self, model: Any, session: Any, inputs: list[tuple[str, str]]) -> None:
        self.model, self.session, self.inputs = model, session, inputs
        self.schema = ", ".join(f"`{n}` {SPARK_TYPES.get(t, 'string')}" for n, t in inputs)

    @classmethod
    def load(cls, local_path: str, inputs: list[tuple[str, str]], spark_cfg: Any) -> SparkScorer:
        from runner import spark

        session = spark.get_session(spark_cfg)
        return cls(tracking.load_spark_model(local_path), session, inputs)

    def predict_columns(self, columns: dict[str, Any]) -> dict[str, np.ndarray]:
        names = [n for n, _ in self.inputs]
        rows = list(zip(*(_plain(columns[n]) for n in names), strict=True))
        frame = self.session.createDataFrame(rows, self.schema)
        out = self.model.transform(frame)
        wanted = [c for c in ("prediction", "probability", "rawPrediction") if c in out.columns]
        try:
            result = out.select(*wanted).collect()
        except Exception as exc:  # the rows were schema-checked already: Spark rejects the data
            raise SparkRejected(spark_reason(exc)) from exc
        return {c: np.array([_value(r[c]) for r in result], dtype=np.float64) for c in wanted}


def _plain(values: Any) -> list[Any]:
    """numpy values -> Python values Spark accepts (NaN stays a float NaN)."""
    return np.asarray(values).tolist()


def _value(v: Any) -> Any:
    return v.toArray() if hasattr(v, "toArray") else v


def spark_reason(exc: Exception) -> str:
    """Spark's own reason (``Unseen label: X``), without the Java trace and error-class wrapping."""
    text = str(exc)
    marker = "SparkException: "
    if marker in text:
        reason = text.rsplit(marker, 1)[1].splitlines()[0]
        return reason.split(" SQLSTATE:", 1)[0].strip().rstrip(".")[:500]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:500]
