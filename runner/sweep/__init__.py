"""Sweeps: one MLflow parent run per multirun, a child run per trial, the best model logged once.

Hydra calls ``SweepCallback`` (registered under ``hydra.callbacks`` in conf/config.yaml) around
every multirun, whatever the sweeper, so the grid (Hydra's BasicSweeper) and runner's Optuna
sweeper share one mechanism: the callback keeps one ``Sweep`` per process and ``train_task`` runs
each job through ``Sweep.trial``. The parent run opens lazily, at the first trial, so that the
Optuna sweeper can first re-attach it to the parent run of the study it resumes.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from runner import spark, tracking, train
from runner.compat import hydra as compat_hydra
from runner.compat import pyspark as compat_pyspark
from runner.config import BINARY_METRICS
from runner.errors import RunnerError, first_line
from runner.sweep import report as sweep_report

TRIAL_TAG = tracking.SWEEP_TAG + "trial"
PARAMS_TAG = tracking.SWEEP_TAG + "params"
STUDY_TAG = tracking.SWEEP_TAG + "study"  # <storage>#<study name>, for people
STUDY_UID_TAG = tracking.SWEEP_TAG + "study_uid"  # the study's uid, to adopt an unstored parent
LOWER_IS_BETTER = train.LOWER_IS_BETTER
KILL_AT_ENV = "RUNNER_TEST_KILL_AT"
OBJECTIVES_KEY = "evaluation.objectives"

_current: Sweep | None = None


def current() -> Sweep | None:
    """The sweep this process is running, if any."""
    return _current


def objectives(evaluation: DictConfig) -> list[str]:
    """What a trial returns, in order: ``evaluation.objectives``, or just the primary metric."""
    names = evaluation.get("objectives")
    return [str(n) for n in names] if names else [train.enum_value(evaluation.primary)]


def check_objectives(evaluation: DictConfig) -> list[str]:
    """The objectives, each a metric a run logs: one of evaluation.metrics, the primary, the
    two-class metrics (evaluation.binary_metrics; whether the data has two classes is checked
    once it is read), ``train_<metric>`` (with evaluation.train_metrics) or ``train_seconds``;
    one line naming the key otherwise."""
    names = objectives(evaluation)
    metrics = [train.enum_value(m) for m in evaluation.metrics]
    metrics += [m for m in [train.enum_value(evaluation.primary)] if m not in metrics]
    if evaluation.get("binary_metrics", True):
        metrics += [m for m in BINARY_METRICS if m not in metrics]
    known = [*metrics, *([f"train_{m}" for m in metrics] if evaluation.train_metrics else []),
             train.TRAIN_SECONDS]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise RunnerError(f"{OBJECTIVES_KEY}={names}: {', '.join(unknown)} is not a metric a "
                          f"run logs (one of {', '.join(known)})")
    if len(set(names)) != len(names):
        raise RunnerError(f"{OBJECTIVES_KEY}={names}: names an objective twice")
    return names


def lower_is_better(name: str) -> bool:
    """An objective to minimize: a loss (on test or train) or the fit's time."""
    return name == train.TRAIN_SECONDS or name.removeprefix("train_") in LOWER_IS_BETTER


def kill_point(name: str) -> None:
    """Fault injection for the reliability tests: kill -9 this process (and its JVM, when it
    leads its process group) at the named point of a sweep when $RUNNER_TEST_KILL_AT names it;
    ``<name>+<seconds>`` kills that long after the point is reached, from a timer thread."""
    wanted, _, delay = os.environ.get(KILL_AT_ENV, "").partition("+")
    if wanted != name:
        return
    if delay:
        threading.Timer(float(delay), _kill_now).start()
    else:
        _kill_now()


def _kill_now() -> None:
    if os.getpgid(0) == os.getpid():
        os.killpg(0, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class StudyKey:
    """Which Optuna study a parent run belongs to: a label for people, a uid to find it by."""

    label: str
    uid: str


@dataclass
class Best:
    """The best trial so far; ``fitted`` only when it ran in this process and is not logged yet."""

    value: float
    run_id: str
    number: int
    cfg: DictConfig | None = None
    fitted: Any = None
    values: tuple[float, ...] = ()  # every objective's value (multi-objective sweeps)


class Sweep:
    """State of one multirun: its parent run, progress, and the best trial's model."""

    def __init__(self, config: DictConfig, kind: str, swept: list[str], total: int | None) -> None:
        self.config = config  # the multirun's primary config (task keys plus hydra)
        self.kind, self.swept, self.total = kind, swept, total
        self.done = self.failed = 0
        self.primary = train.enum_value(config.evaluation.primary)
        self.greater = self.primary not in LOWER_IS_BETTER
        self.objectives = objectives(config.evaluation)
        self.multi = kind == "optuna" and len(self.objectives) > 1
        self.parent_run_id: str | None = None
        self.experiment = ""
        self.best: Best | None = None
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
        self._preloading = False  # the end's modules are being imported (preload_end)
        self._last_end = time.perf_counter()  # a trial's time includes Hydra's and Optuna's share
        self._started: dict[int, float] = {}  # trial number -> when the sweeper asked for it
        # Trials may run in threads (hydra.sweeper.n_jobs): progress, best trial and the parent
        # run change under this lock.
        self._lock = threading.RLock()
        self._job_groups: dict[str, Any] = {}  # Spark job group of each running trial -> its
        #                                        SparkContext, for cancel_trials

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
            train.prefetch(self.config)
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
        params = {f"sweep.{k}": v for k, v in sweep_report.split_overrides(overrides).items()}
        params.update(sweep_report.sweeper_params(self.config.hydra.sweeper))
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
            sweep_report.say(f"[sweep] {killed} trial run(s) an interruption left RUNNING: KILLED")
        best = self._best_child(children)
        if best:
            self.best = Best(best.metrics[self.primary], best.run_id, _trial_number(best),
                             values=tuple(best.metrics.get(o, math.nan) for o in self.objectives))
        self.finished_before = {
            _trial_number(c): (c.run_id, tuple(c.metrics[o] for o in self.objectives))
            for c in children
            if c.status == "FINISHED" and all(o in c.metrics for o in self.objectives)}

    def trial_started(self, number: int) -> None:
        """The sweeper asked for trial ``number``: its time counts from now."""
        with self._lock:
            self._started[number] = time.perf_counter()

    def trial(self, cfg: DictConfig, overrides: list[str]) -> float | tuple[float, ...]:
        """Run one job as a child run; keep its fitted model in memory only if it is the best.
        Returns the primary metric, or every objective's value in a multi-objective sweep."""
        parent = self.open()
        number = int(HydraConfig.get().job.num)
        policy = train.enum_value(cfg.tracking.log_models)
        if not cfg.tracking.run_name:
            OmegaConf.update(cfg, "tracking.run_name", f"trial-{number:03d}")
        given = sweep_report.split_overrides(overrides)
        swept = {k: v for k, v in given.items() if k in self.swept}
        tags = {TRIAL_TAG: str(number), PARAMS_TAG: json.dumps(swept)}
        with self._spark_jobs(cfg, number, swept):
            result = train.run(cfg, overrides, extra_tags=tags, parent_run_id=parent,
                               log_model=policy == "all")
        logged = {**result.metrics, **{f"train_{k}": v for k, v in result.train_metrics.items()},
                  train.TRAIN_SECONDS: result.fit_seconds}
        keys = [("evaluation.primary", result.primary)] + (
            [(OBJECTIVES_KEY, o) for o in self.objectives] if self.multi else [])
        for key, name in keys:
            if math.isnan(logged.get(name, math.nan)):
                # Optuna fails the trial: its run must not stay FINISHED
                why = (f"{key}={name} is NaN" if name in logged else
                       f"{key}={name} was not computed (the run logged {sorted(logged)})")
                tracking.mark_failed(result.run_id, f"RunnerError: {why}")
                raise RunnerError(why)
        values = tuple(logged[o] for o in self.objectives) if self.multi else ()
        kill_point("trial-ended")
        with self._lock:
            self.run_ids[number] = result.run_id
            if self._beats(result.value, values):
                keep = policy == "best"
                self.best = Best(result.value, result.run_id, number, cfg if keep else None,
                                 result.fitted if keep else None, values)
        return values if self.multi else result.value

    @contextmanager
    def _spark_jobs(self, cfg: DictConfig, number: int, swept: dict[str, str]
                    ) -> Iterator[None]:
        """This trial's Spark jobs in this thread's FAIR pool (trials running at once share the
        executors instead of queueing behind each other) and in a job group of its own (to be
        cancelled alone, and named in Spark's UI). Spark Connect has no SparkContext: no-op."""
        if cfg.spark.remote:
            yield
            return
        context = spark.start_async(cfg.spark).result().sparkContext
        group = f"trial-{number}"
        context.setLocalProperty("spark.scheduler.pool", threading.current_thread().name)
        context.setJobGroup(group, f"{self.kind} sweep trial {number}: {json.dumps(swept)}")
        with self._lock:
            self._job_groups[group] = context
        try:
            yield
        finally:
            with self._lock:
                self._job_groups.pop(group, None)
            compat_pyspark.clear_job_group(context)

    def cancel_trials(self) -> None:
        """Cancel the Spark jobs of trials still running (the sweep is stopping)."""
        with self._lock:
            groups = dict(self._job_groups)
        for group, context in groups.items():
            context.cancelJobGroup(group)

    def _beats(self, value: float, values: tuple[float, ...] = ()) -> bool:
        """A better primary value; on a tie in a multi-objective sweep, better on every
        objective (the earlier trial is then off the Pareto front, so not the champion)."""
        if self.best is None:
            return True
        if value == self.best.value and values and self.best.values:
            return self._dominates(values, self.best.values)
        return value > self.best.value if self.greater else value < self.best.value

    def _dominates(self, a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        signs = [-1.0 if lower_is_better(o) else 1.0 for o in self.objectives]
        better = [s * x >= s * y for s, x, y in zip(signs, a, b, strict=True)]
        return all(better) and a != b

    def job_ended(self, job_return: JobReturn) -> None:
        """One progress line per trial: n/N, value, best so far."""
        with self._lock:
            self._job_ended(job_return)

    def _job_ended(self, job_return: JobReturn) -> None:
        self.done += 1
        if not self._preloading:  # after the cold first trial, while the JVM uses one core
            self._preloading = True
            sweep_report.preload_end()
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
        sweep_report.say(f"[sweep] trial {of}  {outcome}  {best}  {seconds:.1f}s")
        if self.kind == "grid" and self.total and self.done >= self.total:
            self.finish()  # BasicSweeper raises after the batch when a job failed

    def _outcome(self, value: Any) -> str:
        if isinstance(value, (tuple, list)):
            return "  ".join(f"{o}={float(v):.4f}" for o, v in zip(self.objectives, value,
                                                                   strict=False))
        return f"{self.primary}={float(value):.4f}"

    def finish(self, status: str = "FINISHED") -> None:
        """Log the best model, the summary, the trials table and plots; end the parent run."""
        with self._lock:
            if self.finished or not self.parent_run_id:
                return
            self.finished = True
        children = self._reconcile(tracking.child_runs(self.experiment, self.parent_run_id))
        best = self._best_child(children)
        # the best model's logging (mostly Spark's and MLflow's I/O) runs beside the report
        # (Optuna's plots, drawn with pyplot, which wants this thread)
        with ThreadPoolExecutor(1, thread_name_prefix="best-model") as pool:
            model = None
            if best is not None:
                session = spark.active_session()  # none when no trial ran in this process
                task = spark.in_thread(session, self._log_best_model) if session else (
                    self._log_best_model)
                model = pool.submit(task, best)
            sweep_report.log_results(self, children, best)
            if model is not None:
                model.result()
        kill_point("best-model")
        tracking.end_parent(self.parent_run_id, status)
        sweep_report.say(sweep_report.summary(self, children, best, status))

    def _reconcile(self, children: list[tracking.ChildRun]) -> list[tracking.ChildRun]:
        """Child runs' statuses made to agree with the study's trial states (the study is the
        truth: a run can end FINISHED before an interruption kept Optuna from hearing of it, or
        stay RUNNING after a kill); without a study, runs left RUNNING become KILLED."""
        outcomes = self.outcomes() if self.outcomes else {}
        wanted = {}
        for c in children:
            status = outcomes.get(_trial_number(c), "KILLED" if c.status == "RUNNING" else
                                  c.status)
            if status != c.status:
                wanted[c.run_id] = status
        if not wanted:
            return children
        tracking.set_statuses(wanted)
        return [tracking.ChildRun(c.run_id, wanted.get(c.run_id, c.status), c.metrics, c.tags)
                for c in children]

    def _best_child(self, children: list[tracking.ChildRun]) -> tracking.ChildRun | None:
        """Optuna's best trial; in a multi-objective sweep, the Pareto front's trial with the
        best primary metric (the lowest trial number on a tie)."""
        done = [c for c in children if c.status == "FINISHED" and self.primary in c.metrics]
        if not done:
            return None
        front = self.front() if self.front else set()
        on_front = [c for c in done if _trial_number(c) in front]
        if on_front:
            pick = max if self.greater else min
            ordered = sorted(on_front, key=_trial_number)
            return pick(ordered, key=lambda c: c.metrics[self.primary])
        number = self.best_trial() if self.best_trial else None
        chosen = [c for c in done if number is not None and _trial_number(c) == number]
        if chosen:  # Optuna's best trial: ties between equal values broken as Optuna does
            return chosen[-1]
        pick = max if self.greater else min
        return pick(done, key=lambda c: c.metrics[self.primary])

    def _log_best_model(self, best: tracking.ChildRun) -> None:
        """Per ``tracking.log_models``: best logs it now, all already did; then champion rule."""
        cfg: Any = self.best.cfg if self.best and self.best.run_id == best.run_id else None
        cfg = cfg or OmegaConf.create(tracking.fetch_run(best.run_id).config_yaml)
        policy = train.enum_value(cfg.tracking.log_models)
        name = cfg.tracking.registered_model_name
        if policy == "none":
            return
        version = tracking.registered_version(name, best.run_id) if name else None
        if version is None and (name or policy == "best"):  # not done by an earlier run
            logged = tracking.LoggedModel("", name, None, best.run_id)  # "all": trials logged
            if policy == "best":
                fitted = self.best.fitted if self.best and self.best.run_id == best.run_id else None
                dataset = _dataset(cfg)
                fitted = fitted or refit(cfg, dataset)
                example = train.input_example(cfg, dataset)  # as a single run's model has
                with tracking.reopened(best.run_id):
                    logged = train.log_fitted_model(cfg, fitted, example) or logged
            version = tracking.register(logged).version  # the run is FINISHED again by now
        if name and version:
            alias = train.promote(cfg, name, version, best.metrics[self.primary])
            sweep_report.say(f"[sweep] best trial's model: {name} version {version} @{alias}")

    def _end_on_exit(self) -> None:
        if not self.finished and self.parent_run_id:
            self.finished = True
            tracking.end_parent(self.parent_run_id, "KILLED")


def _dataset(cfg: DictConfig) -> Any:
    """The trial's prepared data (cached per process: the trials' own, when they ran here)."""
    from runner.pipeline import data as data_mod

    return data_mod.load(spark.get_session(cfg.spark), cfg.data)


def refit(cfg: DictConfig, dataset: Any = None) -> Any:
    """Fit a trial's pipeline again from its logged config (its model was in a process that
    ended before the sweep did). Same data, seed and params give the same model."""
    dataset = dataset if dataset is not None else _dataset(cfg)
    pipeline, _ = train.build_pipeline(cfg, dataset)
    return pipeline.fit(dataset.train)


def _trial_number(child: tracking.ChildRun) -> int:
    return int(child.tags.get(TRIAL_TAG, "-1"))


class SweepCallback(Callback):
    """Hydra callback: one ``Sweep`` per multirun, progress per job, results at the end."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        global _current
        kind, swept, total = sweep_report.describe(config)
        _current = Sweep(config, kind, swept, total)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if _current:
            _current.job_ended(job_return)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if _current:
            _current.finish()
