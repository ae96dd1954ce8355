"""Multi-objective sweeps (issue 15): directions and objectives checked before anything starts,
the study's Pareto front, the champion picked from it by evaluation.primary, and the parent
run's front artifacts. All in-process with no JVM, but for the toy-app sweep (no Spark either)
and one end-to-end ``runner -m`` sweep in tests/test_sweep_cli.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.distributions import FloatDistribution

from hydra_plugins.runner_optuna_sweeper import samplers
from hydra_plugins.runner_optuna_sweeper import space as space_mod
from hydra_plugins.runner_optuna_sweeper import study as study_mod
from hydra_plugins.runner_optuna_sweeper.optuna_sweeper import OptunaSweeper
from runner import sweep as sweep_mod
from runner import tracking
from runner.errors import RunnerError
from runner.sweep import best as best_mod
from runner.sweep import report as sweep_report
from tests.conftest import make_config

TWO = ["evaluation.objectives=[accuracy,train_seconds]"]


def _validate(direction: object, overrides: list[str]) -> None:
    sweeper = OptunaSweeper(sampler=None, direction=direction, storage=None, study_name=None,
                            new_study=False, n_trials=4, n_jobs=1, max_failure_rate=0.0,
                            params=None)
    sweeper.config = make_config(overrides)
    sweeper._validate()


def _refusal(direction: object, overrides: list[str]) -> str:
    with pytest.raises(RunnerError) as error:
        _validate(direction, overrides)
    message = str(error.value)
    assert "\n" not in message  # one line, as the CLI prints it
    return message


def test_one_direction_per_objective_each_the_metrics_own() -> None:
    _validate(OmegaConf.create(["maximize", "minimize"]), TWO)  # accepted
    _validate("maximize", [])  # evaluation.primary alone, as before
    assert "has 2 direction(s) but evaluation.primary=accuracy (no evaluation.objectives) is " \
           "1 objective(s)" in _refusal(["maximize", "minimize"], [])
    assert "has 1 direction(s) but evaluation.objectives=['accuracy', 'train_seconds'] is 2" \
        in _refusal("maximize", TWO)
    assert "train_seconds is lower is better, so minimize it: set " \
           "hydra.sweeper.direction=[maximize,minimize]" in _refusal(["maximize", "maximize"], TWO)
    assert "must be minimize or maximize" in _refusal(["maximize", "upward"], TWO)
    assert "hammingLoss is not a metric a run logs" in _refusal(
        ["maximize", "minimize"], ["evaluation.objectives=[accuracy,hammingLoss]"])
    # a train-split loss is minimized like the test one
    _validate(["maximize", "minimize"], ["evaluation.metrics=[accuracy,hammingLoss]",
                                         "evaluation.objectives=[accuracy,train_hammingLoss]"])


def test_a_single_objective_sampler_is_refused_for_two_objectives() -> None:
    space = space_mod.parse(["x=range(1,4)"])
    cmaes = OmegaConf.create({"_target_": "optuna.samplers.CmaEsSampler"})
    with pytest.raises(RunnerError, match=r"CmaEsSampler optimizes one objective, and "
                                          r"hydra.sweeper.direction gives 2: choose "):
        samplers.build(cmaes, space, objectives=2)
    for name in ("tpe", "nsgaii", "random", "motpe", "grid", "qmc"):
        node = OmegaConf.structured(samplers.SAMPLERS[name])
        assert samplers.build(node, space, group=name, objectives=2) is not None


def _fingerprint(directions: list[str]) -> study_mod.Fingerprint:
    return study_mod.fingerprint(space_mod.parse(["x=interval(0,1)"]), make_config(TWO),
                                 directions)


def test_multi_objective_study_resumes_and_refuses_other_directions(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    two = _fingerprint(["maximize", "minimize"])
    study = study_mod.open_study(storage, "s", False, two)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    dist = {"x": FloatDistribution(0, 1)}
    for values in ((0.9, 2.0), (0.95, 3.0), (0.95, 2.5), (0.8, 1.0), (0.8, 4.0)):
        study_mod.tell(study, study.ask(dist), values)
    study.ask(dist)
    study.ask(dist)  # two trials a kill left RUNNING; the first one's run had FINISHED
    again = study_mod.open_study(storage, "s", False, two)
    assert study_mod.tell_finished(again, {5: ("run-5", (0.97, 9.0))}) == 1
    assert study_mod.fail_interrupted(again) == 1
    assert study_mod.front_numbers(again) == {0, 2, 3, 5}  # 2 beats 1, 3 beats 4
    assert study_mod.best_number(again) is None
    with pytest.raises(RunnerError, match=r"direction: \[maximize, minimize\] -> maximize"):
        study_mod.open_study(storage, "s", False, _fingerprint(["maximize"]))


def _child(number: int, accuracy: float, seconds: float, f1: float = 0.5) -> tracking.ChildRun:
    return tracking.ChildRun(f"run-{number}", "FINISHED",
                             {"val_accuracy": accuracy, "train_seconds": seconds,
                              "val_f1": f1},
                             {sweep_mod.TRIAL_TAG: str(number),
                              sweep_mod.PARAMS_TAG: f'{{"x": "{number}"}}'})


class _FrontView:
    """A multi-objective study's view (runner.sweep.StudyView) with a given Pareto front."""

    def __init__(self, front: set[int]) -> None:
        self._front = front

    def statuses(self) -> dict[int, str]:
        return {}

    def states(self) -> dict[str, int]:
        return {}

    def best_number(self) -> int | None:
        return None

    def front(self) -> set[int] | None:
        return self._front

    def reporter_for(self, number: int) -> None:
        return None

    def plot_source(self) -> None:
        return None


def _sweep(overrides: list[str], front: set[int]) -> sweep_mod.Sweep:
    sweep = sweep_mod.Sweep(make_config(overrides), "optuna", ["x"], 4)
    sweep.attach(_FrontView(front), ["x"], 4)
    return sweep


def test_champion_is_the_fronts_best_primary_metric_lowest_trial_on_a_tie() -> None:
    children = [_child(0, 1.0, 3.0), _child(1, 1.0, 1.0), _child(2, 0.9, 0.5),
                _child(3, 1.0, 1.0)]
    best = _sweep(TWO, {1, 2, 3})._best_child(children)
    assert best is not None
    assert best.run_id == "run-1"  # 0 has the same accuracy but is off the front
    # the primary need not be an objective: the front's best accuracy still wins
    other = _sweep(["evaluation.objectives=[f1,train_seconds]"], {0, 2})
    chosen = other._best_child(children)
    assert chosen is not None
    assert chosen.run_id == "run-0"


def test_a_tied_trial_that_dominates_the_kept_best_replaces_it() -> None:
    sweep = _sweep(TWO, set())
    sweep.best = sweep_mod.Best(1.0, "run-0", 0, values=(1.0, 3.0))
    assert not best_mod.beats(sweep.goals, sweep.best, 1.0, (1.0, 3.5))
    # same accuracy, faster: it is on the front, 0 is not
    assert best_mod.beats(sweep.goals, sweep.best, 1.0, (1.0, 2.0))
    assert not best_mod.beats(sweep.goals, sweep.best, 0.9, (0.9, 0.1))


def test_parent_report_marks_the_front_and_draws_it() -> None:
    children = [_child(0, 1.0, 3.0), _child(1, 1.0, 1.0), _child(2, 0.9, 0.5)]
    sweep = _sweep(TWO, {1, 2})
    front = sweep.view.front() if sweep.view else None
    table = sweep_report.trials_csv(children, "val_accuracy", front)
    assert table.splitlines()[:2] == [
        "trial,run_id,status,state,on_pareto_front,val_accuracy,x,train_seconds,val_f1,error",
        "0,run-0,FINISHED,COMPLETE,false,1.0,0,3.0,0.5,"]
    text = sweep_report.summary(children, children[1], "FINISHED", sweep.goals, front, "parent",
                                sweep.config.tracking.uri)
    assert ("[sweep] Pareto front (val_accuracy up, train_seconds down): 2 of 3 finished "
            "trials") in text
    assert "the champion is the front's best val_accuracy" in text
    assert " trial  val_accuracy  train_seconds  params" in text
    assert "    1*        1.0000         1.0000  x=1" in text
    study = optuna.create_study(directions=["maximize", "minimize"])
    for child in children:
        study.add_trial(optuna.trial.create_trial(
            params={"x": float(child.run_id[-1])}, distributions={"x": FloatDistribution(0, 9)},
            values=[child.metrics["val_accuracy"], child.metrics["train_seconds"]]))
    names = [name for name, _ in sweep_report.plots(study, list(sweep.goals.objectives),
                                                       "val_accuracy")]
    assert names[:2] == [sweep_report.PARETO_PLOT, "optimization_history.png"]


# A Hydra app with no Spark and two objectives; a trial may return NaN for the second
_TOY_APP = '''
import math
import hydra

@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg):
    return (cfg.x, math.nan if cfg.x > 0.95 else (cfg.x - 0.5) ** 2)

main()
'''


def _toy(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "app.py").write_text(_TOY_APP)
    return subprocess.run(
        [sys.executable, "app.py", "-m", "hydra/sweeper=optuna", "+x=interval(0,1)",
         "hydra.sweeper.direction=[maximize,minimize]", "hydra.sweeper.max_failure_rate=1",
         *args], cwd=tmp_path, env=dict(os.environ), capture_output=True, text=True, timeout=120)


def test_any_hydra_app_gets_a_pareto_front_and_cmaes_is_refused_in_one_line(
        tmp_path: Path) -> None:
    done = _toy(tmp_path, "hydra.sweeper.n_trials=6", "hydra/sweeper/sampler=nsgaii",
                "hydra.sweeper.sampler.seed=3", "hydra.sweeper.sampler.population_size=3")
    assert done.returncode == 0, done.stderr
    study = optuna.load_study(study_name="app",
                              storage=f"sqlite:///{tmp_path / 'outputs' / 'optuna.db'}")
    assert len(study.directions) == 2
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert all(len(t.values) == 2 for t in complete)
    results = OmegaConf.load(next(tmp_path.glob("multirun/*/*/optimization_results.yaml")))
    assert sorted(s.number for s in results.solutions) == sorted(
        t.number for t in study.best_trials)
    refused = _toy(tmp_path, "hydra/sweeper/sampler=cmaes", "hydra.sweeper.study_name=other")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1].startswith(
        "runner: error: hydra.sweeper.sampler: CmaEsSampler optimizes one objective")
    assert "Traceback" not in refused.stderr
