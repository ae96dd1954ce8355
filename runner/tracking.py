"""The one module that talks to MLflow: store, runs, params, metrics, artifacts, models, registry."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner import __version__
from runner.errors import RunnerError

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from pyspark.sql import DataFrame

    from runner.data import Dataset

DEFAULT_STORE = os.path.join("outputs", "mlflow.db")
CONFIG_ARTIFACT = "config.yaml"
OVERRIDES_ARTIFACT = "overrides.yaml"
MODEL_ARTIFACT = "model"
TAG_PREFIX = "runner."

# MLflow type names for Spark SQL types in data.schema
_SIGNATURE_TYPES = {
    "string": "string", "double": "double", "float": "float", "int": "long", "integer": "long",
    "bigint": "long", "long": "long", "smallint": "long", "tinyint": "long", "boolean": "boolean",
}


def resolve_uri(uri: str | None) -> str:
    """``tracking.uri`` if set, else $MLFLOW_TRACKING_URI, else the embedded sqlite store."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{os.path.abspath(DEFAULT_STORE)}"


def configure(cfg: Any) -> str:
    """Point MLflow at the store and experiment of a ``tracking`` config; return the store URI."""
    import mlflow

    for noisy in ("alembic", "mlflow.store", "mlflow.tracking"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    uri = resolve_uri(cfg.uri)
    if uri.startswith("sqlite:///"):
        os.makedirs(os.path.dirname(uri[len("sqlite:///"):]) or ".", exist_ok=True)
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.get_experiment_by_name(cfg.experiment_name)
        if experiment is None:
            mlflow.create_experiment(cfg.experiment_name, artifact_location=_artifact_root(uri, cfg))
        mlflow.set_experiment(cfg.experiment_name)
    except Exception as exc:
        raise RunnerError(f"tracking.uri={uri}: cannot use the MLflow store: {_first_line(exc)}") from exc
    return uri


def _artifact_root(uri: str, cfg: Any) -> str | None:
    """Keep the embedded store's artifacts beside its database instead of in ./mlruns."""
    if not uri.startswith("sqlite:///"):
        return None
    root = os.path.join(os.path.dirname(uri[len("sqlite:///"):]), "mlartifacts")
    return "file://" + os.path.join(root, cfg.experiment_name)


@contextmanager
def run(name: str | None, tags: dict[str, str], parent_run_id: str | None = None) -> Iterator[str]:
    """Start an MLflow run and always end it: FINISHED, FAILED (error kept as a tag) or KILLED."""
    import mlflow

    all_tags = {**tags, **({"mlflow.parentRunId": parent_run_id} if parent_run_id else {})}
    active = mlflow.start_run(run_name=name, tags=all_tags, nested=parent_run_id is not None)
    try:
        yield active.info.run_id
    except KeyboardInterrupt:
        mlflow.end_run("KILLED")
        raise
    except BaseException as exc:
        mlflow.set_tag(TAG_PREFIX + "error", f"{type(exc).__name__}: {_first_line(exc)}"[:5000])
        mlflow.end_run("FAILED")
        raise
    mlflow.end_run("FINISHED")


def standard_tags(spark_master: str) -> dict[str, str]:
    """Provenance tags: runner and library versions, Spark master, git commit and dirty flag."""
    import mlflow
    import pyspark

    tags = {
        TAG_PREFIX + "version": __version__,
        TAG_PREFIX + "pyspark_version": pyspark.__version__,
        TAG_PREFIX + "mlflow_version": mlflow.__version__,
        TAG_PREFIX + "spark_master": spark_master,
    }
    commit = _git("rev-parse", "HEAD")
    if commit:
        tags["mlflow.source.git.commit"] = commit
        tags[TAG_PREFIX + "git_dirty"] = str(bool(_git("status", "--porcelain"))).lower()
    return tags


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def log_config(resolved_yaml: str, overrides: list[str]) -> None:
    """The resolved config and the command-line overrides, as YAML artifacts."""
    import mlflow
    import yaml

    mlflow.log_text(resolved_yaml, CONFIG_ARTIFACT)
    mlflow.log_text(yaml.safe_dump(list(overrides)), OVERRIDES_ARTIFACT)


def log_params(params: dict[str, Any]) -> None:
    import mlflow

    mlflow.log_params({k: str(v)[:6000] for k, v in params.items()})


def log_metrics(values: dict[str, float]) -> None:
    import mlflow

    mlflow.log_metrics(values)


def log_figure(fig: Figure, name: str) -> None:
    import mlflow

    mlflow.log_figure(fig, name)


def log_dataset(df: DataFrame, data: Dataset, name: str) -> None:
    """The data set as a run input: source path, digest of the typed rows, schema, targets."""
    import mlflow

    dataset = mlflow.data.from_spark(df, path=data.path, name=name, digest=data.digest, targets=data.label)
    mlflow.log_input(dataset, context="training")


def signature(schema: dict[str, str], label: str) -> Any:
    """Model signature: one input column per feature with its declared type, prediction out."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = [ColSpec(_SIGNATURE_TYPES.get(t.lower(), "string"), c) for c, t in schema.items() if c != label]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema([ColSpec("double", "prediction")]))


def _pip_requirements() -> list[str]:
    """Pinned explicitly: inferring them starts a second JVM and costs ~20 s per model."""
    import mlflow
    import pyspark

    return [f"pyspark=={pyspark.__version__}", f"mlflow=={mlflow.__version__}", "pandas<3"]


@dataclass(frozen=True)
class LoggedModel:
    uri: str
    registered_name: str | None
    version: str | None


def log_model(model: Any, model_signature: Any, registered_name: str | None) -> LoggedModel:
    """Log the fitted PipelineModel (spark flavor) and register it when a name is given."""
    import mlflow.spark

    info = mlflow.spark.log_model(
        model, MODEL_ARTIFACT, signature=model_signature, pip_requirements=_pip_requirements(),
        registered_model_name=registered_name,
    )
    version = info.registered_model_version
    return LoggedModel(info.model_uri, registered_name, str(version) if version else None)


@dataclass(frozen=True)
class LoggedRun:
    """What ``runner reproduce`` needs from a past run."""

    run_id: str
    config_yaml: str
    overrides: list[str]
    metrics: dict[str, float]
    tags: dict[str, str]
    dataset_digests: list[str]


def fetch_run(run_id: str) -> LoggedRun:
    """Read a run's logged config, overrides, metrics, tags and input digests."""
    import mlflow
    import yaml
    from mlflow.exceptions import MlflowException

    try:
        found = mlflow.get_run(run_id)
        config_yaml = mlflow.artifacts.load_text(f"runs:/{run_id}/{CONFIG_ARTIFACT}")
        overrides = yaml.safe_load(mlflow.artifacts.load_text(f"runs:/{run_id}/{OVERRIDES_ARTIFACT}"))
    except MlflowException as exc:
        raise RunnerError(f"run {run_id}: {_first_line(exc)} (is tracking.uri the store it was logged to?)") from exc
    inputs = found.inputs.dataset_inputs if found.inputs else []
    return LoggedRun(
        run_id=run_id, config_yaml=config_yaml, overrides=list(overrides or []),
        metrics=dict(found.data.metrics), tags=dict(found.data.tags),
        dataset_digests=[i.dataset.digest for i in inputs],
    )


def ui_command(uri: str) -> str:
    """The shell command that opens the MLflow UI on this store."""
    return f"mlflow ui --backend-store-uri {uri}" if not uri.startswith("http") else f"open {uri}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
