"""A sweep in MLflow: its parent run (driven through MlflowClient, so it never sits on the fluent
active-run stack the trials use), its child runs (the trials), and what is logged into either
after the fact."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.errors import RunnerError
from runner.tracking import runs

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SWEEP_TAG = runs.TAG_PREFIX + "sweep."
TRIAL_STATE_TAG = runs.TRIAL_STATE_TAG


@dataclass(frozen=True)
class ChildRun:
    """A trial as MLflow recorded it."""

    run_id: str
    status: str
    metrics: dict[str, float]
    tags: dict[str, str]


def experiment_id(name: str) -> str:
    """Id of an experiment that ``configure`` has already created."""
    import mlflow

    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        raise RunnerError(f"tracking.experiment_name={name!r}: experiment not found")
    return str(experiment.experiment_id)


def start_parent(experiment: str, name: str, tags: dict[str, str]) -> str:
    """Create a sweep's parent run (RUNNING) and return its id."""
    from mlflow import MlflowClient

    return str(MlflowClient().create_run(experiment, tags=tags, run_name=name).info.run_id)


def find_parent(experiment: str, tag: str, value: str) -> str | None:
    """The newest top-level run of the experiment whose ``tag`` is ``value``, if any."""
    from mlflow import MlflowClient

    runs = MlflowClient().search_runs(
        [experiment], filter_string=f"tags.`{tag}` = '{value}'",
        order_by=["attributes.start_time DESC"], max_results=100)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    return str(parents[0].info.run_id) if parents else None


def set_statuses(statuses: dict[str, str]) -> None:
    """Run id -> FINISHED, FAILED or KILLED, for runs whose status must change."""
    from mlflow import MlflowClient

    client = MlflowClient()
    for run_id, status in statuses.items():
        client.set_terminated(run_id, status)


def mark_failed(run_id: str, error: str) -> None:
    """A run that ended FINISHED but whose trial failed (no usable value): FAILED, with why."""
    from mlflow import MlflowClient

    client = MlflowClient()
    client.set_tag(run_id, runs.ERROR_TAG, error[:5000])
    client.set_terminated(run_id, "FAILED")


def reopen_parent(run_id: str) -> bool:
    """Mark an interrupted parent run RUNNING again; False when the store does not have it."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        client.get_run(run_id)
    except MlflowException:
        return False
    client.update_run(run_id, status="RUNNING")
    return True


def log_to_run(
    run_id: str,
    params: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    """Params, metrics and tags in one ``log_batch`` call (params already logged are skipped)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.utils.time import get_current_time_millis

    client = MlflowClient()
    logged = client.get_run(run_id).data.params
    now = get_current_time_millis()
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()],
        params=[Param(k, str(v)[:6000]) for k, v in (params or {}).items() if k not in logged],
        tags=[RunTag(k, str(v)[:5000]) for k, v in (tags or {}).items()],
    )


def log_run_text(run_id: str, text: str, path: str) -> None:
    from mlflow import MlflowClient

    MlflowClient().log_text(run_id, text, path)


def log_run_figure(run_id: str, fig: Figure, path: str) -> None:
    from mlflow import MlflowClient

    MlflowClient().log_figure(run_id, fig, path)


def end_parent(run_id: str, status: str) -> None:
    """FINISHED, FAILED or KILLED."""
    from mlflow import MlflowClient

    MlflowClient().set_terminated(run_id, status)


def child_runs(experiment: str, parent_run_id: str) -> list[ChildRun]:
    """Every run whose ``mlflow.parentRunId`` is the given parent, oldest first."""
    from mlflow import MlflowClient

    runs = MlflowClient().search_runs(
        [experiment],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
        max_results=50000,
        order_by=["attributes.start_time ASC"],
    )
    return [
        ChildRun(r.info.run_id, r.info.status, dict(r.data.metrics), dict(r.data.tags))
        for r in runs
    ]


def kill_running(runs: list[ChildRun]) -> int:
    """Mark runs an interruption left RUNNING as KILLED; return how many there were."""
    from mlflow import MlflowClient

    running = [r for r in runs if r.status == "RUNNING"]
    for r in running:
        MlflowClient().set_terminated(r.run_id, "KILLED")
    return len(running)


@contextmanager
def reopened(run_id: str) -> Iterator[None]:
    """Make a finished run active again (to log the sweep's best model into it), then finish it."""
    import mlflow

    mlflow.start_run(run_id=run_id)
    try:
        yield
    finally:
        mlflow.end_run("FINISHED")


def registered_version(name: str, run_id: str) -> str | None:
    """The version of ``name`` registered from this run, if any."""
    from mlflow import MlflowClient

    versions = MlflowClient().search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    return str(versions[0].version) if versions else None
