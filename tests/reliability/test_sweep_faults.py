"""Sweeps under faults: kill -9 at chosen points, two copies of one sweep, half-made storages and
studies, and the sweeper's own keys checked before the JVM (issue 13).

The kill points are real kill -9s of the real CLI process and its JVM, placed with
$RUNNER_TEST_KILL_AT, through the test-only hook on the sweep's milestones
(tests/reliability/kill_hook.py on runner.sweep.milestones); tests/reliability/killcheck.py kills
at random moments instead, from outside.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from hydra_plugins.runner_optuna_sweeper import lock
from hydra_plugins.runner_optuna_sweeper import space as space_mod
from hydra_plugins.runner_optuna_sweeper import storage as storage_mod
from hydra_plugins.runner_optuna_sweeper import study as study_mod
from runner.errors import RunnerError
from tests.conftest import make_config
from tests.reliability import kill_hook

SPARK = "spark.master='local[2]'"
SPACE = ["model.regParam=interval(0.001,1.0)", "model.maxIter=range(5,30)"]
TIMEOUT = 400


def _runner(tmp_path: Path, args: list[str], kill_at: str = "") -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
           **kill_hook.env(kill_at)}
    return subprocess.Popen([sys.executable, "-m", "runner.cli", "-m", *args], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # its own group: kill -9 takes the JVM too


def _run(tmp_path: Path, args: list[str], kill_at: str = "") -> subprocess.CompletedProcess:
    proc = _runner(tmp_path, args, kill_at)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out)


def _sweep_args(n_trials: int, *extra: str) -> list[str]:
    # one validation part, one fit a trial: these tests are about faults, not selection
    return ["hydra/sweeper=optuna", "hydra.sweeper.sampler.seed=3", "hydra.sweeper.n_jobs=1",
            f"hydra.sweeper.n_trials={n_trials}", SPARK, *SPACE, "data.split.validation=0.25",
            *extra]


def counts(tmp_path: Path, study_name: str = "runner") -> dict[str, int]:
    """What the stores hold after a sweep: Optuna's trial states, MLflow's runs by kind and
    status, registered versions."""
    import mlflow
    from mlflow import MlflowClient

    study = optuna.load_study(study_name=study_name,
                              storage=f"sqlite:///{tmp_path / 'outputs' / 'optuna.db'}")
    states = [t.state.name for t in study.trials]
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["runner"], output_format="list")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "runner.sweep.trial" in r.data.tags]  # not the refit
    versions = MlflowClient().search_model_versions("name = 'penguin-classifier'")
    return {"complete": states.count("COMPLETE"), "trials_running": states.count("RUNNING"),
            "parents": len(parents),
            "parents_finished": sum(p.info.status == "FINISHED" for p in parents),
            "children_finished": sum(c.info.status == "FINISHED" for c in children),
            "runs_running": sum(r.info.status == "RUNNING" for r in runs),
            "versions": len(versions)}


def test_sweeper_keys_and_direction_are_checked_before_the_jvm(tmp_path: Path) -> None:
    cases = {"hydra.sweeper.n_trials=0": "n_trials=0: must be at least 1",
             "hydra.sweeper.n_jobs=0": "n_jobs=0: must be at least 1",
             "hydra.sweeper.storage=notaurl://": "not a database URL SQLAlchemy can use",
             "hydra.sweeper.direction=minimize": "disagrees with evaluation.primary=accuracy"}
    procs = {bad: _runner(tmp_path, ["hydra/sweeper=optuna", SPARK, *SPACE, bad])
             for bad in cases}  # at once: each is a short Python process, no JVM
    for bad, expected in cases.items():
        out, _ = procs[bad].communicate(timeout=TIMEOUT)
        assert procs[bad].returncode == 1, out
        lines = out.strip().splitlines()
        assert len(lines) == 1, out
        assert expected in lines[0]
    assert not (tmp_path / "mlflow.db").exists()  # refused before MLflow and the JVM
    assert not (tmp_path / "outputs" / "optuna.db").exists()


_HOLDER = """
import sys, time
from hydra_plugins.runner_optuna_sweeper.lock import SweepLock
held = SweepLock(sys.argv[1], "s")
held.acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_a_second_sweep_of_a_study_is_refused_and_a_killed_owners_lock_taken_over(
        tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'o.db'}"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, storage], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunnerError) as refused:
            lock.SweepLock(storage, "s").acquire()
        assert f"pid {holder.pid} on " in str(refused.value)
        assert "being swept by another process" in str(refused.value)
        other = lock.SweepLock(storage, "other")
        other.acquire()  # another study of the storage may run
        other.release()
    finally:
        holder.kill()  # SIGKILL: no cleanup of its own
        holder.wait()
    mine = lock.SweepLock(storage, "s")
    mine.acquire()  # the dead owner's lock is taken over
    mine.release()


def _fingerprint(direction: str = "maximize") -> study_mod.Fingerprint:
    return study_mod.fingerprint(space_mod.parse(["model.regParam=interval(0.001,1.0)"]),
                                 make_config([]), direction)


def test_a_study_whose_setup_a_kill_cut_short_is_completed_by_the_same_command(
        tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'o.db'}"
    wanted = _fingerprint()
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    study.set_user_attr(study_mod.ATTR + "space", wanted.space)  # then kill -9
    resumed = study_mod.open_study(storage, "s", False, wanted)
    attrs = resumed.user_attrs
    assert all(attrs[k] == v for k, v in wanted.attrs().items())
    assert study_mod.UID_ATTR in attrs
    assert study_mod.open_study(storage, "s", False, wanted).user_attrs[study_mod.UID_ATTR] == \
        attrs[study_mod.UID_ATTR]  # the uid tagging the parent run stays


def test_a_storage_cut_short_before_it_held_a_study_is_moved_aside_and_created(
        tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\x07" * 100)  # a file begun, then killed
    storage = storage_mod.open_storage(f"sqlite:///{path}")
    assert optuna.get_all_study_names(storage) == []
    assert [p.name.startswith("o.db.broken-") for p in tmp_path.glob("o.db.broken-*")] == [True]


def test_a_storage_holding_studies_is_never_moved(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    optuna.create_study(study_name="kept", storage=f"sqlite:///{path}")
    storage = storage_mod.open_storage(f"sqlite:///{path}")
    assert optuna.get_all_study_names(storage) == ["kept"]
    assert not list(tmp_path.glob("o.db.broken-*"))


_CREATOR = """
import sys, time
from hydra_plugins.runner_optuna_sweeper.storage import open_storage
while time.time() < float(sys.argv[2]):
    time.sleep(0.005)
storage = open_storage(sys.argv[1])
import optuna
optuna.create_study(study_name=sys.argv[3], storage=storage)
"""


def test_processes_creating_one_storage_at_once_all_succeed(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'o.db'}"
    start = str(time.time() + 4)  # after every process has imported optuna
    procs = [subprocess.Popen([sys.executable, "-c", _CREATOR, storage, start, f"s{i}"],
                              stderr=subprocess.PIPE, text=True) for i in range(3)]
    errors = [p.communicate(timeout=TIMEOUT)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    assert sorted(optuna.get_all_study_names(storage)) == ["s0", "s1", "s2"]


@pytest.mark.slow
def test_kills_at_each_phase_then_the_same_command_ends_with_one_clean_sweep(
        tmp_path: Path) -> None:
    n_trials = 3
    args = _sweep_args(n_trials)
    # each phase kills the command once; the next run of the same command resumes
    for phase in ("storage+0.2", "study-setup", "parent-run", "trial-ended", "best-model"):
        killed = _run(tmp_path, args, kill_at=phase)
        assert killed.returncode == -signal.SIGKILL, f"{phase}: not killed\n{killed.stdout}"
    done = _run(tmp_path, args)
    assert done.returncode == 0, done.stdout
    assert counts(tmp_path) == {"complete": n_trials, "trials_running": 0, "parents": 1,
                                "parents_finished": 1, "children_finished": n_trials,
                                "runs_running": 0, "versions": 1}
    _assert_one_best(tmp_path)


def _assert_one_best(tmp_path: Path) -> None:
    """Optuna's best trial is the one runner logged on the parent and registered."""
    import mlflow
    from mlflow import MlflowClient

    study = optuna.load_study(study_name="runner",
                              storage=f"sqlite:///{tmp_path / 'outputs' / 'optuna.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["runner"], output_format="list")
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    best_run = study.best_trial.user_attrs["mlflow_run_id"]
    assert parent.data.tags["runner.sweep.best_run_id"] == best_run
    assert parent.data.metrics["best_val_accuracy"] == study.best_value
    champion = MlflowClient().get_model_version_by_alias("penguin-classifier", "champion")
    (refit,) = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == best_run
                and r.info.status == "FINISHED"]
    assert champion.run_id == refit.info.run_id  # the winner refit, nested in its trial


@pytest.mark.slow
def test_a_second_copy_is_refused_at_once_and_the_first_completes(tmp_path: Path) -> None:
    n_trials = 2
    args = _sweep_args(n_trials, "tracking.log_models=none")
    first = _runner(tmp_path, args)
    try:
        lock_file = tmp_path / "outputs" / "optuna.db.runner.sweep.lock"
        deadline = time.monotonic() + TIMEOUT
        while (not lock_file.exists() or not lock_file.read_text().strip()) and \
                first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert json.loads(lock_file.read_text())["pid"] == first.pid
        started = time.monotonic()
        second = _run(tmp_path, args)
        took = time.monotonic() - started
        out, _ = first.communicate(timeout=TIMEOUT)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert second.returncode == 1
    lines = second.stdout.strip().splitlines()
    assert len(lines) == 1, second.stdout
    assert f"being swept by another process (pid {first.pid} on " in lines[0]
    assert "hydra/sweeper=optuna" in lines[0]  # names the running command
    print(f"second copy refused after {took:.1f} s")  # noqa: T201 - shown with -s
    assert first.returncode == 0, out
    assert counts(tmp_path) == {"complete": n_trials, "trials_running": 0, "parents": 1,
                                "parents_finished": 1, "children_finished": n_trials,
                                "runs_running": 0, "versions": 0}


def test_heartbeat_lock_of_server_storages_refuses_a_live_owner_and_takes_over_a_stale_one(
        tmp_path: Path) -> None:
    import socket

    # the heartbeat is for storages with no lock file (PostgreSQL, MySQL); the study it beats in
    # is a sqlite one here, handed to a lock that is told its storage is a server's
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path / 'o.db'}")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = {"pid": other.pid, "host": socket.gethostname(), "since": "then",
                "command": "runner -m ...", "beat": time.time()}
        study.set_user_attr(lock.OWNER_ATTR, live)
        with pytest.raises(RunnerError, match=f"pid {other.pid} on "):
            lock.SweepLock("postgresql://db/optuna", "s").heartbeat(study)
        study.set_user_attr(lock.OWNER_ATTR, {**live, "beat": time.time() - 600})
        mine = lock.SweepLock("postgresql://db/optuna", "s")
        mine.heartbeat(study)  # a stale beat: taken over
        assert study.user_attrs[lock.OWNER_ATTR]["pid"] == os.getpid()
        mine.release()
    finally:
        other.kill()
        other.wait()
