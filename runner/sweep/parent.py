"""A sweep's MLflow parent run: created (or re-attached on resume) once the sweep's data is
ready and checked, tagged with the study it belongs to, and always ended."""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from runner import spark, tracking, train
from runner.context import RunContext
from runner.sweep import milestones, report
from runner.sweep.runs import STUDY_TAG, STUDY_UID_TAG, split_overrides


@dataclass(frozen=True)
class StudyKey:
    """Which Optuna study a parent run belongs to: a label for people, a uid to find it by."""

    label: str
    uid: str


class ParentRun:
    """The parent run of one multirun: ``open`` once, ``end`` once (or at exit, KILLED)."""

    def __init__(self, config: DictConfig, kind: str, context: RunContext) -> None:
        self.config, self.kind, self.context = config, kind, context
        self.run_id: str | None = None
        self.experiment = ""
        self.resumed: list[tracking.ChildRun] | None = None  # its children, when re-attached
        self.ended = False
        self._lock = threading.Lock()

    def open(self, swept: list[str], resume_run_id: str | None = None,
             study: StudyKey | None = None) -> str:
        """Create the parent run, or re-attach to ``resume_run_id`` if the store has it, or to
        the parent run tagged with ``study``'s uid (created by a run killed before it stored
        the parent's id). The sweep's data is read and checked first, unless it is swept: a
        data error is a RunnerError, and no run exists."""
        with self._lock:
            if self.run_id is None:
                self.run_id = self._open(swept, resume_run_id, study)
            return self.run_id

    def _open(self, swept: list[str], resume_run_id: str | None, study: StudyKey | None) -> str:
        tracking.check_store(self.config.tracking.uri)  # an unreachable server: before the JVM
        # the JVM starts, and reads the data unless it is swept, while MLflow sets up its store
        data_swept = any(key.lstrip("+~").split(".")[0] == "data" for key in swept)
        loading = None if data_swept else train.prefetch(self.config, self.context)
        if data_swept:
            spark.start_async(self.config.spark)
        tracking.configure(self.config.tracking)
        self.experiment = tracking.experiment_id(self.config.tracking.experiment_name)
        if loading is not None:
            loading.result()  # a data error: raised here, before any run exists
        resumed = resume_run_id is not None and tracking.reopen_parent(resume_run_id)
        adopt = (None if resumed or study is None
                 else tracking.find_parent(self.experiment, STUDY_UID_TAG, study.uid))
        if resumed and resume_run_id is not None:
            run_id = resume_run_id
        elif adopt is not None and tracking.reopen_parent(adopt):
            run_id = adopt
            self._log_inputs(run_id)  # the killed run may not have logged them
        else:
            tags = self._tags() | ({STUDY_TAG: study.label, STUDY_UID_TAG: study.uid}
                                   if study else {})
            run_id = tracking.start_parent(self.experiment, self._name(), tags)
            milestones.reached("parent-run")
            self._log_inputs(run_id)
        if resumed or adopt is not None:
            self.resumed = tracking.child_runs(self.experiment, run_id)
        atexit.register(self._end_on_exit)  # a Ctrl-C or a crash must not leave it RUNNING
        return run_id

    def _name(self) -> str:
        return str(self.config.tracking.run_name or f"{self.kind}-sweep")

    def _tags(self) -> dict[str, str]:
        spark_cfg = self.config.spark
        tags = tracking.standard_tags(str(spark_cfg.remote or spark_cfg.master))
        return {**tags, **dict(self.config.tracking.tags), tracking.SWEEP_TAG + "kind": self.kind}

    def _log_inputs(self, run_id: str) -> None:
        overrides = list(self.config.hydra.overrides.task)  # the command's, not a job's
        params = {f"sweep.{k}": v for k, v in split_overrides(overrides).items()}
        params.update(report.sweeper_params(self.config.hydra.sweeper))
        tracking.log_to_run(run_id, params=params)
        tracking.log_run_text(run_id, "\n".join(overrides) + "\n", tracking.OVERRIDES_ARTIFACT)
        task_cfg = {k: v for k, v in self.config.items() if k != "hydra"}
        tracking.log_run_text(run_id, OmegaConf.to_yaml(task_cfg), tracking.CONFIG_ARTIFACT)

    def claim_end(self) -> bool:
        """True for the one caller that is to end the open run (the end-of-sweep work is its),
        False when it was not open or another caller has it."""
        with self._lock:
            if self.ended or self.run_id is None:
                return False
            self.ended = True
        return True

    def close(self, status: str) -> None:
        """End the run in MLflow, once ``claim_end`` gave this caller the end."""
        assert self.run_id is not None
        tracking.end_parent(self.run_id, status)

    def _end_on_exit(self) -> None:
        if not self.ended and self.run_id:
            self.ended = True
            tracking.end_parent(self.run_id, "KILLED")
