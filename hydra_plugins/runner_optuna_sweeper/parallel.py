"""Run a sweep's Hydra jobs N at a time in threads of this process, each through Hydra's own
``run_job`` (job config, output subdir, callbacks), a new one as soon as one ends.

Hydra's launchers run batches: with ``launch([...n jobs])`` the next batch waits for the slowest
job. Trials here share the process's SparkSession and prepared data, so they run in threads.
Hydra keeps the current job's config in a process-wide singleton (``HydraConfig``), which
``run_job`` sets and the task reads (``HydraConfig.get().job.num``); while jobs run in threads it
is replaced by one that keeps a config per thread. Each job logs to its own files: Hydra's
per-job logging config one at a time, ``job_log.ThreadJobLogs`` in threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, configure_log, run_job, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

from runner.compat import hydra as compat_hydra

from .compose import SweepComposer
from .job_log import ThreadJobLogs


class _PerThreadHydraConfig:
    """Stands in for the ``HydraConfig`` singleton: a thread sees the job config it set, or the
    sweep's config when it set none."""

    set_config = HydraConfig.set_config  # Hydra's own: it assigns ``self.cfg``

    def __init__(self, shared: Any) -> None:
        self._shared = shared
        self._local = threading.local()

    @property
    def cfg(self) -> Any:
        return getattr(self._local, "cfg", self._shared)

    @cfg.setter
    def cfg(self, value: Any) -> None:
        self._local.cfg = value


@contextmanager
def per_thread_hydra_config() -> Iterator[None]:
    with compat_hydra.singleton_replaced(HydraConfig,
                                         _PerThreadHydraConfig(HydraConfig.instance().cfg)):
        yield


class JobPool:
    """Hydra jobs composed in the caller's thread, run in ``n_jobs`` threads (inline for 1).

    Composing stays in one thread (Hydra's config loader is not meant to be shared); with one job
    at a time the job runs in the caller's thread, exactly as Hydra's basic launcher runs it.
    """

    def __init__(self, hydra_context: HydraContext, task_function: TaskFunction,
                 config: DictConfig, n_jobs: int) -> None:
        self.context, self.task, self.config, self.n_jobs = (hydra_context, task_function,
                                                             config, n_jobs)
        self._composer = SweepComposer(hydra_context.config_loader, config)
        self._pool = (ThreadPoolExecutor(n_jobs, thread_name_prefix="trial") if n_jobs > 1
                      else None)
        self._job_logs = ThreadJobLogs()

    def __enter__(self) -> JobPool:
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        if self._pool:
            logging.getLogger().addHandler(self._job_logs)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool:
            self._pool.shutdown(wait=True)
            logging.getLogger().removeHandler(self._job_logs)

    def submit(self, number: int, overrides: list[str]) -> Future[JobReturn]:
        """Compose job ``number``'s config now and run it in a free thread (or here, now)."""
        job = self._composer.compose(list(overrides))
        with open_dict(job):
            job.hydra.job.id = number
            job.hydra.job.num = number
        if self._pool:
            return self._pool.submit(self._run, job, False)
        done: Future[JobReturn] = Future()
        done.set_result(self._run(job, True))  # a KeyboardInterrupt propagates from here
        return done

    def _run(self, job: DictConfig, configure_logging: bool) -> JobReturn:
        # Per-job log files need the logging config swapped per job, which threads would fight
        # over: in threads, each job's records go to its files through ThreadJobLogs instead.
        task = self.task if configure_logging else self._job_logs.wrap(self.task)
        ret = run_job(hydra_context=self.context, task_function=task, config=job,
                      job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir",
                      configure_logging=configure_logging)
        if configure_logging:
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return ret

