"""Reading back what was logged: a run's config, overrides, metrics and tags, and a model
directory's MLmodel (inputs, flavors), the latter as plain YAML, without importing MLflow."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from runner.errors import RunnerError, first_line
from runner.tracking import models, runs


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
        config_yaml = _load_text(run_id, runs.CONFIG_ARTIFACT)
        overrides = yaml.safe_load(_load_text(run_id, runs.OVERRIDES_ARTIFACT))
    except MlflowException as exc:
        raise RunnerError(
            f"run {run_id}: {first_line(exc)} (is tracking.uri the store it was logged to?)"
        ) from exc
    inputs = found.inputs.dataset_inputs if found.inputs else []
    return LoggedRun(
        run_id=run_id,
        config_yaml=config_yaml,
        overrides=list(overrides or []),
        metrics=dict(found.data.metrics),
        tags=dict(found.data.tags),
        dataset_digests=[i.dataset.digest for i in inputs],
    )


def run_config(run_id: str | None, artifact_uri: str | None = None) -> dict[str, Any]:
    """A run's logged config (``config.yaml``) as plain data; empty when the run or config is
    absent (a model logged outside runner). ``artifact_uri``: the run's, when the caller has
    read the run: a local one is read in place, with no download."""
    import yaml

    if not run_id:
        return {}
    try:
        local = _local_artifact(artifact_uri, runs.CONFIG_ARTIFACT)
        if local is not None:
            with open(local, encoding="utf-8") as f:
                config = yaml.safe_load(f)
        else:
            config = yaml.safe_load(_load_text(run_id, runs.CONFIG_ARTIFACT))
    except Exception:  # a model logged outside runner has no config: what it gives is optional
        return {}
    return config if isinstance(config, dict) else {}


def run_class_names(run_id: str | None) -> list[str]:
    """``data.class_names`` from a run's logged config; empty when the run or config is absent."""
    return [str(c) for c in (run_config(run_id).get("data") or {}).get("class_names") or []]


def _local_artifact(artifact_uri: str | None, artifact: str) -> str | None:
    """The file of a run's artifact in a local artifact store (``file://`` or a plain path),
    when it is there; None otherwise (a server's store: MLflow downloads it)."""
    from urllib.parse import unquote, urlparse

    if not artifact_uri:
        return None
    parts = urlparse(artifact_uri)
    if parts.scheme not in ("", "file") or parts.netloc not in ("", "localhost"):
        return None
    path = os.path.join(unquote(parts.path), artifact)
    return path if os.path.isfile(path) else None


def _load_text(run_id: str, artifact: str) -> str:
    """A small text artifact of a run, read without MLflow's progress bar (``quiet_downloads``)."""
    import mlflow

    quiet_downloads()
    return str(mlflow.artifacts.load_text(f"runs:/{run_id}/{artifact}"))


def quiet_downloads() -> None:
    """No "Downloading artifacts" progress bars (MLflow draws one per download, on stderr) for
    runner's own reads: a promotion reading the champion's config printed one per read. Set in
    runner's process environment only (MLflow reads it at each download), and only where the
    user has not chosen."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def mlmodel(local_path: str) -> dict[str, Any]:
    """A model directory's MLmodel file, read as the YAML it is: serving a model needs its
    flavors, signature and run id, not MLflow (whose import alone takes over a second)."""
    import yaml

    try:
        with open(os.path.join(local_path, "MLmodel")) as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as exc:
        raise RunnerError(f"model at {local_path}: cannot read its MLmodel: {exc}") from exc
    if not isinstance(doc, dict):
        raise RunnerError(f"model at {local_path}: its MLmodel is not a mapping")
    return doc


def model_inputs(local_path: str) -> list[tuple[str, str]]:
    """The model signature's input columns as (name, MLflow type name); empty without one (or
    with a tensor signature). MLflow stores the column specs as a JSON string."""
    import json

    found = mlmodel(local_path)
    text = (found.get("signature") or {}).get("inputs")
    specs = json.loads(text) if text else []
    if not specs or any("name" not in spec or spec.get("type") == "tensor" for spec in specs):
        return []
    # the declared type of each column the signature declares ``any``
    declared = (found.get("metadata") or {}).get(models.DECLARED_TYPES_KEY) or {}
    return [(str(spec["name"]), str(declared.get(spec["name"], spec["type"])
                                    if spec["type"] == "any" else spec["type"]))
            for spec in specs]


def model_flavors(local_path: str) -> dict[str, dict[str, Any]]:
    """The MLmodel's flavors, by name, with their settings (loader_module, data, ...)."""
    return dict(mlmodel(local_path).get("flavors") or {})
