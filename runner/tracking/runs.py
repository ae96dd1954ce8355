"""A training run in MLflow: started and always ended, tagged with its provenance, and what it
logs while it is the active run (config, params, metrics, figures, its data set)."""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from runner import __version__
from runner.config.types import MLFLOW_TYPES
from runner.errors import TrialPruned, first_line
from runner.tracking import registry_sqlite

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from runner.data.dataset import Dataset

CONFIG_ARTIFACT = "config.yaml"
OVERRIDES_ARTIFACT = "overrides.yaml"
MODEL_ARTIFACT = "model"
TAG_PREFIX = "runner."
ERROR_TAG = TAG_PREFIX + "error"
# A sweep trial's state where the run's status cannot say it: PRUNED (the run ends KILLED)
TRIAL_STATE_TAG = TAG_PREFIX + "sweep.state"
# A model version tagged runner.status=failed (or whose run is not FINISHED) is never served,
# promoted or picked as latest
STATUS_TAG, FAILED = registry_sqlite.STATUS_TAG, registry_sqlite.FAILED
# True process state: sweep trials may run in threads of one process (hydra.sweeper.n_jobs), and
# MLflow's own get-or-create steps (a data set, a registered model) are not atomic: two threads
# doing one at once fail on a unique key. Every such step of runner's takes this lock.
store_lock = threading.Lock()


@contextmanager
def run(name: str | None, tags: dict[str, str], parent_run_id: str | None = None) -> Iterator[str]:
    """Start an MLflow run and always end it: FINISHED, FAILED (error kept as a tag) or KILLED
    (interrupted, or a sweep trial its pruner stopped: tagged ``runner.sweep.state=PRUNED``)."""
    import mlflow

    all_tags = {**tags, **({"mlflow.parentRunId": parent_run_id} if parent_run_id else {})}
    active = mlflow.start_run(run_name=name, tags=all_tags, nested=parent_run_id is not None)
    try:
        yield active.info.run_id
    except KeyboardInterrupt:
        mlflow.end_run("KILLED")
        raise
    except TrialPruned:
        mlflow.set_tag(TRIAL_STATE_TAG, "PRUNED")
        mlflow.end_run("KILLED")
        raise
    except BaseException as exc:
        mlflow.set_tag(ERROR_TAG, f"{type(exc).__name__}: {first_line(exc)}"[:5000])
        mlflow.end_run("FAILED")
        _mark_failed_versions(active.info.run_id)
        raise
    mlflow.end_run("FINISHED")


def _mark_failed_versions(run_id: str) -> None:
    """Tag ``runner.status=failed`` on any version registered from a run that then failed (runner
    registers after the run ends; this covers versions other code registered during it)."""
    from mlflow import MlflowClient

    try:
        client = MlflowClient()
        for version in client.search_model_versions(f"run_id = '{run_id}'"):
            client.set_model_version_tag(version.name, version.version, STATUS_TAG, FAILED)
    except Exception:  # the run's own error is the one to report
        logging.getLogger(__name__).warning("could not mark versions of failed run %s", run_id)


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
    return {**tags, **_git_tags(os.getcwd())}


# A true process cache: read once per process and directory, the trials of a sweep share it,
# and the outputs they write cannot make the sweep dirty
@functools.cache
def _git_tags(cwd: str) -> dict[str, str]:
    """Commit and dirty flag of the repository at ``cwd``."""
    commit = _git("rev-parse", "HEAD")
    if not commit:
        return {}
    dirty = str(bool(_git("status", "--porcelain"))).lower()
    return {"mlflow.source.git.commit": commit, TAG_PREFIX + "git_dirty": dirty}


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


def log_dataset(data: Dataset, name: str, schema: dict[str, str]) -> None:
    """The data set as a run input: source path, digest of the typed rows, declared schema.

    Built from what runner already computed, so logging it costs no Spark job.
    """
    import mlflow
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.data.spark_dataset_source import SparkDatasetSource
    from mlflow.types import ColSpec, Schema

    columns = Schema(
        [ColSpec(MLFLOW_TYPES.get(t.lower(), "string"), c) for c, t in schema.items()]
    )
    dataset = MetaDataset(  # type: ignore[abstract]  # profile is optional at runtime
        SparkDatasetSource(path=data.path), name=name, digest=data.digest, schema=columns
    )
    with store_lock:  # the store looks the data set up, then inserts it: racy across threads
        mlflow.log_input(dataset, context="training")
