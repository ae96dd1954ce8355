"""The sweeper's routing of runner's lines to each trial's own ``runner.log`` (issue #15's
leftover), in threads (ThreadJobLogs). End to end, with trials one at a time and in threads:
tests/test_sweep_cli.py (``_assert_trial_logs``)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from omegaconf import OmegaConf

from hydra_plugins.runner_optuna_sweeper.job_log import ThreadJobLogs, file_handlers
from runner import console


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
