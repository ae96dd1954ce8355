"""The Hydra callback that gives every multirun, whatever the sweeper, one ``Sweep``.

Registered as ``runner.sweep.SweepCallback`` under ``hydra.callbacks`` in conf/config.yaml (and
so in every logged config): that path must not change. The grid (Hydra's BasicSweeper) and
runner's Optuna sweeper share one mechanism: the callback opens the ``Sweep``, the task function
runs each job through ``Sweep.trial``, the callback reports each job's end and ends the sweep.
The Optuna sweeper finds the sweep on this callback (``of_callbacks``: Hydra hands a sweeper its
callbacks) and attaches its study to it (``Sweep.attach``).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from typing import Any

from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from runner.console import error
from runner.errors import RunnerError
from runner.sweep import report
from runner.sweep.state import Sweep

# Hydra gives the task function nothing but its job's config: the callback tells the job's
# thread its sweep when Hydra starts the job (in that thread), and takes it back at its end.
_job = threading.local()


class SweepCallback(Callback):
    """Hydra callback: one ``Sweep`` per multirun, progress per job, results at the end."""

    def __init__(self) -> None:
        self.sweep: Sweep | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        kind, swept, total = report.describe(config)
        self.sweep = Sweep(config, kind, swept, total)
        if kind == "grid":  # no study to re-attach to: the data is checked and the run opened
            _open_or_exit(self.sweep)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        _job.sweep = self.sweep

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        _job.sweep = None
        if self.sweep:
            self.sweep.job_ended(job_return)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.sweep:
            self.sweep.finish()


def _open_or_exit(sweep: Sweep) -> None:
    """Hydra turns a callback's exceptions into warnings and goes on, hence the exit here."""
    try:
        sweep.open()
    except RunnerError as exc:
        error(str(exc))
        sys.exit(1)


def current() -> Sweep | None:
    """The sweep of the job running in this thread, if any (for the task function)."""
    sweep: Sweep | None = getattr(_job, "sweep", None)
    return sweep


def of_callbacks(callbacks: Iterable[Any]) -> Sweep | None:
    """The sweep among a multirun's Hydra callbacks (for a sweeper)."""
    return next((c.sweep for c in callbacks if isinstance(c, SweepCallback)), None)
