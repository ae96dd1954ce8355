"""Real files as they come (issue 22), end to end with the real CLI: a palmerpenguins-shaped
file (``NA`` cells) trains with no key but its path and label, in a fresh HOME, printing only
runner's own lines; a sweep on its other label registers under its own name and leaves the
species champion alone. Two CLI runs share one store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from runner.spark import class_archive, quiet
from tests.palmer_support import write_palmer

pytestmark = pytest.mark.slow

SPECIES, SEX = "palmerpenguins-species", "palmerpenguins-sex"
LOG_RECORD = re.compile(r"^\[\d{4}-\d\d-\d\d [\d:,]+\]\[")  # Hydra's console log format
TIMEOUT = 600


@dataclass(frozen=True)
class Runs:
    root: Path
    first: subprocess.CompletedProcess[str]
    sweep: subprocess.CompletedProcess[str]


def _fresh_env(root: Path) -> dict[str, str]:
    """A new user's environment: a fresh HOME and no cache dirs (matplotlib, XDG), with the
    store in ``root``. The JVM class archive stays where the test session keeps it: writing a
    new one (~220 MB) is runner's own cache, not output a user sees."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "MPLCONFIGDIR")}
    env.update(HOME=str(root / "home"), RUNNER_CACHE_DIR=str(class_archive.cache_dir()),
               MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}")
    return env


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    root = tmp_path_factory.mktemp("real-files")
    path = write_palmer(root)
    runner = str(Path(sys.executable).parent / "runner")
    common = {"cwd": root, "env": _fresh_env(root), "capture_output": True, "text": True,
              "timeout": TIMEOUT, "check": False}
    first = subprocess.run([runner, f"data.path={path}", "data.label=species", "features=auto"],
                           **common)
    sweep = subprocess.run([runner, "-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=2",
                            "hydra.sweeper.sampler.seed=7", f"data.path={path}",
                            "data.label=sex", "features=auto", "spark.master='local[2]'",
                            "model.regParam=interval(0.0,0.1)",
                            # one validation part, one fit a trial: the subject is the names
                            "data.split.validation=0.25"], **common)
    return Runs(root, first, sweep)


def test_first_run_prints_runner_lines_only(runs: Runs) -> None:
    """No key but path and label: it trains (the NA cells missing, Spark's own LogisticRegression
    defaults), and the console holds runner's lines only: progress and notes on stderr, the
    summary on stdout; the JVM's, Spark's, netlib's, matplotlib's and MLflow's lines are in the
    job log."""
    import mlflow

    first = runs.first
    assert first.returncode == 0, first.stderr[-3000:]
    stray = [line for line in first.stderr.splitlines() if not line.startswith("runner: ")]
    assert stray == [], first.stderr
    out = first.stdout.splitlines()
    assert not [line for line in out if LOG_RECORD.match(line) or quiet.chatter(line)], out
    assert f"registered: {SPECIES} version 1" in out
    assert "accuracy" in out[1]  # the metrics table under its header
    (log,) = runs.root.glob("outputs/runs/*/*/runner.log")
    assert "Created version '1'" in log.read_text()
    mlflow.set_tracking_uri(f"sqlite:///{runs.root / 'mlflow.db'}")
    (run,) = mlflow.search_runs(experiment_names=[SPECIES], output_format="list")
    assert (run.data.params["model.maxIter"], run.data.params["model.regParam"]) == ("100", "0.0")


def test_sex_sweep_registers_its_own_name(runs: Runs) -> None:
    """The sweep on sex (whose NA labels are dropped) registers palmerpenguins-sex in its own
    experiment; the species champion is untouched."""
    from mlflow import MlflowClient

    sweep = runs.sweep
    assert sweep.returncode == 0, (sweep.stdout + sweep.stderr)[-3000:]
    assert f"[sweep] refit winner's model: {SEX} version 1 @champion" in sweep.stdout
    client = MlflowClient(f"sqlite:///{runs.root / 'mlflow.db'}")
    assert client.get_registered_model(SPECIES).aliases == {"champion": 1}
    assert len(client.search_model_versions(f"name='{SPECIES}'")) == 1
    assert client.get_registered_model(SEX).aliases == {"champion": 1}
    assert client.get_experiment_by_name(SEX) is not None
