"""One multirun's state: its MLflow parent run, progress, the best trial, and its end.

The parent run opens lazily, at the first trial, so that the Optuna sweeper can first re-attach
it to the parent run of the study it resumes. The sweep holds the ``RunContext`` its trials in
this process share: the data is read and split once, feature stages fitted once per config.
"""

from __future__ import annotations

import atexit
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import DictConfig, OmegaConf

from runner import spark, tracking, train
from runner.compat import hydra as compat_hydra
from runner.config import value_of
from runner.console import out
from runner.context import RunContext
from runner.errors import first_line
from runner.sweep import best as best_mod
from runner.sweep import report, trials
from runner.sweep.faults import kill_point
from runner.sweep.objectives import Goals
from runner.sweep.runs import STUDY_TAG, STUDY_UID_TAG, split_overrides, trial_number


@dataclass(frozen=True)
class StudyKey:
    """Which Optuna study a parent run belongs to: a label for people, a uid to find it by."""

    label: str
    uid: str


class Sweep:
    """State of one multirun: its parent run, progress, and the best trial's model."""

    def __init__(self, config: DictConfig, kind: str, swept: list[str], total: int | None) -> None:
        self.config = config  # the multirun's primary config (task keys plus hydra)
        self.kind, self.swept, self.total = kind, swept, total
        self.done = self.failed = 0
        self.goals = Goals.of(config.evaluation, kind)
        self.parent_run_id: str | None = None
        self.experiment = ""
        self.best: best_mod.Best | None = None
        self.study: Any = None  # an optuna Study, set by the Optuna sweeper for the plots
        # set by the Optuna sweeper, whose study is the truth: trial number -> the MLflow status
        # its run must end with, and Optuna's best trial number
        self.outcomes: Callable[[], dict[int, str]] | None = None
        self.best_trial: Callable[[], int | None] | None = None
        # multi-objective: the trial numbers on Optuna's Pareto front (study.best_trials)
        self.front: Callable[[], set[int]] | None = None
        self.run_ids: dict[int, str] = {}  # trial number -> child run id, this process's trials
        # trial number -> (child run id, objective values) of the runs a resumed parent holds
        # FINISHED
        self.finished_before: dict[int, tuple[str, tuple[float, ...]]] = {}
        self.finished = False
        self.context = RunContext()  # shared by this process's trials
        self._jobs = trials.JobGroups()
        self._preloading = False  # the end's modules are being imported (preload_end)
        self._last_end = time.perf_counter()  # a trial's time includes Hydra's and Optuna's share
        self._started: dict[int, float] = {}  # trial number -> when the sweeper asked for it
        # Trials may run in threads (hydra.sweeper.n_jobs): progress, best trial and the parent
        # run change under this lock.
        self._lock = threading.RLock()

    @property
    def primary(self) -> str:
        return self.goals.primary

    @property
    def objectives(self) -> list[str]:
        return list(self.goals.objectives)

    @property
    def multi(self) -> bool:
        return self.goals.multi

    def open(self, resume_run_id: str | None = None, study: StudyKey | None = None) -> str:
        """Create the parent run, or re-attach to ``resume_run_id`` if the store has it, or to
        the parent run tagged with ``study``'s uid (created by a run killed before it stored
        the parent's id)."""
        with self._lock:
            return self.parent_run_id or self._open(resume_run_id, study)

    def _open(self, resume_run_id: str | None, study: StudyKey | None) -> str:
        tracking.check_store(self.config.tracking.uri)  # an unreachable server: before the JVM
        # the JVM starts, and reads the data unless it is swept, while MLflow sets up its store
        if any(key.lstrip("+~").split(".")[0] == "data" for key in self.swept):
            spark.start_async(self.config.spark)
        else:
            train.prefetch(self.config, self.context)
        tracking.configure(self.config.tracking)
        self.experiment = tracking.experiment_id(self.config.tracking.experiment_name)
        resumed = resume_run_id is not None and tracking.reopen_parent(resume_run_id)
        adopt = (None if resumed or study is None
                 else tracking.find_parent(self.experiment, STUDY_UID_TAG, study.uid))
        if resumed and resume_run_id is not None:
            self.parent_run_id = resume_run_id
            self._resume()
        elif adopt is not None and tracking.reopen_parent(adopt):
            self.parent_run_id = adopt
            self._log_sweep_inputs()  # the killed run may not have logged them
            self._resume()
        else:
            tags = self._tags() | ({STUDY_TAG: study.label, STUDY_UID_TAG: study.uid}
                                   if study else {})
            self.parent_run_id = tracking.start_parent(self.experiment, self._name(), tags)
            kill_point("parent-run")
            self._log_sweep_inputs()
        atexit.register(self._end_on_exit)  # a Ctrl-C or a crash must not leave it RUNNING
        assert self.parent_run_id is not None
        return self.parent_run_id

    def _name(self) -> str:
        return str(self.config.tracking.run_name or f"{self.kind}-sweep")

    def _tags(self) -> dict[str, str]:
        spark_cfg = self.config.spark
        tags = tracking.standard_tags(str(spark_cfg.remote or spark_cfg.master))
        return {**tags, **dict(self.config.tracking.tags), tracking.SWEEP_TAG + "kind": self.kind}

    def _log_sweep_inputs(self) -> None:
        assert self.parent_run_id
        overrides = list(self.config.hydra.overrides.task)  # the command's, not a job's
        params = {f"sweep.{k}": v for k, v in split_overrides(overrides).items()}
        params.update(report.sweeper_params(self.config.hydra.sweeper))
        tracking.log_to_run(self.parent_run_id, params=params)
        tracking.log_run_text(self.parent_run_id, "\n".join(overrides) + "\n",
                              tracking.OVERRIDES_ARTIFACT)
        task_cfg = {k: v for k, v in self.config.items() if k != "hydra"}
        tracking.log_run_text(self.parent_run_id, OmegaConf.to_yaml(task_cfg),
                              tracking.CONFIG_ARTIFACT)

    def _resume(self) -> None:
        """Trials an interruption left RUNNING become KILLED; the best so far comes back."""
        assert self.parent_run_id
        children = tracking.child_runs(self.experiment, self.parent_run_id)
        killed = tracking.kill_running(children)
        if killed:
            out(f"[sweep] {killed} trial run(s) an interruption left RUNNING: KILLED")
        best = self._best_child(children)
        objectives = self.goals.objectives
        if best:
            self.best = best_mod.Best(
                best.metrics[self.primary], best.run_id, trial_number(best),
                values=tuple(best.metrics.get(o, math.nan) for o in objectives))
        self.finished_before = {
            trial_number(c): (c.run_id, tuple(c.metrics[o] for o in objectives))
            for c in children
            if c.status == "FINISHED" and all(o in c.metrics for o in objectives)}

    def trial_started(self, number: int) -> None:
        """The sweeper asked for trial ``number``: its time counts from now."""
        with self._lock:
            self._started[number] = time.perf_counter()

    def trial(self, cfg: DictConfig, overrides: list[str]) -> float | tuple[float, ...]:
        """Run one job as a child run; keep its fitted model in memory only if it is the best.
        Returns the primary metric, or every objective's value in a multi-objective sweep."""
        parent = self.open()
        number = int(HydraConfig.get().job.num)
        done = trials.run(cfg, overrides, number, parent, self.swept, self.kind, self.goals,
                          self.context, self._jobs)
        kill_point("trial-ended")
        result, values = done.result, done.values
        with self._lock:
            self.run_ids[number] = result.run_id
            if best_mod.beats(self.goals, self.best, result.value, values):
                keep = value_of(cfg.tracking.log_models) == "best"
                self.best = best_mod.Best(result.value, result.run_id, number,
                                          cfg if keep else None, done.fitted if keep else None,
                                          values)
        return values if self.multi else result.value

    def cancel_trials(self) -> None:
        """Cancel the Spark jobs of trials still running (the sweep is stopping)."""
        self._jobs.cancel()

    def job_ended(self, job_return: JobReturn) -> None:
        """One progress line per trial: n/N, value, best so far."""
        with self._lock:
            self._job_ended(job_return)

    def _job_ended(self, job_return: JobReturn) -> None:
        self.done += 1
        if not self._preloading:  # after the cold first trial, while the JVM uses one core
            self._preloading = True
            report.preload_end()
        now = time.perf_counter()
        number = int(job_return.hydra_cfg.hydra.job.num) if job_return.hydra_cfg else -1
        seconds, self._last_end = now - self._started.pop(number, self._last_end), now
        of = f"{self.done}/{self.total}" if self.total else str(self.done)
        if job_return.status == JobStatus.COMPLETED:
            outcome = self._outcome(job_return.return_value)
        else:
            self.failed += 1
            error = compat_hydra.job_error(job_return)
            outcome = f"FAILED ({type(error).__name__}: {first_line(error)})"[:160]
        best = f"best={self.best.value:.4f} (trial {self.best.number})" if self.best else ""
        out(f"[sweep] trial {of}  {outcome}  {best}  {seconds:.1f}s")
        if self.kind == "grid" and self.total and self.done >= self.total:
            self.finish()  # BasicSweeper raises after the batch when a job failed

    def _outcome(self, value: Any) -> str:
        if isinstance(value, (tuple, list)):
            return "  ".join(f"{o}={float(v):.4f}" for o, v in zip(self.objectives, value,
                                                                   strict=False))
        return f"{self.primary}={float(value):.4f}"

    def front_numbers(self) -> set[int] | None:
        """Trial numbers on a multi-objective sweep's Pareto front; None for one objective."""
        return self.front() if self.multi and self.front else None

    def finish(self, status: str = "FINISHED") -> None:
        """Log the best model, the summary, the trials table and plots; end the parent run."""
        with self._lock:
            if self.finished or not self.parent_run_id:
                return
            self.finished = True
        parent = self.parent_run_id
        children = self._reconcile(tracking.child_runs(self.experiment, parent))
        best = self._best_child(children)
        front = self.front_numbers()
        # the best model's logging (mostly Spark's and MLflow's I/O) runs beside the report
        # (Optuna's plots, drawn with pyplot, which wants this thread)
        with ThreadPoolExecutor(1, thread_name_prefix="best-model") as pool:
            model = None
            if best is not None:
                session = spark.active_session()  # none when no trial ran in this process
                task = (spark.in_thread(session, best_mod.log_best_model) if session
                        else best_mod.log_best_model)
                model = pool.submit(task, best, self.best, self.context, self.primary)
            report.log_results(parent, children, best, self.goals, front, self.study)
            if model is not None:
                model.result()
        self.context.close()
        kill_point("best-model")
        tracking.end_parent(parent, status)
        out(report.summary(children, best, status, self.goals, front, parent,
                           self.config.tracking.uri))

    def _reconcile(self, children: list[tracking.ChildRun]) -> list[tracking.ChildRun]:
        return best_mod.reconcile(children, self.outcomes() if self.outcomes else {})

    def _best_child(self, children: list[tracking.ChildRun]) -> tracking.ChildRun | None:
        front = self.front() if self.front else set()
        return best_mod.best_child(children, self.goals, front, self.best_trial)

    def _end_on_exit(self) -> None:
        if not self.finished and self.parent_run_id:
            self.finished = True
            tracking.end_parent(self.parent_run_id, "KILLED")
