"""One multirun: its parent run (``parent``), progress (``progress``), the best trial, and
its end (the best model, the report).

A sweeper with a study (runner's Optuna sweeper) hands it a ``StudyView`` through ``attach``
and opens the parent run itself, to re-attach it to the study it resumes; a grid sweep opens it
at its start. The sweep holds the ``RunContext`` its trials in this process share: the data is
read, split and checked once, feature stages fitted once per config.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn
from omegaconf import DictConfig

from runner import spark, tracking
from runner.config import value_of
from runner.console import out
from runner.context import RunContext
from runner.errors import TrialPruned
from runner.sweep import best as best_mod
from runner.sweep import milestones, report, trials
from runner.sweep.contract import PRUNED, StudyView
from runner.sweep.objectives import Goals
from runner.sweep.parent import ParentRun, StudyKey
from runner.sweep.progress import Progress
from runner.sweep.runs import STATE_TAG, trial_number


class Sweep:
    """State of one multirun: its parent run, progress, and the best trial's model."""

    def __init__(self, config: DictConfig, kind: str, swept: list[str], total: int | None) -> None:
        self.config = config  # the multirun's primary config (task keys plus hydra)
        self.kind, self.swept = kind, swept
        self.goals = Goals.of(config.evaluation, kind)
        self.context = RunContext()  # shared by this process's trials
        self.parent = ParentRun(config, kind, self.context)
        self.progress = Progress(self.goals, total)
        self.view: StudyView | None = None  # the sweeper's study, if it has one
        self.best: best_mod.Best | None = None
        self.run_ids: dict[int, str] = {}  # trial number -> child run id, this process's trials
        self._jobs = trials.JobGroups()
        self._preloading = False  # the end's modules are being imported (report.preload_end)
        # Trials may run in threads (hydra.sweeper.n_jobs): progress, best trial and the parent
        # run change under this lock.
        self._lock = threading.RLock()

    @property
    def multi(self) -> bool:
        return self.goals.multi

    def attach(self, view: StudyView, swept: list[str], total: int) -> None:
        """The sweeper's study, the keys it searches and its total of trials."""
        self.view, self.swept, self.progress.total = view, list(swept), total

    def open(self, resume_run_id: str | None = None, study: StudyKey | None = None) -> str:
        """The parent run (see ``ParentRun.open``); on re-attaching, trials an interruption
        left RUNNING become KILLED and the best so far comes back."""
        with self._lock:
            fresh = self.parent.run_id is None
            run_id = self.parent.open(self.swept, resume_run_id, study)
            if fresh and self.parent.resumed is not None:
                self._resumed(self.parent.resumed)
            return run_id

    def _resumed(self, children: list[tracking.ChildRun]) -> None:
        killed = tracking.kill_running(children)
        if killed:
            out(f"[sweep] {killed} trial run(s) an interruption left RUNNING: KILLED")
        best = self._best_child(children)
        if best:
            self.best = best_mod.Best(
                best.metrics[self.goals.primary], best.run_id, trial_number(best),
                values=tuple(best.metrics.get(o, math.nan) for o in self.goals.objectives))

    def finished_before(self) -> dict[int, tuple[str, tuple[float, ...]]]:
        """Trial number -> (child run id, objective values) of the runs a resumed parent holds
        FINISHED: the study may not have been told them before the interruption."""
        objectives = self.goals.objectives
        return {trial_number(c): (c.run_id, tuple(c.metrics[o] for o in objectives))
                for c in self.parent.resumed or []
                if c.status == "FINISHED" and all(o in c.metrics for o in objectives)}

    def pruned_before(self) -> set[int]:
        """Trials whose runs a resumed parent holds pruned (the study may not know yet)."""
        return {trial_number(c) for c in self.parent.resumed or []
                if c.tags.get(STATE_TAG) == PRUNED}

    def resume_at(self, done: int) -> None:
        """Progress counts from ``done`` trials the study has already."""
        self.progress.done = done

    def trial_started(self, number: int) -> None:
        """The sweeper asked for trial ``number``: its time counts from now."""
        with self._lock:
            self.progress.started(number)

    def run_id_of(self, number: int) -> str | None:
        """The child run of trial ``number``, if it ran in this process."""
        return self.run_ids.get(number)

    def trial(self, cfg: DictConfig, overrides: list[str]) -> float | tuple[float, ...]:
        """Run one job as a child run; keep its fitted model in memory only if it is the best.
        Returns the primary metric, or every objective's value in a multi-objective sweep."""
        parent = self.open()
        number = int(HydraConfig.get().job.num)
        reporter = self.view.reporter_for(number) if self.view else None
        try:
            done = trials.run(cfg, overrides, number, parent, self.swept, self.kind, self.goals,
                              self.context, self._jobs, reporter)
        except TrialPruned:
            milestones.reached("trial-ended")  # its run has ended, pruned
            raise
        milestones.reached("trial-ended")
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
            if not self._preloading:  # after the cold first trial, while the JVM uses one core
                self._preloading = True
                report.preload_end()
            self.progress.ended(job_return, self.best)
            total = self.progress.total
            if self.kind == "grid" and total and self.progress.done >= total:
                self.finish()  # BasicSweeper raises after the batch when a job failed

    def finish(self, status: str = "FINISHED") -> None:
        """Log the best model, the summary, the trials table and plots; end the parent run."""
        with self._lock:
            if not self.parent.claim_end():
                return
        parent = self.parent.run_id
        assert parent is not None
        statuses = self.view.statuses() if self.view else {}
        children = best_mod.reconcile(tracking.child_runs(self.parent.experiment, parent),
                                      statuses)
        best = self._best_child(children)
        front = self.view.front() if self.view and self.multi else None
        self._log_end(parent, children, best, front)
        self.context.close()
        milestones.reached("best-model")
        self.parent.close(status)
        counts = self.view.states() if self.view else self.progress.counts()
        out(report.summary(children, best, status, self.goals, front, parent,
                           self.config.tracking.uri, counts))

    def _log_end(self, parent: str, children: list[tracking.ChildRun],
                 best: tracking.ChildRun | None, front: set[int] | None) -> None:
        # the best model's logging (mostly Spark's and MLflow's I/O) runs beside the report
        # (Optuna's plots, drawn with pyplot, which wants this thread)
        study = self.view.plot_source() if self.view else None
        with ThreadPoolExecutor(1, thread_name_prefix="best-model") as pool:
            model = None
            if best is not None:
                session = spark.active_session()  # none when no trial ran in this process
                task = (spark.in_thread(session, best_mod.log_best_model) if session
                        else best_mod.log_best_model)
                model = pool.submit(task, best, self.best, self.context, self.goals.primary)
            report.log_results(parent, children, best, self.goals, front, study)
            if model is not None:
                model.result()

    def _best_child(self, children: list[tracking.ChildRun]) -> tracking.ChildRun | None:
        view = self.view
        front = (view.front() if view else None) or set()
        return best_mod.best_child(children, self.goals, front,
                                   view.best_number if view else None)
