"""A sweep's progress line, one per trial as it ends: n/N, its value or why it did not finish,
the best so far and its time."""

from __future__ import annotations

import time
from typing import Any

from hydra.core.utils import JobReturn, JobStatus

from runner.compat import hydra as compat_hydra
from runner.console import out
from runner.errors import TrialPruned, first_line
from runner.sweep.best import Best
from runner.sweep.objectives import Goals


class Progress:
    """Counts of this sweep's trials (resumed ones included) and the line each end prints."""

    def __init__(self, goals: Goals, total: int | None) -> None:
        self.goals, self.total = goals, total
        self.done = self.failed = self.pruned = 0
        self._last_end = time.perf_counter()  # a trial's time includes Hydra's and Optuna's share
        self._started: dict[int, float] = {}  # trial number -> when the sweeper asked for it

    def started(self, number: int) -> None:
        self._started[number] = time.perf_counter()

    def ended(self, job_return: JobReturn, best: Best | None) -> None:
        """Count the job and print its line."""
        self.done += 1
        now = time.perf_counter()
        number = int(job_return.hydra_cfg.hydra.job.num) if job_return.hydra_cfg else -1
        seconds, self._last_end = now - self._started.pop(number, self._last_end), now
        of = f"{self.done}/{self.total}" if self.total else str(self.done)
        if job_return.status == JobStatus.COMPLETED:
            outcome = self._outcome(job_return.return_value)
        else:
            outcome = self._not_finished(compat_hydra.job_error(job_return))
        shown = f"best={best.value:.4f} (trial {best.number})" if best else ""
        pruned = f"  ({self.pruned} pruned)" if self.pruned else ""
        out(f"[sweep] trial {of}  {outcome}  {shown}{pruned}  {seconds:.1f}s")

    def _not_finished(self, error: BaseException) -> str:
        if isinstance(error, TrialPruned):
            self.pruned += 1
            return f"PRUNED ({first_line(error)})"
        self.failed += 1
        return f"FAILED ({type(error).__name__}: {first_line(error)})"[:160]

    def _outcome(self, value: Any) -> str:
        if isinstance(value, (tuple, list)):
            return "  ".join(f"{o}={float(v):.4f}" for o, v in zip(self.goals.objectives, value,
                                                                   strict=False))
        return f"{self.goals.primary}={float(value):.4f}"

    def counts(self) -> dict[str, int]:
        """This process's trials by state (a grid sweep's summary: it has no study)."""
        return {"COMPLETE": self.done - self.failed - self.pruned, "PRUNED": self.pruned,
                "FAIL": self.failed, "INTERRUPTED": 0}
