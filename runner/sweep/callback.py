"""The Hydra callback that gives every multirun, whatever the sweeper, one ``Sweep``.

Registered as ``runner.sweep.SweepCallback`` under ``hydra.callbacks`` in conf/config.yaml (and
so in every logged config): that path must not change. The grid (Hydra's BasicSweeper) and
runner's Optuna sweeper share one mechanism: the callback opens the ``Sweep``, the task function
runs each job through ``Sweep.trial``, the callback reports each job's end and ends the sweep.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from runner.sweep import report
from runner.sweep.state import Sweep


class SweepCallback(Callback):
    """Hydra callback: one ``Sweep`` per multirun, progress per job, results at the end."""

    # Hydra builds this callback, the sweeper and the task function each on its own and gives
    # them no shared channel but the process: the sweep running in this process is kept here,
    # where Hydra starts and ends it, and found through ``current()``. A process runs one
    # multirun at a time.
    running: ClassVar[Sweep | None] = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        kind, swept, total = report.describe(config)
        SweepCallback.running = Sweep(config, kind, swept, total)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if SweepCallback.running:
            SweepCallback.running.job_ended(job_return)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if SweepCallback.running:
            SweepCallback.running.finish()


def current() -> Sweep | None:
    """The sweep this process is running, if any."""
    return SweepCallback.running
