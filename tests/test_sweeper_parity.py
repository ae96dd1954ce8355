"""Parity with the official hydra-optuna-sweeper: its documented examples (plugins/
hydra_optuna_sweeper/example and its docs page) run through runner's sweeper in a toy Hydra app,
asserting what the official tests assert; the same interface on runner's own keys through the real
``runner -m`` CLI (one-line errors before any store or JVM, and a real sweep sampling ints)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from omegaconf import DictConfig, OmegaConf

from tests.conftest import repo_root

pytestmark = pytest.mark.slow  # subprocesses
TIMEOUT = 300

# the official example/sphere.py, its conf/config.yaml, tests/conf/test_grid.yaml,
# custom-search-space/config.yaml and custom-search-space-objective.py (configure, with +w)
_SPHERE = '''
import hydra

@hydra.main(version_base=None, config_path="conf", config_name="config")
def sphere(cfg) -> float:
    return cfg.x ** 2 + cfg.y ** 2

if __name__ == "__main__":
    sphere()
'''
_CONFIG = '''
defaults:
  - override hydra/sweeper: optuna
  - override hydra/sweeper/sampler: grid

hydra:
  sweeper:
    direction: minimize
    study_name: sphere
    storage: null
    n_trials: 20
    n_jobs: 1
    params:
      x: range(-5.5, 5.5, step=0.5)
      y: choice(-5 ,0 ,5)

x: 1
y: 1
z: 1
'''
_GRID = '''
defaults:
  - override hydra/sweeper: optuna
  - override hydra/sweeper/sampler: grid

hydra:
  sweeper:
    direction: minimize
    study_name: sphere
    storage: null
    n_trials: 20
    params:
      x: choice(-1, 1)
      y: range(-1.0, 1.0, step=1)
      z: choice("foo", "bar")

x: 1
y: 1
z: foo
'''
_CUSTOM_CONFIG = '''
defaults:
  - override hydra/sweeper: optuna

hydra:
  sweeper:
    sampler:
      seed: 123
    direction: minimize
    study_name: custom-search-space
    storage: null
    n_trials: 20
    n_jobs: 1
    params:
      x: range(-5.5, 5.5, 0.5)
      y: choice(-5, 0, 5)
    custom_search_space: custom-search-space-objective.configure

x: 1
y: 1
z: 100
max_z_difference_from_x: 0.5
'''
_CUSTOM = '''
import hydra

@hydra.main(version_base=None, config_path="custom-search-space", config_name="config")
def multi_dimensional_sphere(cfg) -> float:
    return cfg.w ** 2 + cfg.x ** 2 + cfg.y ** 2 + cfg.z ** 2

def configure(cfg, trial) -> None:
    x_value = trial.params["x"]
    trial.suggest_float("z", x_value - cfg.max_z_difference_from_x,
                        x_value + cfg.max_z_difference_from_x)
    trial.suggest_float("+w", 0.0, 1.0)  # +w: w is a new key

if __name__ == "__main__":
    multi_dimensional_sphere()
'''


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("example")
    for path, text in {"sphere.py": _SPHERE, "conf/config.yaml": _CONFIG,
                       "tests_conf/test_grid.yaml": _GRID,
                       "custom-search-space/config.yaml": _CUSTOM_CONFIG,
                       "custom-search-space-objective.py": _CUSTOM}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def _sweep(example: Path, tmp_path: Path, script: str, args: list[str]) -> DictConfig:
    """Run an example with the official test's arguments; its optimization_results.yaml."""
    flags = [a for a in args if a.startswith("--")]  # argparse wants them before overrides
    done = subprocess.run(
        [sys.executable, script, *flags, "--multirun", f"hydra.sweep.dir={tmp_path}",
         f"hydra.sweeper.storage=sqlite:///{tmp_path / 'test.db'}",
         *[a for a in args if a not in flags]],
        cwd=example, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    results = OmegaConf.load(tmp_path / "optimization_results.yaml")
    assert isinstance(results, DictConfig)
    assert results.name == "optuna"
    return results


def test_sphere_example_with_tpe(example: Path, tmp_path: Path) -> None:
    # the official test_optuna_example (with_commandline=True), 10 trials instead of 20
    results = _sweep(example, tmp_path, "sphere.py", [
        "hydra.job.chdir=True", "hydra.sweeper.n_trials=10", "hydra.sweeper.n_jobs=1",
        "hydra.sweeper.study_name=test-optuna-example", "hydra/sweeper/sampler=tpe",
        "hydra.sweeper.sampler.seed=123", "~z", "x=choice(0, 1, 2)", "y=0"])
    study = optuna.load_study(storage=f"sqlite:///{tmp_path / 'test.db'}",
                              study_name="test-optuna-example")
    assert results.best_params.x == study.best_trial.params["x"]
    assert "y" not in results.best_params
    assert "y" not in study.best_trial.params
    assert results.best_value == study.best_trial.value
    assert results.best_value <= 2.27  # the official test's bound for TPE


def test_grid_example(example: Path, tmp_path: Path) -> None:
    # the official test_example_with_grid_sampler: 2 x 3 x 2 grid points, all of them tried
    results = _sweep(example, tmp_path, "sphere.py", [
        "--config-dir=tests_conf", "--config-name=test_grid", "hydra.job.chdir=False",
        "hydra.sweeper.n_trials=20", "hydra.sweeper.n_jobs=1",
        "hydra.sweeper.study_name=test-grid-sampler"])
    best = results.best_params
    assert results.best_value == 1
    assert abs(best.x) == 1
    assert best.y == 0
    assert best.z in ("foo", "bar")
    study = optuna.load_study(storage=f"sqlite:///{tmp_path / 'test.db'}",
                              study_name="test-grid-sampler")
    assert len(study.trials) == 12


def test_custom_search_space_example(example: Path, tmp_path: Path) -> None:
    # the official test_optuna_custom_search_space_example, 10 trials instead of 20
    results = _sweep(example, tmp_path, "custom-search-space-objective.py", [
        "hydra.job.chdir=True", "hydra.sweeper.n_trials=10", "hydra.sweeper.n_jobs=1",
        "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=123",
        "max_z_difference_from_x=0.3"])
    assert abs(results.best_params.x - results.best_params.z) <= 0.3
    assert 0 <= results.best_params["+w"] <= 1


def _runner(tmp_path: Path, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
           "PYTHONPATH": str(repo_root())}  # for tests.test_sweeper_parity.configure_lr
    return subprocess.run([sys.executable, "-m", "runner.cli", "-m", "hydra/sweeper=optuna",
                           "spark.master='local[2]'", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)


_MISTAKES = {
    "hydra.sweeper.sampler._target_=optuna.samplers.Nope":
        "hydra.sweeper.sampler._target_=optuna.samplers.Nope: cannot import it",
    "model.regParam=interval(1.0,0.1)": "model.regParam=interval(1.0,0.1): low 1.0 is above",
}


def test_runner_refuses_mistakes_in_one_line_before_any_store(tmp_path: Path) -> None:
    for argument, message in _MISTAKES.items():
        done = _runner(tmp_path, ["model.maxIter=int(interval(5,20))", argument])
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        errors = [line for line in done.stderr.splitlines() if line.startswith("runner: error")]
        assert len(errors) == 1, done.stderr
        assert errors[0].startswith(f"runner: error: {message}")
        # refused before the MLflow store, the Optuna storage and the JVM
        assert not (tmp_path / "mlflow.db").exists()
        assert not (tmp_path / "outputs" / "optuna.db").exists()


def configure_lr(cfg: DictConfig, trial: optuna.Trial) -> None:
    """The official custom-search-space example on runner's keys: a bound derived from another
    parameter (regParam under maxIter / 100) and one more parameter. (A new key, the official
    ``+w``, is covered by the toy app.)"""
    trial.suggest_float("model.regParam", 0.001, trial.params["model.maxIter"] / 100)
    trial.suggest_categorical("model.elasticNetParam", [0.0, 0.5])


def test_runner_sweep_samples_ints_and_runs_the_custom_search_space(tmp_path: Path) -> None:
    done = _runner(tmp_path, ["model.maxIter=int(interval(5,20))", "hydra.sweeper.n_trials=3",
                              "tracking.log_models=none", "hydra.sweeper.sampler.seed=1",
                              "data.split.validation=0.25",  # a fit a trial: about sampling
                              f"hydra.sweeper.custom_search_space={__name__}.configure_lr"])
    assert done.returncode == 0, done.stdout + done.stderr
    study = optuna.load_study(study_name="runner",
                              storage=f"sqlite:///{tmp_path / 'outputs' / 'optuna.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["runner"], output_format="list")
    children = {r.info.run_id: r for r in runs if "runner.sweep.trial" in r.data.tags}
    assert len(children) == 3
    for trial in study.trials:
        child = children[trial.user_attrs["mlflow_run_id"]]
        max_iter = trial.params["model.maxIter"]
        assert type(max_iter) is int
        assert 5 <= max_iter <= 20
        assert child.data.params["model.maxIter"] == str(max_iter)  # Spark got the int
        assert float(child.data.params["model.regParam"]) == trial.params["model.regParam"]
        assert trial.params["model.regParam"] <= max_iter / 100
        assert float(child.data.params["model.elasticNetParam"]) == trial.params[
            "model.elasticNetParam"]
