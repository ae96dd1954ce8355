"""The Hydra Sweeper: its keys checked, the study opened (or resumed) and handed to runner's
sweep, then the ask/tell loop (loop.py) asks Optuna for trials, runs them as Hydra jobs and
tells Optuna how each ended.

With runner's sweep callback active (conf/config.yaml), the study and the MLflow parent run are
tied together: the sweeper hands runner's ``Sweep`` a view of the study (``runner.sweep.
StudyView``, here view.OptunaStudyView) and the parent's id is kept in the study, so a resumed
study logs into the same parent. Checks of the sweeper's keys live in checks.py, samplers.py,
pruners.py and space.py; the study's storage and life in storage.py and study.py; the results
file in results.py.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from runner import sweep as runner_sweep
from runner.compat import hydra as compat_hydra
from runner.console import out as say
from runner.errors import RunnerError
from runner.sweep import milestones

from . import checks, lock, loop, pruners, results, samplers
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
        self._loop(study, view, space, run).optimize(n_trials)
        return results.save(study, str(self.composed.hydra.sweep.dir))

    def _loop(self, study: optuna.Study, view: OptunaStudyView, space: space_mod.SearchSpace,
              run: runner_sweep.Sweep | None) -> loop.TrialLoop:
        assert self.hydra_context is not None
        jobs = loop.Jobs(self.hydra_context, self.task_function, self.composed, self.n_jobs,
                         self.max_failure_rate)
        return loop.TrialLoop(study, view, space, run, jobs, self._extend,
                              self.custom_search_space)

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
