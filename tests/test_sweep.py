"""Sweep pieces that need no JVM: the search-space mapping, study resume/refusal, the
champion/challenger rule, and the sweep report."""

from __future__ import annotations

import os
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from hydra_plugins.runner_optuna_sweeper import parallel
from hydra_plugins.runner_optuna_sweeper import pruners as pruners_mod
from hydra_plugins.runner_optuna_sweeper import space as space_mod
from hydra_plugins.runner_optuna_sweeper import study as study_mod
from hydra_plugins.runner_optuna_sweeper.view import OptunaStudyView
from runner import tracking
from runner.errors import RunnerError
from runner.sweep import best as best_mod
from runner.sweep import report as sweep_report
from tests.conftest import make_config


def test_overrides_map_to_optuna_distributions() -> None:
    space = space_mod.parse([
        "model.regParam=interval(0.001,1.0)", "model.maxIter=range(5,50)",
        "model.elasticNetParam=choice(0.0,0.5,1.0)", "model.tol=tag(log, interval(1e-8, 1e-4))",
        "x=interval(1,10)", "spark.master='local[2]'",
    ])
    assert space.distributions == {
        "model.regParam": FloatDistribution(0.001, 1.0),
        "model.maxIter": IntDistribution(5, 50),
        "model.elasticNetParam": CategoricalDistribution([0.0, 0.5, 1.0]),
        "model.tol": FloatDistribution(1e-8, 1e-4, log=True),
        "x": FloatDistribution(1, 10),
    }
    assert space.fixed == {"spark.master": "'local[2]'"}


def test_command_line_wins_over_params_and_grid_lists_every_value() -> None:
    space = space_mod.parse(["model.maxIter=range(5,50)", "model.maxIter=range(5,15,5)"])
    assert space_mod.grid(space.distributions) == {"model.maxIter": [5, 10, 15]}
    with pytest.raises(RunnerError, match="grid sampler"):
        space_mod.grid(space_mod.parse(["a=interval(0,1)"]).distributions)


def _fingerprint(overrides: list[str], params: list[str]) -> study_mod.Fingerprint:
    return study_mod.fingerprint(space_mod.parse(params), make_config(overrides), "maximize")


def test_changed_search_space_is_refused_with_what_differs(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = _fingerprint([], ["model.regParam=interval(0.001,1.0)"])
    created = study_mod.open_study(storage, "s", False, first)
    again = study_mod.open_study(storage, "s", False, first)
    assert again.study_name == created.study_name == "s"

    changed = _fingerprint(["data.split.seed=7"], ["model.regParam=interval(0.01,1.0)"])
    with pytest.raises(RunnerError) as error:
        study_mod.open_study(storage, "s", False, changed)
    message = str(error.value)
    assert "model.regParam: interval(0.001,1.0) -> interval(0.01,1.0)" in message
    assert "data.split.seed: 42 -> 7" in message
    assert "new_study=true" in message

    new = study_mod.open_study(storage, "s", True, changed)
    assert new.study_name == "s-2"
    assert study_mod.open_study(storage, "s", True, changed).study_name == "s-2"  # resumable


def test_interrupted_trials_fail_and_do_not_count(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'o.db'}", direction="maximize")
    dist = {"x": FloatDistribution(0, 1)}
    study.tell(study.ask(dist), 0.5)
    study.tell(study.ask(dist), state=optuna.trial.TrialState.FAIL)
    study.ask(dist)  # left RUNNING, as by kill -9
    assert study_mod.fail_interrupted(study) == 1
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "FAIL", "FAIL"]
    assert study_mod.counted(study) == 2
    assert study_mod.failed(study) == 1


def test_running_trials_whose_run_finished_are_told_its_value(tmp_path: Path) -> None:
    # kill -9 after trial 1's run FINISHED but before its tell (it waited for trial 0's)
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'o.db'}", direction="maximize")
    dist = {"x": FloatDistribution(0, 1)}
    study.ask(dist)
    study.ask(dist)
    assert study_mod.tell_finished(study, {1: ("run-1", 0.75), 7: ("run-7", 0.1)}) == 1
    assert study_mod.fail_interrupted(study) == 1
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE"]
    assert study.trials[1].value == 0.75
    assert study.trials[1].user_attrs["mlflow_run_id"] == "run-1"
    assert study_mod.counted(study) == 1


def _version(client, name: str, accuracy: float) -> str:
    import mlflow

    with mlflow.start_run() as run:
        mlflow.log_metric("accuracy", accuracy)
    return str(client.create_model_version(name, "file:///nowhere", run.info.run_id).version)


def test_new_version_is_champion_only_if_it_beats_the_champion_by_the_margin(
        mlflow_uri: str) -> None:
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(mlflow_uri)
    mlflow.set_experiment("promote")  # an earlier test may have set another store's experiment
    client = MlflowClient()
    client.create_registered_model("m")
    first, worse, better, marginal = (_version(client, "m", a) for a in (0.90, 0.85, 0.95, 0.955))
    assert tracking.promote("m", first, "accuracy", 0.90, 0.0) == "champion"
    assert tracking.promote("m", worse, "accuracy", 0.85, 0.0) == "challenger"
    assert tracking.promote("m", better, "accuracy", 0.95, 0.0) == "champion"
    assert tracking.promote("m", marginal, "accuracy", 0.955, 0.01) == "challenger"
    assert str(client.get_model_version_by_alias("m", "champion").version) == better
    assert tracking.promote("m", worse, "hammingLoss", 0.01, 0.0, greater_is_better=False) \
        == "champion"  # no hammingLoss on the champion's run: nothing to beat


def test_grid_description_counts_jobs_and_swept_keys() -> None:
    config = OmegaConf.create({"hydra": {
        "sweeper": {"_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
                    "params": None},
        "overrides": {"task": ["model.regParam=0.01,0.1,0.5", "model.maxIter=5,10", "seed=1"]},
    }})
    assert sweep_report.describe(config) == ("grid", ["model.regParam", "model.maxIter"], 6)


def test_trials_table_has_one_row_per_trial() -> None:
    children = [
        tracking.ChildRun("a", "FINISHED", {"accuracy": 0.9, "f1": 0.8},
                          {"runner.sweep.trial": "0", "runner.sweep.params": '{"x": "1"}'}),
        tracking.ChildRun("b", "FAILED", {}, {"runner.sweep.trial": "1",
                                              "runner.sweep.params": '{"x": "2"}',
                                              "runner.error": "boom"}),
    ]
    lines = sweep_report.trials_csv(children, "accuracy").splitlines()
    assert lines == ["trial,run_id,status,state,accuracy,x,f1,error",
                     "0,a,FINISHED,COMPLETE,0.9,1,0.8,", "1,b,FAILED,FAIL,,2,,boom"]


def test_each_trial_thread_sees_its_own_hydra_job_config() -> None:
    import threading

    from hydra.core.hydra_config import HydraConfig

    shared = HydraConfig.instance().cfg
    seen: dict[str, object] = {}
    both_set = threading.Barrier(2)

    def job(name: str) -> None:
        HydraConfig.instance().cfg = name  # as run_job sets it (set_config needs a full config)
        both_set.wait()
        seen[name] = HydraConfig.instance().cfg

    with parallel.per_thread_hydra_config():
        threads = [threading.Thread(target=job, args=(n,)) for n in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert HydraConfig.instance().cfg is shared  # the sweep's own thread is untouched
    assert seen == {"a": "a", "b": "b"}
    assert HydraConfig.instance().cfg is shared


def test_trial_configs_derived_from_the_last_trial_equal_a_full_composition() -> None:
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import ConfigCompositionException
    from hydra.types import RunMode

    from hydra_plugins.runner_optuna_sweeper.compose import SweepComposer

    fixed = ["spark.master='local[2]'", "tracking.log_models=none"]
    trials = [["model.regParam=0.1", "model.maxIter=5", *fixed],
              ["model.regParam=0.7", "model.maxIter=9", *fixed],  # values only: derived
              ["model.regParam=0.7", "model.maxIter=12", *fixed],
              ["model=random_forest", "model.numTrees=7", *fixed],  # a group: composed in full
              ["model=random_forest", "model.numTrees=9", *fixed]]
    make_config()  # registers the schemas
    with initialize_config_module(config_module="runner.conf", version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("config", ["hydra/sweeper=optuna"], RunMode.MULTIRUN)
        composer = SweepComposer(loader, master)
        for overrides in trials:
            derived = OmegaConf.to_container(composer.compose(overrides))
            assert derived == OmegaConf.to_container(loader.load_sweep_config(master, overrides))
        assert composer.full == 2
        with pytest.raises(ConfigCompositionException):  # the schema still checks the value
            composer.compose(["model=random_forest", "model.numTrees=many", *fixed])


# A Hydra app with no Spark: its objective is a function of x and n, and trials whose number is
# in SLOW take longer, so trials end in an order set by the environment.
_TOY_APP = '''
import os, time
import hydra

@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg) -> float:
    from hydra.core.hydra_config import HydraConfig
    if HydraConfig.get().job.num in {int(n) for n in os.environ["SLOW"].split(",")}:
        time.sleep(0.4)
    return -(cfg.x - 0.3) ** 2 - 0.01 * cfg.n

main()
'''


def _toy_sweep(tmp_path: Path, slow: str) -> list[dict]:
    import subprocess
    import sys

    tmp_path.mkdir()
    (tmp_path / "app.py").write_text(_TOY_APP)
    done = subprocess.run(
        [sys.executable, "app.py", "-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=8",
         "hydra.sweeper.n_jobs=3", "hydra.sweeper.sampler.seed=5",
         "hydra.sweeper.sampler.n_startup_trials=2", "+x=interval(0,1)", "+n=range(1,9)"],
        cwd=tmp_path, env={**os.environ, "SLOW": slow}, capture_output=True, text=True,
        timeout=120)
    assert done.returncode == 0, done.stderr
    study = optuna.load_study(study_name="app",
                              storage=f"sqlite:///{tmp_path / 'outputs' / 'optuna.db'}")
    return [t.params for t in sorted(study.trials, key=lambda t: t.number)]


def test_parallel_seeded_sweep_asks_the_same_trials_whatever_order_they_end_in(
        tmp_path: Path) -> None:
    # even trials slow, then odd ones: trials end in another order, but each ask after the
    # startup trials sees the same told trials, so TPE proposes the same ones
    even = _toy_sweep(tmp_path / "even", "0,2,4,6")
    odd = _toy_sweep(tmp_path / "odd", "1,3,5,7")
    assert len(even) == 8
    assert even == odd


def test_child_statuses_follow_the_study_and_the_best_is_optunas_on_a_tie(
        mlflow_uri: str) -> None:
    import mlflow

    from runner import sweep as sweep_mod

    mlflow.set_tracking_uri(mlflow_uri)
    mlflow.set_experiment("ties")
    study = optuna.create_study(direction="maximize")
    dist = {"x": FloatDistribution(0, 1)}
    for value in (0.9, 0.95, 0.95):  # trials 1 and 2 tie
        study.tell(study.ask(dist), value)
    study.tell(study.ask(dist), state=optuna.trial.TrialState.FAIL)  # its run had FINISHED
    statuses = ["FINISHED", "RUNNING", "FINISHED", "FINISHED"]  # 1: a kill before the end
    children = []
    for number, status in enumerate(statuses):
        with mlflow.start_run(tags={sweep_mod.TRIAL_TAG: str(number)}) as run:
            mlflow.log_metric("val_accuracy", study.trials[number].value or 0.0)
        mlflow.MlflowClient().set_terminated(run.info.run_id, status)
        children.append(tracking.ChildRun(run.info.run_id, status,
                                          {"val_accuracy": study.trials[number].value or 0.0},
                                          {sweep_mod.TRIAL_TAG: str(number)}))
    sweep = sweep_mod.Sweep(make_config([]), "optuna", ["x"], 4)
    sweep.attach(OptunaStudyView(study, per_fold=False), ["x"], 4)
    fixed = best_mod.reconcile(children, sweep.view.statuses() if sweep.view else {})
    assert [c.status for c in fixed] == ["FINISHED", "FINISHED", "FINISHED", "FAILED"]
    stored = [mlflow.get_run(c.run_id).info.status for c in children]
    assert stored == ["FINISHED", "FINISHED", "FINISHED", "FAILED"]
    best = sweep._best_child(fixed)
    assert best is not None
    assert best.tags[sweep_mod.TRIAL_TAG] == str(study.best_trial.number)


@pytest.mark.parametrize("name", list(pruners_mod.PRUNERS))
def test_each_pruner_option_builds_its_optuna_pruner(name: str) -> None:
    cfg = OmegaConf.structured(pruners_mod.PRUNERS[name])
    pruner = pruners_mod.build(cfg, name)
    assert type(pruner).__name__ == cfg._target_.rsplit(".", 1)[-1]
    assert pruners_mod.per_fold(pruner) == (name == "wilcoxon")


def test_a_bad_pruner_is_one_line_naming_the_key() -> None:
    def refusal(cfg: dict, group: str = "median", objectives: int = 1) -> str:
        with pytest.raises(RunnerError) as error:
            pruners_mod.build(OmegaConf.create(cfg), group, objectives)
        assert "\n" not in str(error.value)
        return str(error.value)

    median = {"_target_": "optuna.pruners.MedianPruner"}
    assert "not an Optuna pruner" in refusal({"_target_": "optuna.samplers.TPESampler"})
    assert "cannot import it" in refusal({"_target_": "optuna.pruners.NoSuchPruner"})
    assert "MedianPruner takes no patience" in refusal({**median, "patience": 3})
    assert "prunes single-objective sweeps only" in refusal(median, objectives=2)
    nop = pruners_mod.build(OmegaConf.create({"_target_": "optuna.pruners.NopPruner"}), "nop", 2)
    assert type(nop).__name__ == "NopPruner"
    # an overridden _target_ drops the chosen option's defaults it does not take
    threshold = pruners_mod.build(OmegaConf.create(
        {"_target_": "optuna.pruners.ThresholdPruner", "n_startup_trials": 5, "lower": 0.5}),
        "median")
    assert type(threshold).__name__ == "ThresholdPruner"


def test_the_reporter_tells_running_means_or_fold_scores_and_raises_when_pruned() -> None:
    from runner.errors import TrialPruned

    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.ThresholdPruner(lower=0.5))
    told = {}
    for per_fold in (False, True):
        trial = study.ask()
        view = OptunaStudyView(study, per_fold)
        view.running(trial)
        report = view.reporter_for(trial.number)
        assert report is not None
        report(0, 0.8)
        report(1, 0.85)  # folds 0.8 and 0.9
        told[per_fold] = study.trials[trial.number].intermediate_values
        view.ended(trial.number)
        assert view.reporter_for(trial.number) is None
        study.tell(trial, 0.85)
    assert told[False] == {0: 0.8, 1: 0.85}
    assert told[True] == pytest.approx({0: 0.8, 1: 0.9})
    trial = study.ask()
    view = OptunaStudyView(study, per_fold=False)
    view.running(trial)
    report = view.reporter_for(trial.number)
    assert report is not None
    with pytest.raises(TrialPruned, match="pruned at step 0"):
        report(0, 0.4)
    two = optuna.create_study(directions=["maximize", "minimize"])
    view = OptunaStudyView(two, per_fold=False)
    view.running(two.ask())
    assert view.reporter_for(0) is None  # Optuna takes no intermediate values there


def test_a_pruned_trial_is_a_killed_run_tagged_pruned_and_counted_apart(
        mlflow_uri: str) -> None:
    import mlflow

    from runner import sweep as sweep_mod

    mlflow.set_tracking_uri(mlflow_uri)
    mlflow.set_experiment("pruned")
    study = optuna.create_study(direction="maximize")
    dist = {"x": FloatDistribution(0, 1)}
    study.tell(study.ask(dist), 0.9)
    pruned = study.ask(dist)
    pruned.report(0.2, 0)
    study.tell(pruned, state=optuna.trial.TrialState.PRUNED)
    children = []
    for number in (0, 1):  # both runs FINISHED: trial 1 was pruned after its run ended
        with mlflow.start_run(tags={sweep_mod.TRIAL_TAG: str(number)}) as run:
            mlflow.log_metrics({"val_accuracy": 0.9 - 0.7 * number,
                                "val_accuracy_fold_0": 0.9,
                                "val_accuracy_fold_1": 0.9 - 1.4 * number})
        children.append(tracking.ChildRun(run.info.run_id, "FINISHED",
                                          mlflow.get_run(run.info.run_id).data.metrics,
                                          {sweep_mod.TRIAL_TAG: str(number)}))
    view = OptunaStudyView(study, per_fold=False)
    fixed = best_mod.reconcile(children, view.statuses())
    stored = mlflow.get_run(children[1].run_id)
    assert (stored.info.status, stored.data.tags[sweep_mod.STATE_TAG]) == ("KILLED", "PRUNED")
    assert [sweep_report.trial_state(c) for c in fixed] == ["COMPLETE", "PRUNED"]
    assert view.states() == sweep_report.state_counts(fixed) == {
        "COMPLETE": 1, "PRUNED": 1, "FAIL": 0, "INTERRUPTED": 0}
    table = sweep_report.trials_csv(fixed, "val_accuracy").splitlines()
    assert table[0].startswith("trial,run_id,status,state,val_accuracy,val_accuracy_std,")
    row = table[2].split(",")
    assert row[2:4] == ["KILLED", "PRUNED"]
    assert [float(v) for v in row[4:6]] == pytest.approx([0.2, 0.7])  # the value, its spread
    goals = sweep_mod.Sweep(make_config([]), "optuna", ["x"], 2).goals
    text = sweep_report.summary(fixed, fixed[0], "FINISHED", goals, None, "p", None,
                                view.states())
    assert "[sweep] FINISHED: 1 finished, 1 pruned, 0 failed, 0 killed" in text
    assert "+-std" in text
    assert sweep_report.scores_figure(fixed, "val_accuracy") is not None
