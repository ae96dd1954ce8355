"""Each sweep trial's own ``runner.log`` holds that trial's progress lines (issue #15's leftover),
with trials one at a time (Hydra's per-job logging) and in threads (the sweeper's
ThreadJobLogs)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from hydra_plugins.runner_optuna_sweeper.job_log import ThreadJobLogs, file_handlers
from runner import console

# a trial scores on the sweep's validation folds (issue #21): no test-split evaluation
STEPS = ("Spark session, MLflow store and data ready:", "scored on 3-fold cross-validation (")


def _job_logging(path: Path) -> dict:
    """Hydra's default job logging config (hydra/job_logging=default), file at ``path``."""
    return {"version": 1,
            "formatters": {"simple": {"format": "[%(name)s][%(levelname)s] - %(message)s"}},
            "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "simple",
                                     "stream": "ext://sys.stdout"},
                         "file": {"class": "logging.FileHandler", "formatter": "simple",
                                  "filename": str(path)}},
            "root": {"level": "INFO", "handlers": ["console", "file"]},
            "disable_existing_loggers": False}


def test_file_handlers_takes_only_the_files(tmp_path: Path) -> None:
    handlers = file_handlers(OmegaConf.create(_job_logging(tmp_path / "runner.log")))
    try:
        assert [type(h) for h in handlers] == [logging.FileHandler]
        assert handlers[0].baseFilename == str(tmp_path / "runner.log")
    finally:
        for handler in handlers:
            handler.close()


def test_each_thread_writes_its_own_trial_log(tmp_path: Path) -> None:
    router = ThreadJobLogs()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)  # as Hydra's logging config sets it
    root.addHandler(router)
    barrier = threading.Barrier(2)

    def trial(number: int) -> None:
        config = OmegaConf.create(_job_logging(tmp_path / f"{number}.log"))
        with router.opened(config):
            barrier.wait()  # both trials' files are open at once
            console.to_job_log(f"trial {number} line")
            barrier.wait()

    threads = [threading.Thread(target=trial, args=(n,)) for n in (0, 1)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        console.to_job_log("the sweep's own line")  # no trial in this thread: no file
    finally:
        root.removeHandler(router)
        root.setLevel(level)
    for number in (0, 1):
        lines = (tmp_path / f"{number}.log").read_text().splitlines()
        assert lines == [f"[runner][INFO] - trial {number} line"]


@pytest.mark.slow
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_sweep_trials_write_their_own_runner_log(tmp_path: Path, n_jobs: int) -> None:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    args = ["hydra/sweeper=optuna", "hydra.sweeper.n_trials=2", f"hydra.sweeper.n_jobs={n_jobs}",
            "hydra.sweeper.sampler.seed=7", "spark.master='local[2]'",
            "model.regParam=interval(0.001,1.0)"]
    done = subprocess.run([sys.executable, "-m", "runner.cli", "-m", *args], cwd=tmp_path,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=400, check=False)
    assert done.returncode == 0, done.stdout
    logs = sorted((tmp_path / "outputs" / "multirun").glob("*/*/[0-9]*/runner.log"))
    assert [log.parent.name for log in logs] == ["0", "1"], done.stdout
    for log in logs:
        text = log.read_text()
        for step in STEPS:
            assert text.count(f"runner: {step}") == 1, f"{log}:\n{text}"
    # the console keeps its one line per trial
    assert "pipeline fitted" not in done.stdout
