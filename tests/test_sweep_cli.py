"""End-to-end sweeps: the real ``runner -m`` in a subprocess, a real Optuna sqlite storage and a
real MLflow sqlite store, counted afterwards."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import optuna
import pytest

from runner import data as data_mod
from runner import spark as spark_mod
from runner import train
from runner.context import RunContext

pytestmark = pytest.mark.slow

SPARK = "spark.master='local[2]'"
SPACE = ["model.regParam=interval(0.001,1.0)", "model.maxIter=range(5,30)",
         "model.elasticNetParam=choice(0.0,0.5,1.0)"]
OPTUNA = ["hydra/sweeper=optuna", "hydra.sweeper.sampler.seed=7", SPARK, *SPACE]
TIMEOUT = 400


def _runner(tmp_path: Path, args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    return subprocess.Popen([sys.executable, "-m", "runner.cli", "-m", *args], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # its own group: kill -9 takes the JVM too


def _run(tmp_path: Path, args: list[str]) -> subprocess.CompletedProcess:
    proc = _runner(tmp_path, args)
    out, _ = proc.communicate(timeout=TIMEOUT)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out)


def _runs(tmp_path: Path) -> list:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return mlflow.search_runs(experiment_names=["runner"], output_format="list")


def _split(runs: list) -> tuple[list, list]:
    """The parent runs and the trials' runs (not the winner's refit, nested in its trial)."""
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "runner.sweep.trial" in r.data.tags]
    return parents, children


def _refit(runs: list, trial_run_id: str):
    """The refit of the trial ``trial_run_id``: the one run nested under it."""
    (refit,) = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == trial_run_id]
    return refit


def _artifacts(run_id: str) -> set[str]:
    from mlflow import MlflowClient

    return {a.path for a in MlflowClient().list_artifacts(run_id)}


def _models(run_id: str) -> list[str]:
    """Names of the MLflow 3 logged models a run produced (their files are not run artifacts)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    experiment = client.get_run(run_id).info.experiment_id
    found = client.search_logged_models([experiment],
                                        filter_string=f"source_run_id = '{run_id}'")
    return [m.name for m in found]


def _assert_trial_logs(tmp_path: Path, scored_on: str, n_trials: int, console: str) -> None:
    """Each trial's own ``runner.log`` (Hydra's job dir) holds that trial's progress lines once
    (issue #15's leftover: trials one at a time, Hydra's per-job logging, and in threads, the
    sweeper's ThreadJobLogs); the console keeps one line per trial."""
    logs = sorted((tmp_path / "outputs" / "multirun").glob("*/*/[0-9]*/runner.log"))
    assert [log.parent.name for log in logs] == [str(n) for n in range(n_trials)], console
    for log in logs:
        # the trial's own lines: up to its progress line (Hydra's basic sweeper leaves the last
        # job's log open, so the refit's lines follow there)
        text = log.read_text().split("[sweep] trial ")[0]
        for step in ("Spark session, MLflow store and data ready:", f"scored on {scored_on} ("):
            assert text.count(f"runner: {step}") == 1, f"{log}:\n{log.read_text()}"
    assert "runner: scored on" not in console


def test_grid_sweep_selects_on_validation_and_registers_the_refit_winner(
        tmp_path: Path) -> None:
    done = _run(tmp_path, ["model.regParam=0.01,0.5", "model.maxIter=5", SPARK])
    assert done.returncode == 0, done.stdout
    assert "[sweep] trial 2/2" in done.stdout
    _assert_trial_logs(tmp_path, "3-fold cross-validation", 2, done.stdout)
    runs = _runs(tmp_path)
    parents, children = _split(runs)
    assert len(parents) == 1
    assert len(children) == 2
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    # trials: validation figures only, the test split untouched
    assert all(c.info.status == "FINISHED" and "val_accuracy_fold_2" in c.data.metrics
               and "accuracy" not in c.data.metrics for c in children)
    assert parent.data.params["sweep.model.regParam"] == "0.01,0.5"
    assert {"trials.csv", "optimization_history.png", "config.yaml"} <= _artifacts(
        parent.info.run_id)
    best = parent.data.tags["runner.sweep.best_run_id"]
    assert parent.data.metrics["best_val_accuracy"] == max(
        c.data.metrics["val_accuracy"] for c in children)
    # the winner refit on the whole training split, tested once: its run holds the model
    refit = _refit(runs, best)
    assert refit.data.tags["runner.sweep.refit_of"] == \
        parent.data.tags["runner.sweep.best_trial"]
    assert parent.data.metrics["test_accuracy"] == refit.data.metrics["accuracy"]
    assert parent.data.tags["runner.sweep.refit_run_id"] == refit.info.run_id
    assert "refit on the whole training split and scored once on the test split" in done.stdout
    assert _models(refit.info.run_id) == ["model"]  # log_models=best: only the refit's
    assert not any(_models(c.info.run_id) for c in children)
    from mlflow import MlflowClient

    champion = MlflowClient().get_model_version_by_alias("penguin-classifier", "champion")
    assert champion.run_id == refit.info.run_id


def test_optuna_sweep_goes_on_past_a_failing_trial(tmp_path: Path) -> None:
    # the binomial family cannot fit three penguin species: a realistic mistake in a search
    done = _run(tmp_path, ["hydra/sweeper=optuna", "hydra/sweeper/sampler=grid", SPARK,
                           "hydra.sweeper.max_failure_rate=0.5", "tracking.log_models=none",
                           "data.split.validation=0.25",
                           "model.family=choice(binomial,multinomial)"])
    assert done.returncode == 0, done.stdout
    assert "FAILED" in done.stdout
    study = optuna.load_study(study_name="runner",
                              storage=f"sqlite:///{tmp_path / 'outputs' / 'optuna.db'}")
    assert sorted(t.state.name for t in study.trials) == ["COMPLETE", "FAIL"]
    assert study.best_params == {"model.family": "multinomial"}
    parents, children = _split(_runs(tmp_path))
    assert parents[0].info.status == "FINISHED"
    failed = [c for c in children if c.info.status == "FAILED"]
    assert len(failed) == 1
    assert "runner.error" in failed[0].data.tags


def _complete(storage: str) -> int:
    """Completed trials, read through a read-only sqlite connection: optuna.load_study would
    create the storage's tables itself and race the sweep doing the same."""
    path = storage[len("sqlite:///"):]
    if not os.path.exists(path):
        return 0
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as db:
            (count,) = db.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()
    except sqlite3.OperationalError:  # no tables yet, or locked by a writer this instant
        return 0
    return int(count)


def test_killed_sweep_resumes_to_the_total_and_refuses_a_changed_space(tmp_path: Path) -> None:
    n_trials = 4  # a fit a trial (one validation part): killed while the others still run
    args = [*OPTUNA, f"hydra.sweeper.n_trials={n_trials}", "data.split.validation=0.25"]
    storage = f"sqlite:///{tmp_path / 'outputs' / 'optuna.db'}"
    proc = _runner(tmp_path, args)
    deadline = time.monotonic() + TIMEOUT
    while _complete(storage) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    if proc.poll() is not None:
        pytest.fail("the sweep ended before it could be killed:\n" + proc.communicate()[0])
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert 1 <= _complete(storage) < n_trials, "the sweep ended before it could be killed"

    resumed = _run(tmp_path, args)
    assert resumed.returncode == 0, resumed.stdout
    assert "resuming at" in resumed.stdout
    study = optuna.load_study(study_name="runner", storage=storage)
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == n_trials
    assert "RUNNING" not in states
    parents, children = _split(_runs(tmp_path))
    assert len(parents) == 1
    assert parents[0].info.status == "FINISHED"
    statuses = [c.info.status for c in children]
    assert statuses.count("FINISHED") == n_trials
    assert "RUNNING" not in statuses

    wider = [a.replace("range(5,30)", "range(5,50)") for a in args]
    changed = _run(tmp_path, wider)
    assert changed.returncode != 0
    assert "model.maxIter: range(5,30) -> range(5,50)" in changed.stdout
    assert len(_runs(tmp_path)) == len(parents) + len(children) + 1  # refused before any run


def test_trials_in_one_process_share_the_session_and_the_prepared_data(cfg_factory) -> None:
    context = RunContext()  # as a sweep's trials share theirs
    no_model = ["tracking.log_models=none"]
    first = train.run(cfg_factory(no_model), [], context=context)
    session = spark_mod.get_session(cfg_factory().spark)
    cached = dict(context.datasets)
    assert len(cached) == 1
    second = train.run(cfg_factory([*no_model, "model.regParam=0.01"]), [], context=context)
    assert spark_mod.get_session(cfg_factory().spark) is session
    assert context.datasets == cached  # the second trial added nothing: it reused the first's
    assert len(context.featurized) == 1  # nor fitted the feature stages again
    assert first.run_id != second.run_id


def test_a_session_asked_for_with_other_settings_gets_them_and_back_again(cfg_factory) -> None:
    base = cfg_factory().spark
    other = cfg_factory(["++spark.conf={spark.sql.shuffle.partitions: '3'}"]).spark
    session = spark_mod.get_session(base)
    assert spark_mod.get_session(base) is session
    assert spark_mod.get_session(other) is session
    assert session.conf.get("spark.sql.shuffle.partitions") == "3"
    assert spark_mod.get_session(base) is session
    assert session.conf.get("spark.sql.shuffle.partitions") == "1"


def test_reused_feature_stages_and_one_job_evaluation_change_no_number(cfg_factory) -> None:
    from runner.pipeline import evaluate, fitting

    cfg = cfg_factory(["model.maxIter=7"])
    session = spark_mod.get_session(cfg.spark)
    context = RunContext()
    spec = data_mod.for_task(cfg.data, context)
    dataset = data_mod.load(session, spec, context)
    pipeline, _ = train.build_pipeline(cfg, spec, dataset, context)
    rows = dataset.train_rows
    # fills the cache: other params
    fitting.fit(context, pipeline, dataset.train, cfg_factory(), rows)
    cached = fitting.fit(context, pipeline, dataset.train, cfg, rows)
    direct = pipeline.fit(dataset.train)
    assert cached.stages[-1].coefficientMatrix == direct.stages[-1].coefficientMatrix
    names = ["accuracy", "f1"]
    together = evaluate.evaluate_splits(cached, {"test": dataset.test, "train": dataset.train},
                                        cfg.data.label, names)
    assert together["test"] == evaluate.evaluate(direct, dataset.test, cfg.data.label, names)
    assert together["train"] == evaluate.evaluate(direct, dataset.train, cfg.data.label, names)
    # what a run scores: its classifier alone on the splits through the cached feature stages
    splits = fitting.featurized(context, {"test": dataset.test, "train": dataset.train}, cfg)
    assert evaluate.evaluate_splits(cached.stages[-1], splits, cfg.data.label, names) == together


def test_parallel_trials_leave_optuna_and_mlflow_consistent(tmp_path: Path) -> None:
    n_trials = 6
    # selected on a validation split: one fit a trial
    done = _run(tmp_path, [*OPTUNA, f"hydra.sweeper.n_trials={n_trials}", "hydra.sweeper.n_jobs=2",
                           "tracking.log_models=none", "data.split.validation=0.25"])
    assert done.returncode == 0, done.stdout
    assert f"[sweep] trial {n_trials}/{n_trials}" in done.stdout
    study = optuna.load_study(study_name="runner",
                              storage=f"sqlite:///{tmp_path / 'outputs' / 'optuna.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * n_trials
    parents, children = _split(_runs(tmp_path))
    assert len(parents) == 1
    assert parents[0].info.status == "FINISHED"
    assert [c.info.status for c in children] == ["FINISHED"] * n_trials
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    # each Optuna trial points at its own child run, which holds that trial's number and value
    by_run = {c.info.run_id: c for c in children}
    for trial in study.trials:
        child = by_run[trial.user_attrs["mlflow_run_id"]]
        assert child.data.tags["runner.sweep.trial"] == str(trial.number)
        assert child.data.metrics["val_accuracy"] == trial.value
        assert "val_accuracy_fold_0" not in child.data.metrics  # one validation part
    jobs = [p for p in (tmp_path / "outputs" / "multirun").glob("*/*/*") if p.is_dir()]
    assert sorted(p.name for p in jobs) == [str(n) for n in range(n_trials)]
    _assert_trial_logs(tmp_path, "validation split 0.25", n_trials, done.stdout)


def test_two_objective_sweep_logs_its_pareto_front_and_registers_the_fronts_best(
        tmp_path: Path) -> None:
    import csv

    import mlflow
    from mlflow import MlflowClient

    n_trials = 4
    done = _run(tmp_path, ["hydra/sweeper=optuna", "hydra.sweeper.sampler.seed=7", SPARK,
                           "hydra.sweeper.direction=[maximize,minimize]",
                           "evaluation.objectives=[accuracy,train_seconds]",
                           f"hydra.sweeper.n_trials={n_trials}", "data.split.validation=0.25",
                           "model.maxIter=int(interval(5,20))",
                           "model.regParam=interval(0.001,1.0)"])
    assert done.returncode == 0, done.stdout
    assert "[sweep] Pareto front (val_accuracy up, train_seconds down): " in done.stdout
    study = optuna.load_study(study_name="runner",
                              storage=f"sqlite:///{tmp_path / 'outputs' / 'optuna.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * n_trials
    assert all(isinstance(t.params["model.maxIter"], int) for t in study.trials)
    front = {t.number for t in study.best_trials}
    runs = _runs(tmp_path)
    parents, children = _split(runs)
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["pareto_front_size"] == len(front)
    assert {"trials.csv", "pareto.csv", "pareto_front.png"} <= _artifacts(parent.info.run_id)
    rows = list(csv.DictReader(mlflow.artifacts.load_text(
        f"runs:/{parent.info.run_id}/trials.csv").splitlines()))
    assert {int(r["trial"]) for r in rows if r["on_pareto_front"] == "true"} == front
    by_run = {c.info.run_id: c for c in children}
    for trial in study.trials:  # each trial's values are its run's two metrics
        metrics = by_run[trial.user_attrs["mlflow_run_id"]].data.metrics
        assert trial.values == [metrics["val_accuracy"], metrics["train_seconds"]]
    # the champion: the front's best validation accuracy refit, logged with an input example
    best = by_run[parent.data.tags["runner.sweep.best_run_id"]]
    on_front = [c for c in children if int(c.data.tags["runner.sweep.trial"]) in front]
    assert int(best.data.tags["runner.sweep.trial"]) in front
    assert best.data.metrics["val_accuracy"] == max(c.data.metrics["val_accuracy"]
                                                    for c in on_front)
    champion = MlflowClient().get_model_version_by_alias("penguin-classifier", "champion")
    assert champion.run_id == _refit(runs, best.info.run_id).info.run_id
    info = mlflow.models.get_model_info("models:/penguin-classifier@champion")
    assert info.saved_input_example_info is not None


def _study(tmp_path: Path) -> optuna.Study:
    return optuna.load_study(study_name="runner",
                             storage=f"sqlite:///{tmp_path / 'outputs' / 'optuna.db'}")


def test_pruned_trials_agree_in_optuna_mlflow_and_the_summary_after_a_kill_and_resume(
        tmp_path: Path) -> None:
    """A pruner chosen by its _target_: a trial scoring below 0.7 is pruned (a regParam of 100
    leaves the model the class priors). Killed -9 right after the first trial's run ended, before
    Optuna heard of it; the same command resumes, with two trials at once."""
    from mlflow import MlflowClient

    from tests.reliability import kill_hook

    args = ["hydra/sweeper=optuna", "hydra/sweeper/sampler=grid", "hydra.sweeper.sampler.seed=7",
            SPARK, "hydra.sweeper.pruner._target_=optuna.pruners.ThresholdPruner",
            "+hydra.sweeper.pruner.lower=0.7", "model.regParam=choice(0.01,0.05,100.0)"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    killed = subprocess.run([sys.executable, "-m", "runner.cli", "-m", *args,
                             "hydra.sweeper.n_jobs=1"], cwd=tmp_path, capture_output=True,
                            text=True, env={**env, **kill_hook.env("trial-ended")},
                            timeout=TIMEOUT, start_new_session=True, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert [t.state.name for t in _study(tmp_path).trials] == ["RUNNING"]  # not told yet

    done = _run(tmp_path, [*args, "hydra.sweeper.n_jobs=2"])
    assert done.returncode == 0, done.stdout
    assert "(1 trial(s) that ended before the interruption told)" in done.stdout
    states = sorted(t.state.name for t in _study(tmp_path).trials)
    assert states == ["COMPLETE", "COMPLETE", "PRUNED"]
    assert "[sweep] FINISHED: 2 finished, 1 pruned, 0 failed, 0 killed" in done.stdout
    parents, children = _split(_runs(tmp_path))
    pruned = [c for c in children if c.data.tags.get("runner.sweep.state") == "PRUNED"]
    assert [c.info.status for c in pruned] == ["KILLED"]
    assert sorted(c.info.status for c in children) == ["FINISHED", "FINISHED", "KILLED"]
    assert pruned[0].data.params["model.regParam"] == "100.0"
    parent = parents[0]
    assert parent.data.metrics["trials_pruned"] == 1.0
    best = parent.data.tags["runner.sweep.best_run_id"]
    assert best != pruned[0].info.run_id
    champion = MlflowClient().get_model_version_by_alias("penguin-classifier", "champion")
    # the champion is the best trial refit on the whole training split, in a run nested under it
    assert MlflowClient().get_run(champion.run_id).data.tags["mlflow.parentRunId"] == best
    table = MlflowClient().download_artifacts(parent.info.run_id, "trials.csv", str(tmp_path))
    rows = Path(table).read_text().splitlines()
    assert rows[0].startswith("trial,run_id,status,state,")
    assert sum(",KILLED,PRUNED," in row for row in rows) == 1
    assert "trial_scores.png" in _artifacts(parent.info.run_id)


def test_a_data_error_is_one_line_before_the_sweep_and_no_run(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y,label\n" + "".join(f"{i}.0,{i % 3}.5,a\n" for i in range(20)))
    done = _run(tmp_path, [*OPTUNA, f"data.path={bad}", "data.label=label", "features=auto",
                           "hydra.sweeper.n_trials=2"])
    assert done.returncode != 0, done.stdout
    errors = [line for line in done.stdout.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, done.stdout
    assert "label 'label' has a single class" in errors[0]
    assert "[sweep] trial" not in done.stdout
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert mlflow.search_runs(search_all_experiments=True, output_format="list") == []


def test_a_sweep_whose_every_trial_fails_counts_them_as_optuna_does(tmp_path: Path) -> None:
    """Each trial fails before its run exists (its data file is swept, and missing)."""
    done = _run(tmp_path, ["hydra/sweeper=optuna", SPARK, "hydra.sweeper.max_failure_rate=1.0",
                           "hydra.sweeper.n_trials=2", "data.path=choice(nope.csv)"])
    states = [t.state.name for t in _study(tmp_path).trials]
    assert states == ["FAIL", "FAIL"]
    assert "0 finished, 2 failed, 0 killed" in done.stdout
