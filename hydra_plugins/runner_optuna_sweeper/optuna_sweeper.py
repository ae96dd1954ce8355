"""The Hydra Sweeper: ask Optuna for a trial, launch it as a Hydra job, tell Optuna its value.

With runner's sweep callback active (conf/config.yaml), the study and the MLflow parent run are
tied together: the sweeper hands runner's ``Sweep`` a view of the study (``runner.sweep.
StudyView``, here view.OptunaStudyView) and the parent's id is kept in the study, so a resumed
study logs into the same parent. Checks of the sweeper's keys live in checks.py, samplers.py,
pruners.py and space.py; the study's storage and life in storage.py and study.py.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Mapping
from concurrent.futures import Future, as_completed, wait
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, ListConfig, OmegaConf

from runner import sweep as runner_sweep
from runner.compat import hydra as compat_hydra
from runner.console import out as say
from runner.errors import RunnerError, TrialPruned, first_line
from runner.sweep import milestones

from . import checks, lock, parallel, pruners, results, samplers
from . import space as space_mod
from . import storage as storage_mod
from . import study as study_mod
from .view import OptunaStudyView

if TYPE_CHECKING:  # optuna is imported when a sweep runs, not when Hydra scans its plugins
    import optuna
    from optuna.pruners import BasePruner

log = logging.getLogger(__name__)


class OptunaSweeper(Sweeper):
    def __init__(self, sampler: Any, direction: Any, storage: str | None, study_name: str | None,
                 new_study: bool, n_trials: int, n_jobs: int, max_failure_rate: float,
                 params: DictConfig | None, custom_search_space: str | None = None,
                 pruner: Any = None) -> None:
        self.sampler_cfg, self.pruner_cfg = sampler, pruner
        self.direction = direction  # parsed by _validate, where a mistake is one line
        self.directions: list[str] = []
        self.storage, self.study_name, self.new_study = storage, study_name, new_study
        self.n_trials, self.n_jobs = n_trials, n_jobs
        self.max_failure_rate = max_failure_rate
        self.params: Mapping[Any, Any] = params or {}
        self.custom_search_space = custom_search_space
        self._extend: space_mod.CustomSearchSpace | None = None
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None

    @property
    def composed(self) -> DictConfig:
        """The sweep's config, which Hydra hands ``setup``."""
        if self.config is None:
            raise RuntimeError("OptunaSweeper.setup was not called")
        return self.config

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        # Trials run in this process (they share its SparkSession) through parallel.JobPool,
        # not through a launcher: a launcher runs batches, and the next batch would wait for
        # the slowest trial of the last.
        self.config, self.hydra_context, self.task_function = (config, hydra_context,
                                                                task_function)
        if self.n_jobs > 1 and config.hydra.job.chdir:
            say(f"[sweep] hydra.job.chdir=true: trials run one at a time, not n_jobs="
                f"{self.n_jobs} (threads share the process's working directory)")
            self.n_jobs = 1

    def sweep(self, arguments: list[str]) -> Any:
        try:
            return self._sweep(arguments)
        except RunnerError as exc:  # a user error: one message, no traceback
            sys.exit(f"runner: error: {exc}")

    def _sweep(self, arguments: list[str]) -> Any:
        self._validate()
        storage = storage_mod.storage_url(self.storage)
        config = self.composed
        # runner's default study is its experiment's (named after data.name): sweeps of
        # different data sets in one storage never share a study; other apps: the job name
        name = self.study_name or str(OmegaConf.select(config, "tracking.experiment_name",
                                                       default=None) or config.hydra.job.name)
        # one sweep of a study at a time, refused here: before the JVM, the MLflow store and
        # the imports of SQLAlchemy and Optuna (seconds); two copies would tell each other's
        # trials and register twice
        sweep_lock = lock.SweepLock(storage, name)
        sweep_lock.acquire()
        try:
            storage_mod.check_storage(storage)
            space = space_mod.parse([f"{k}={v}" for k, v in self.params.items()]
                                    + list(arguments))
            if not space.distributions:
                raise RunnerError("nothing to search: give hydra.sweeper.params or sweep "
                                  "overrides such as 'model.regParam=interval(0.001,1.0)'")
            # the search space, sampler, pruner and custom function: checked before a JVM starts
            space_mod.check_types(space, config)
            self._sampler(space, 0)
            pruner = self._pruner()
            self._extend = space_mod.custom_search_space(self.custom_search_space)
            return self._run_study(space, storage, name, sweep_lock, pruner)
        finally:
            sweep_lock.release()

    def _validate(self) -> None:
        """The sweeper's own keys, checked before anything starts (one line each)."""
        checks.check_counts(self.n_trials, self.n_jobs, self.max_failure_rate)
        self.directions = checks.directions(self.direction, self.composed)

    def _run_study(self, space: space_mod.SearchSpace, storage: str, name: str,
                   sweep_lock: lock.SweepLock, pruner: BasePruner) -> Any:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        n_trials = self._n_trials(space)
        wanted = study_mod.fingerprint(space, self.composed, self.directions)
        milestones.reached("storage")
        study = study_mod.open_study(storage_mod.open_storage(storage), name, self.new_study,
                                     wanted)
        study.pruner = pruner
        sweep_lock.heartbeat(study)
        view = OptunaStudyView(study, pruners.per_fold(pruner))
        run = self._attach(study, view, space, n_trials, storage)
        recovered = study_mod.tell_finished(study, run.finished_before() if run else {})
        pruned = study_mod.tell_pruned(study, run.pruned_before() if run else set())
        killed = study_mod.fail_interrupted(study)
        study.sampler = self._sampler(space, len(study.trials))
        done = study_mod.counted(study)
        if run:
            run.resume_at(done)
        say(f"[sweep] study {study.study_name!r} in {storage}: "
            f"{'resuming at' if study.trials else 'new,'} {done}/{n_trials} trials"
            + (f" ({recovered + pruned} trial(s) that ended before the interruption told)"
               if recovered + pruned else "")
            + (f" ({killed} interrupted trial(s) marked FAIL)" if killed else ""))
        self._optimize(study, view, space, n_trials, run)
        return results.save(study, str(self.composed.hydra.sweep.dir))

    def _n_trials(self, space: space_mod.SearchSpace) -> int:
        if not self._is_grid():
            return self.n_trials
        size = math.prod(len(v) for v in space_mod.grid(space.distributions).values())
        return min(self.n_trials, size)

    def _is_grid(self) -> bool:
        return str(self.sampler_cfg.get("_target_", "")).endswith("GridSampler")

    def _sampler(self, space: space_mod.SearchSpace, existing: int) -> Any:
        group = self.composed.hydra.runtime.choices.get("hydra/sweeper/sampler")
        return samplers.build(self.sampler_cfg, space, existing, group, len(self.directions))

    def _pruner(self) -> BasePruner:
        group = self.composed.hydra.runtime.choices.get("hydra/sweeper/pruner")
        return pruners.build(self.pruner_cfg, group, len(self.directions))

    def _attach(self, study: optuna.Study, view: OptunaStudyView, space: space_mod.SearchSpace,
                n_trials: int, storage: str) -> runner_sweep.Sweep | None:
        """Hand runner's sweep the study's view and open its (possibly resumed) parent run."""
        assert self.hydra_context is not None
        run = runner_sweep.of_callbacks(compat_hydra.callbacks(self.hydra_context))
        if run is None:
            return None
        run.attach(view, list(space.distributions), n_trials)
        # the parent is tagged with the study's uid before its id is stored in the study: a
        # kill in between leaves a parent the next run finds by the tag and adopts
        key = runner_sweep.StudyKey(f"{storage_mod.shown_url(storage)}#{study.study_name}",
                                    str(study.user_attrs[study_mod.UID_ATTR]))
        parent = run.open(study.user_attrs.get(study_mod.PARENT_ATTR), key)
        if study.user_attrs.get(study_mod.PARENT_ATTR) != parent:
            study.set_user_attr(study_mod.PARENT_ATTR, parent)
        return run

    def _optimize(self, study: optuna.Study, view: OptunaStudyView,
                  space: space_mod.SearchSpace, n_trials: int,
                  run: runner_sweep.Sweep | None) -> None:
        """Keep ``n_jobs`` trials running, told in the order they were asked.

        Trial k is asked right after trial k - n_jobs is told, so the sampler sees the same
        finished trials at every ask whatever the trials' timing: a seeded sweep asks for the
        same trials run after run, with any n_jobs (a trial that ends early waits to be told).
        """
        running: dict[Future[JobReturn], optuna.Trial] = {}  # in the order asked
        untold: list[int] = []  # asked, not told: marked interrupted if the sweep stops
        try:
            with self._jobs() as jobs, self._threads():
                while True:
                    while (len(running) < self.n_jobs
                           and study_mod.counted(study) + len(running) < n_trials):
                        trial = self._ask(study, view, space, run)
                        untold.append(trial.number)
                        running[jobs.submit(trial.number, self._overrides(trial, space))] = trial
                    if not running:
                        break
                    oldest = next(iter(running))
                    wait([oldest])
                    trial = running.pop(oldest)
                    self._record(study, view, trial, oldest.result(), run)
                    untold.remove(trial.number)
                    self._check_failures(study, n_trials)
        except BaseException as exc:
            self._stop(study, view, running, untold, run)
            if run:
                run.finish("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
            raise
        if run:
            run.finish()

    def _ask(self, study: optuna.Study, view: OptunaStudyView, space: space_mod.SearchSpace,
             run: runner_sweep.Sweep | None) -> optuna.Trial:
        trial = study.ask(space.distributions)
        space_mod.configure_trial(trial, space, self._extend, self.composed,
                                  self.custom_search_space)
        view.running(trial)
        if run:
            run.trial_started(trial.number)
        return trial

    def _jobs(self) -> parallel.JobPool:
        assert self.hydra_context is not None
        return parallel.JobPool(self.hydra_context, self.task_function, self.composed,
                                self.n_jobs)

    def _threads(self) -> AbstractContextManager[None]:
        return parallel.per_thread_hydra_config() if self.n_jobs > 1 else nullcontext()

    def _stop(self, study: optuna.Study, view: OptunaStudyView,
              running: dict[Future[JobReturn], optuna.Trial], untold: list[int],
              run: runner_sweep.Sweep | None) -> None:
        """Trials still running are cancelled and waited for (none may stay RUNNING); one that
        ended anyway is told, the others are marked interrupted (they do not count)."""
        if run:
            run.cancel_trials()
        for future in as_completed(running):
            trial = running[future]
            ret = future.result() if future.exception() is None else None
            if ret is not None and (ret.status == JobStatus.COMPLETED
                                    or isinstance(compat_hydra.job_error(ret), TrialPruned)):
                self._record(study, view, trial, ret, run)
                untold.remove(trial.number)
        study_mod.mark_interrupted(study, untold)

    @staticmethod
    def _overrides(trial: optuna.Trial, space: space_mod.SearchSpace) -> list[str]:
        sampled = [space_mod.as_override(k, v) for k, v in trial.params.items()]
        return sampled + [f"{k}={v}" for k, v in space.fixed.items()]

    @staticmethod
    def _record(study: optuna.Study, view: OptunaStudyView, trial: optuna.Trial,
                ret: JobReturn, run: runner_sweep.Sweep | None) -> None:
        """Tell Optuna how the trial ended: its value(s), PRUNED, or FAIL with its error."""
        from optuna.trial import TrialState

        view.ended(trial.number)
        run_id = run.run_id_of(trial.number) if run else None
        if run_id:
            trial.set_user_attr("mlflow_run_id", run_id)
        values, error = _values(ret, len(study.directions))
        if isinstance(error, TrialPruned):
            study_mod.tell(study, trial, state=TrialState.PRUNED)
        elif error is not None:
            trial.set_user_attr("error", first_line(error) if isinstance(error, BaseException)
                                else str(error))
            study_mod.tell(study, trial, state=TrialState.FAIL)
        else:
            study_mod.tell(study, trial, values[0] if len(values) == 1 else values)

    def _check_failures(self, study: optuna.Study, n_trials: int) -> None:
        failures = study_mod.failed(study)
        if failures > self.max_failure_rate * n_trials:
            raise RunnerError(
                f"sweep stopped: {failures} trial(s) failed, more than max_failure_rate="
                f"{self.max_failure_rate} of {n_trials} trials allow (raise "
                "hydra.sweeper.max_failure_rate to go on); each failed run keeps its error")


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
