"""The fitted model in MLflow: its signature, logged into the active run with runner's flavor
(``runner.tracking.flavor``), and registered once its run has ended FINISHED."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from runner import console
from runner.compat import mlflow as mlflow_compat
from runner.config.types import MLFLOW_NUMERIC, MLFLOW_TYPES
from runner.errors import RunnerError
from runner.tracking import runs

# MLmodel metadata key: the declared type of each input the signature declares ``any``
DECLARED_TYPES_KEY = "declared_input_types"
# what MLflow prints as it registers: runner says "registered: <name> version <n>" itself
_REGISTRATION = re.compile(r"Successfully registered model |Registered model .* already exists|"
                           r"Created version ")


@dataclass(frozen=True)
class LoggedModel:
    uri: str
    registered_name: str | None
    version: str | None  # set by ``register``, once the run has ended FINISHED
    run_id: str | None = None


def signature(schema: dict[str, str], label: str) -> Any:
    """Model signature: one input column per feature, prediction out.

    Numeric features are declared ``any``, the one declaration under which MLflow's clients
    take the lab's ints: MLflow 3.17's schema enforcement (``_enforce_mlflow_datatype``)
    converts an int column to ``double`` only when its dtype has at most 6 bytes (pandas' int64,
    what ``pd.DataFrame([{"FlipperLength": 210}])``, ``read_csv`` and JSON give, only if every
    value is 0 or 1), and converts a float64 column to no integer type, so no typed column takes
    both 210 and 48.7. The scorer, like the Spark pipeline, casts numbers to the declared type
    and rejects what is not a number; the declared types stay in the MLmodel's metadata
    (``declared_input_types``), where ``model_inputs`` reads them.
    """
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import AnyType

    inputs: list[Any] = [
        ColSpec(AnyType() if kind in MLFLOW_NUMERIC else kind, name)
        for name, kind in declared_input_types(schema, label).items()
    ]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema([ColSpec("double", "prediction")]))


def declared_input_types(schema: dict[str, str], label: str | None = None) -> dict[str, str]:
    """Feature column -> MLflow type name of its declared Spark SQL type (``data.schema``)."""
    return {c: MLFLOW_TYPES.get(t.lower(), "string") for c, t in schema.items() if c != label}


def warm_up_model_logging() -> None:
    """Build now what MLflow builds when the first model is logged (~0.25 s): call it where it
    is off the critical path."""
    mlflow_compat.warm_requirements_map()


def log_model(
    model: Any,
    model_signature: Any,
    registered_name: str | None,
    input_schema: dict[str, str],
    class_names: list[str] | None = None,
    input_example: Any = None,
) -> LoggedModel:
    """Log the fitted PipelineModel into the active run. It is not registered yet: ``register``
    does that once the run has ended FINISHED, so no version ever points at an unfinished run.

    The MLmodel keeps the spark flavor (``mlflow.spark.load_model`` gives the PipelineModel) and
    its python_function flavor is the JVM-free compiled scorer (runner.compiled), unless a stage
    cannot be compiled: then it stays MLflow's Spark-backed one.

    Model.log, as mlflow.spark.log_model for local stores: an MLflow 3 LoggedModel (model_id in
    the MLmodel, in logged-models/search, linked to the run's metrics logged so far and to its
    params), its files under the logged model's artifact location; runs:/<id>/model resolves to
    them through MLflow, and runner's sqlite reader defers to MLflow for such URIs.

    Args:
        input_schema: raw input column -> Spark SQL type (``data.schema`` without the label).
        class_names: the name of each class index, returned as ``label`` by the compiled pyfunc.
        input_example: a few input rows (pandas DataFrame) saved as the model's input example.
    """
    from mlflow.models import Model

    from runner.tracking import flavor

    with runs.store_lock:  # registering creates the registered model on first use: as racy
        info = Model.log(
            None,  # artifact_path: deprecated for name
            flavor,
            name=runs.MODEL_ARTIFACT,
            spark_model=model,
            input_schema=dict(input_schema),
            class_names=list(class_names) if class_names else None,
            signature=_with_params(model_signature),
            pip_requirements=_pip_requirements(),
            metadata={DECLARED_TYPES_KEY: declared_input_types(input_schema)},
            input_example=input_example,
            validate_serving_input=False,  # the flavor checks the example
        )
    return LoggedModel(info.model_uri, registered_name, None, info.run_id)


def _pip_requirements() -> list[str]:
    """Pinned explicitly: inferring them starts a second JVM and costs ~20 s per model."""
    import mlflow
    import pyspark

    return [f"pyspark=={pyspark.__version__}", f"mlflow=={mlflow.__version__}", "pandas<3"]


def _with_params(model_signature: Any) -> Any:
    """The signature plus the compiled pyfunc's ``probabilities`` flag, so that MLflow's scoring
    server passes it through."""
    from mlflow.models import ModelSignature
    from mlflow.types import ParamSchema, ParamSpec

    from runner.compiled.pyfunc import PROBABILITIES_PARAM

    return ModelSignature(
        model_signature.inputs,
        model_signature.outputs,
        ParamSchema([ParamSpec(PROBABILITIES_PARAM, "boolean", False)]),
    )


def register(logged: LoggedModel) -> LoggedModel:
    """Register a logged model under its name, now that its run has ended FINISHED (a run that
    did not is refused: it may lack what it was to log). No name: returned as it is."""
    import mlflow
    from mlflow import MlflowClient

    if not logged.registered_name or not logged.run_id:
        return logged
    status = MlflowClient().get_run(logged.run_id).info.status
    if status != "FINISHED":
        raise RunnerError(f"run {logged.run_id} is {status}: its model is not registered")
    with runs.store_lock:  # the registered model is created on first use: racy across threads
        # an MLflow 3 logged model is registered by its own URI (models:/m-...): through
        # runs:/<id>/model MLflow finds no run artifact and warns before doing the same
        source = (logged.uri if logged.uri.startswith("models:/")
                  else f"runs:/{logged.run_id}/{runs.MODEL_ARTIFACT}")
        with mlflow_compat.event_lines_to(_registration_line):
            version = mlflow.register_model(source, logged.registered_name).version
    return LoggedModel(logged.uri, logged.registered_name, str(version), logged.run_id)


def _registration_line(line: str) -> None:
    """A line MLflow printed while registering: its registration notes to the job log only,
    anything else (a warning) to the console as MLflow meant."""
    if _REGISTRATION.match(line):
        console.to_job_log(line)
    else:
        console.say(line)
