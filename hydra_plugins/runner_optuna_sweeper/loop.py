"""The ask/tell loop: ``n_jobs`` trials running as Hydra jobs, each told to Optuna (its value,
PRUNED, or FAIL with its error) in the order it was asked."""

from __future__ import annotations

import math
from concurrent.futures import Future, as_completed, wait
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, NamedTuple

from hydra.core.utils import JobReturn, JobStatus
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, ListConfig

from runner import sweep as runner_sweep
from runner.compat import hydra as compat_hydra
from runner.errors import RunnerError, TrialPruned, first_line

from . import parallel
from . import space as space_mod
from . import study as study_mod
from .view import OptunaStudyView

if TYPE_CHECKING:  # optuna is imported when a sweep runs, not when Hydra scans its plugins
    import optuna


class Jobs(NamedTuple):
    """How trials run: Hydra's context and task, the sweep's config, trials at once. (Not a
    dataclass: Hydra imports this module outside sys.modules, see the package's docstring.)"""

    hydra_context: HydraContext
    task_function: TaskFunction
    config: DictConfig
    n_jobs: int
    max_failure_rate: float


class TrialLoop:
    """One sweep's trials, asked, run and told; ``run`` is runner's sweep (None: another app)."""

    def __init__(self, study: optuna.Study, view: OptunaStudyView, space: space_mod.SearchSpace,
                 run: runner_sweep.Sweep | None, jobs: Jobs,
                 extend: space_mod.CustomSearchSpace | None, custom: str | None) -> None:
        self.study, self.view, self.space, self.run, self.jobs = study, view, space, run, jobs
        self._extend, self._custom = extend, custom

    def optimize(self, n_trials: int) -> None:
        """Keep ``n_jobs`` trials running, told in the order they were asked.

        Trial k is asked right after trial k - n_jobs is told, so the sampler sees the same
        finished trials at every ask whatever the trials' timing: a seeded sweep asks for the
        same trials run after run, with any n_jobs (a trial that ends early waits to be told).
        """
        running: dict[Future[JobReturn], optuna.Trial] = {}  # in the order asked
        untold: list[int] = []  # asked, not told: marked interrupted if the sweep stops
        try:
            with self._pool() as pool, self._threads():
                while True:
                    while (len(running) < self.jobs.n_jobs
                           and study_mod.counted(self.study) + len(running) < n_trials):
                        trial = self._ask()
                        untold.append(trial.number)
                        overrides = space_mod.overrides(trial, self.space)
                        running[pool.submit(trial.number, overrides)] = trial
                    if not running:
                        break
                    oldest = next(iter(running))
                    wait([oldest])
                    trial = running.pop(oldest)
                    self._record(trial, oldest.result())
                    untold.remove(trial.number)
                    self._check_failures(n_trials)
        except BaseException as exc:
            self._stop(running, untold)
            if self.run:
                self.run.finish("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
            raise
        if self.run:
            self.run.finish()

    def _ask(self) -> optuna.Trial:
        trial = self.study.ask(self.space.distributions)
        space_mod.configure_trial(trial, self.space, self._extend, self.jobs.config,
                                  self._custom)
        self.view.running(trial)
        if self.run:
            self.run.trial_started(trial.number)
        return trial

    def _pool(self) -> parallel.JobPool:
        jobs = self.jobs
        return parallel.JobPool(jobs.hydra_context, jobs.task_function, jobs.config, jobs.n_jobs)

    def _threads(self) -> AbstractContextManager[None]:
        return parallel.per_thread_hydra_config() if self.jobs.n_jobs > 1 else nullcontext()

    def _stop(self, running: dict[Future[JobReturn], optuna.Trial], untold: list[int]) -> None:
        """Trials still running are cancelled and waited for (none may stay RUNNING); one that
        ended anyway is told, the others are marked interrupted (they do not count)."""
        if self.run:
            self.run.cancel_trials()
        for future in as_completed(running):
            trial = running[future]
            ret = future.result() if future.exception() is None else None
            if ret is not None and (ret.status == JobStatus.COMPLETED
                                    or isinstance(compat_hydra.job_error(ret), TrialPruned)):
                self._record(trial, ret)
                untold.remove(trial.number)
        study_mod.mark_interrupted(self.study, untold)

    def _record(self, trial: optuna.Trial, ret: JobReturn) -> None:
        """Tell Optuna how the trial ended: its value(s), PRUNED, or FAIL with its error."""
        from optuna.trial import TrialState

        self.view.ended(trial.number)
        run_id = self.run.run_id_of(trial.number) if self.run else None
        if run_id:
            trial.set_user_attr("mlflow_run_id", run_id)
        values, error = _values(ret, len(self.study.directions))
        if isinstance(error, TrialPruned):
            study_mod.tell(self.study, trial, state=TrialState.PRUNED)
        elif error is not None:
            trial.set_user_attr("error", first_line(error) if isinstance(error, BaseException)
                                else str(error))
            study_mod.tell(self.study, trial, state=TrialState.FAIL)
        else:
            study_mod.tell(self.study, trial, values[0] if len(values) == 1 else values)

    def _check_failures(self, n_trials: int) -> None:
        failures = study_mod.failed(self.study)
        rate = self.jobs.max_failure_rate
        if failures > rate * n_trials:
            raise RunnerError(
                f"sweep stopped: {failures} trial(s) failed, more than max_failure_rate="
                f"{rate} of {n_trials} trials allow (raise hydra.sweeper.max_failure_rate to go "
                "on); each failed run keeps its error")


def _values(ret: JobReturn, expected: int) -> tuple[list[float], Any]:
    """The job's value(s) for Optuna, or why the trial did not give them: its error (a
    TrialPruned when its pruner stopped it), a NaN, or another count of values than the study's
    directions."""
    if ret.status != JobStatus.COMPLETED:
        return [], compat_hydra.job_error(ret)
    raw = ret.return_value
    values = ([float(v) for v in raw] if isinstance(raw, (list, tuple, ListConfig))
              else [float(raw)])
    if len(values) != expected:
        return values, (f"the task returned {len(values)} value(s) for {expected} "
                        "hydra.sweeper.direction(s)")
    if any(math.isnan(v) for v in values):
        return values, "value is NaN"
    return values, None
