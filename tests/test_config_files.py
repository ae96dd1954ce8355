"""Every packaged model and features config composes and passes the JVM-free checks; every config
in tests/configs/invalid fails with the message it names, at the step it names.

An invalid config is a ``# @package _global_`` file applied like an experiment; its header says
``# raised-by: compose|check|build`` and ``# error: <substring of the message>``. ``compose`` and
``check`` errors come before any JVM starts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from runner import data, train
from runner.config.schemas import register_configs
from runner.data import DataSpec
from runner.errors import RunnerError
from tests.conftest import make_config, repo_root

CONF = repo_root() / "runner" / "conf"
INVALID = Path(__file__).parent / "configs" / "invalid"
MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
FEATURES = sorted(p.stem for p in (CONF / "features").glob("*.yaml"))


def _header(path: Path, key: str) -> str:
    match = re.search(rf"^# {key}: (.+)$", path.read_text(), re.MULTILINE)
    assert match, f"{path.name} has no '# {key}:' line"
    return match.group(1).strip()


def _compose_invalid(name: str):
    return make_config([f"hydra.searchpath=[file://{INVALID.parent}]", f"+invalid={name}"])


@pytest.mark.parametrize("name", MODELS)
def test_model_config_composes_and_checks(name: str) -> None:
    cfg = make_config([f"model={name}"])
    train.check(cfg, DataSpec.resolve(cfg.data))
    assert cfg.model._target_.startswith("pyspark.ml.classification.")
    first = (CONF / "model" / f"{name}.yaml").read_text().splitlines()[0]
    assert first.startswith("# ")
    assert "runner model=" in first


@pytest.mark.parametrize("name", FEATURES)
def test_features_config_composes_and_checks(name: str) -> None:
    cfg = make_config([f"features={name}"])
    train.check(cfg, DataSpec.resolve(cfg.data))
    assert (CONF / "features" / f"{name}.yaml").read_text().startswith("# ")


def test_models_with_a_seed_take_the_run_seed() -> None:
    for name in ("decision_tree", "random_forest", "gbt", "mlp", "fm"):
        assert make_config([f"model={name}", "seed=7"]).model.seed == 7


def test_naive_bayes_defaults_to_gaussian() -> None:
    assert make_config(["model=naive_bayes"]).model.modelType == "gaussian"


@pytest.mark.parametrize("path", sorted(INVALID.glob("*.yaml")), ids=lambda p: p.stem)
def test_invalid_config_raises(path: Path, request: pytest.FixtureRequest) -> None:
    step, error = _header(path, "raised-by"), _header(path, "error")
    if step == "compose":
        with pytest.raises((HydraException, OmegaConfBaseException), match=re.escape(error)):
            _compose_invalid(path.stem)
        return
    cfg = _compose_invalid(path.stem)
    if step == "check":
        with pytest.raises(RunnerError, match=re.escape(error)):
            train.check(cfg, DataSpec.resolve(cfg.data))
        return
    assert step == "build", f"{path.name}: raised-by must be compose, check or build"
    train.check(cfg, DataSpec.resolve(cfg.data))  # a build error must get past every JVM-free check
    spark = request.getfixturevalue("spark")
    spec = DataSpec.resolve(cfg.data)
    dataset = data.load(spark, spec)
    with pytest.raises(RunnerError, match=re.escape(error)):
        train.build_pipeline(cfg, spec, dataset)


def test_cli_refuses_a_disallowed_target_before_the_jvm(tmp_path: Path) -> None:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    runner = Path(sys.executable).parent / "runner"
    start = time.monotonic()
    done = subprocess.run([str(runner), "model._target_=os.system"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    elapsed = time.monotonic() - start
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "runner: error: model._target_='os.system' is not allowed: not a pyspark.ml stage module; "
        "runner builds only public estimator and transformer classes of pyspark.ml.feature, "
        "pyspark.ml.classification, pyspark.ml.regression, pyspark.ml.clustering"
    ]
    assert elapsed < 30, f"took {elapsed:.1f} s: did a JVM start?"
    assert not (tmp_path / "mlflow.db").exists()


def _with_hydra(overrides: list[str]):
    """The composed config including its ``hydra`` node (sweeper settings)."""
    register_configs()
    with initialize_config_module(config_module="runner.conf", version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


@pytest.mark.parametrize("name", ["penguins_rf", "penguins_gbt", "penguins_mlp"])
def test_search_space_composes_and_every_key_is_a_model_param(name: str) -> None:
    space = pytest.importorskip("hydra_plugins.runner_optuna_sweeper.space")
    cfg = _with_hydra([f"hparams_search={name}"])
    assert cfg.hydra.sweeper.direction == "maximize"  # Any-typed: a name, or a list of names
    parsed = space.parse([f"{k}={v}" for k, v in cfg.hydra.sweeper.params.items()])
    assert parsed.distributions, "no search space"
    # one trial at the low end of every range and the last choice: composes and checks
    trial = []
    for key, dist in parsed.distributions.items():
        assert key.removeprefix("model.") in cfg.model, f"{name}: {key} is not a model param"
        trial.append(f"{key}={dist.choices[-1] if hasattr(dist, 'choices') else dist.low}")
    trial_cfg = make_config([f"hparams_search={name}", *trial])
    train.check(trial_cfg, DataSpec.resolve(trial_cfg.data))


def test_model_comparison_sweeps_every_model() -> None:
    cfg = _with_hydra(["experiment=model_comparison"])
    assert sorted(str(cfg.hydra.sweeper.params.model).split(",")) == MODELS
