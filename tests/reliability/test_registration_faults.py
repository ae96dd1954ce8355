"""A model version is registered, and aliases move, only after its run ended FINISHED; a version
whose run did not finish (killed, failed) or that runner tagged ``runner.status=failed`` is
never resolved for ``runner serve`` / ``runner predict``: not by MLflow's path
(``tracking.resolve_model``), not by the sqlite fast path (``registry_sqlite``), not as
``latest`` nor as the champion, and never beaten-to by a promotion (issue 13).

The last test kills -9 a real ``runner`` process at the moment its progress line says the model
is logged, and checks nothing of that run is registered or resolved.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from runner import tracking
from runner.errors import RunnerError
from runner.tracking import registry_sqlite

NAME = "penguin-classifier"


@dataclass(frozen=True)
class Versions:
    uri: str
    good: str  # version 1: run FINISHED
    failed_run: str  # version 2: run FAILED
    killed_run: str  # version 3: run left RUNNING (a process killed before the run ended)
    tagged: str  # version 4: run FINISHED, tagged runner.status=failed


def _model_run(client, experiment: str, tmp: Path, status: str) -> str:  # type: ignore[no-untyped-def]
    """A run holding a model directory (an MLmodel naming the run), ended with ``status``."""
    run_id = client.create_run(experiment).info.run_id
    model = tmp / run_id
    model.mkdir()
    (model / "MLmodel").write_text(f"artifact_path: model\nflavors: {{}}\nrun_id: {run_id}\n")
    client.log_artifacts(run_id, str(model), tracking.MODEL_ARTIFACT)
    if status != "RUNNING":
        client.set_terminated(run_id, status)
    return run_id


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> Versions:
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("registration")
    uri = tracking.use_store(f"sqlite:///{root / 'mlflow.db'}", writes=True)
    client = MlflowClient(uri)
    experiment = client.create_experiment("faults", artifact_location=f"file://{root}/art")
    client.create_registered_model(NAME)
    made = []
    for status in ("FINISHED", "FAILED", "RUNNING", "FINISHED"):
        run_id = _model_run(client, experiment, root, status)
        made.append(client.create_model_version(NAME, f"runs:/{run_id}/model",
                                                run_id=run_id).version)
    client.set_model_version_tag(NAME, made[3], tracking.STATUS_TAG, tracking.FAILED)
    return Versions(uri, *(str(v) for v in made))


def _both_paths(uri: str, model_uri: str | None) -> tuple[str | None, str | None]:
    """The version MLflow's path resolves and the one the sqlite fast path resolves (None: the
    fast path leaves it to MLflow)."""
    tracking.use_store(uri)
    slow = tracking.resolve_model(model_uri, NAME).version
    fast = registry_sqlite.find(uri, model_uri, NAME, tracking.CHAMPION_ALIAS)
    return slow, fast.version if fast else None


@pytest.mark.parametrize("bad", ["failed_run", "killed_run", "tagged"])
def test_the_default_model_skips_a_bad_champion_and_bad_latest(versions: Versions,
                                                               bad: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(versions.uri)
    client.set_registered_model_alias(NAME, tracking.CHAMPION_ALIAS, getattr(versions, bad))
    assert _both_paths(versions.uri, None) == (versions.good, versions.good)
    assert _both_paths(versions.uri, f"models:/{NAME}/latest") == (versions.good, versions.good)
    assert tracking.find_model(None, NAME, versions.uri).version == versions.good


@pytest.mark.parametrize("bad", ["failed_run", "killed_run", "tagged"])
def test_a_bad_version_asked_for_is_refused_in_one_line(versions: Versions, bad: str) -> None:
    from mlflow import MlflowClient

    number = getattr(versions, bad)
    MlflowClient(versions.uri).set_registered_model_alias(NAME, "shaky", number)
    for model_uri in (f"models:/{NAME}/{number}", f"models:/{NAME}@shaky"):
        assert registry_sqlite.find(versions.uri, model_uri, NAME, "champion") is None
        with pytest.raises(RunnerError, match="is not served") as error:
            tracking.find_model(model_uri, NAME, versions.uri)
        assert "\n" not in str(error.value)


def test_a_bad_champion_is_no_bar_for_promotion(versions: Versions) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(versions.uri)
    client.set_registered_model_alias(NAME, tracking.CHAMPION_ALIAS, versions.tagged)
    client.log_metric(client.get_model_version(NAME, versions.tagged).run_id, "accuracy", 1.0)
    client.log_metric(client.get_model_version(NAME, versions.good).run_id, "accuracy", 0.5)
    assert tracking.promote(NAME, versions.good, "accuracy", 0.5, 0.0) == "champion"


def test_register_refuses_a_run_that_did_not_finish(versions: Versions) -> None:
    from mlflow import MlflowClient

    run_id = MlflowClient(versions.uri).get_model_version(NAME, versions.killed_run).run_id
    logged = tracking.LoggedModel(f"runs:/{run_id}/model", NAME, None, run_id)
    with pytest.raises(RunnerError, match="is RUNNING: its model is not registered"):
        tracking.register(logged)


def test_a_run_that_fails_tags_what_was_registered_in_it(versions: Versions) -> None:
    """Another tool (or an older runner) registering inside the run: the run's failure marks
    the version, and resolution skips it."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(versions.uri)
    mlflow.set_experiment("faults")
    registered: list[str] = []

    def failing_run() -> None:
        with tracking.run("fails", {}) as run_id:
            mlflow.log_text("MLmodel", "model/MLmodel")
            registered.append(client.create_model_version(NAME, f"runs:/{run_id}/model",
                                                          run_id=run_id).version)
            raise ValueError("disk full")

    with pytest.raises(ValueError, match="disk full"):
        failing_run()
    tags = client.get_model_version(NAME, registered[0]).tags
    assert tags[tracking.STATUS_TAG] == tracking.FAILED
    assert _both_paths(versions.uri, f"models:/{NAME}/latest") == (versions.good, versions.good)


def _progress_line(proc: subprocess.Popen[str], wanted: str, limit_s: float) -> list[str]:
    """stderr lines up to the first containing ``wanted``; the process is killed after
    ``limit_s`` (a cold JVM on a loaded 2-core machine takes minutes), which ends the loop."""
    assert proc.stderr is not None
    seen: list[str] = []
    watchdog = threading.Timer(limit_s, proc.kill)
    watchdog.start()
    try:
        for line in proc.stderr:
            seen.append(line)
            if wanted in line:
                break
    finally:
        watchdog.cancel()
    return seen


@pytest.mark.slow
def test_a_runner_killed_after_logging_its_model_is_never_served(tmp_path: Path) -> None:
    """kill -9 of `runner` right after its "model logged" progress line (run still RUNNING):
    no version is registered from it; registered anyway (as runner used to, inside the run),
    it is skipped by both resolution paths and `runner serve` refuses it in one line."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    cli = str(Path(sys.executable).with_name("runner"))
    proc = subprocess.Popen(
        [cli, f"tracking.uri={uri}", "spark.master='local[2]'", "evaluation.train_metrics=false",
         "evaluation.confusion_matrix=false"],
        cwd=tmp_path, env=env, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        seen = _progress_line(proc, "model logged", 900)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert "model logged" in seen[-1], "".join(seen)
    with closing(sqlite3.connect(tmp_path / "mlflow.db")) as db:
        runs = db.execute("SELECT run_uuid, status FROM runs").fetchall()
        registered = db.execute("SELECT run_id FROM model_versions").fetchall()
    assert len(runs) == 1
    run_id, status = runs[0]
    assert status == "RUNNING"  # killed before the run could end
    assert registered == []  # and so before anything was registered
    tracking.use_store(uri)
    client = MlflowClient(uri)  # registered anyway, as runner used to (inside the run)
    client.create_registered_model(NAME)
    client.create_model_version(NAME, f"runs:/{run_id}/model", run_id=run_id)
    assert registry_sqlite.find(uri, None, NAME, tracking.CHAMPION_ALIAS) is None
    with pytest.raises(RunnerError, match="no servable versions"):
        tracking.find_model(None, NAME, uri)
    served = subprocess.run([cli, "serve", f"tracking.uri={uri}"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert served.returncode == 1, served.stderr
    assert served.stderr.strip().splitlines() == [served.stderr.strip()]
    assert "no servable versions" in served.stderr
