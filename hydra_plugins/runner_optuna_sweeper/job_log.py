"""Each trial's own job log (``<trial dir>/runner.log``) while trials run in threads.

Hydra gives a job its log file by configuring the root logger for it (``hydra/job_logging``):
one job at a time, that works. Trials in threads share the root logger, so the sweeper leaves it
as it is and adds one ``ThreadJobLogs`` handler, which sends each record to the files of the trial
its thread runs. The files are the ones the job's own logging config names, built as
``logging.config`` would build them.
"""

from __future__ import annotations

import functools
import logging
import logging.config
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import TaskFunction
from omegaconf import DictConfig, OmegaConf


class ThreadJobLogs(logging.Handler):
    """Routes a record to the log files of the trial running in the record's thread."""

    job_log = True  # runner.console.to_job_log writes runner's own lines here too

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        for handler in getattr(self._local, "handlers", ()):
            if record.levelno >= handler.level:
                handler.handle(record)

    @contextmanager
    def opened(self, job_logging: Any) -> Iterator[None]:
        """This thread's records go to the files of ``job_logging`` for the block."""
        handlers = file_handlers(job_logging)
        self._local.handlers = handlers
        try:
            yield
        finally:
            self._local.handlers = []
            for handler in handlers:
                handler.close()

    def wrap(self, task: TaskFunction) -> TaskFunction:
        """``task`` with its job's log files open while it runs (the job's Hydra config, which
        ``run_job`` has set for this thread, names them)."""

        @functools.wraps(task)
        def logged(cfg: DictConfig) -> Any:
            with self.opened(HydraConfig.get().job_logging):
                return task(cfg)

        return logged


def file_handlers(job_logging: Any) -> list[logging.Handler]:
    """The root logger's file handlers that a Hydra job logging config asks for (default:
    ``<job output dir>/<job name>.log``); its console handlers are left out: the sweep prints
    one line per trial."""
    conf = OmegaConf.to_container(job_logging, resolve=True)
    if not isinstance(conf, dict):
        return []
    configurator = logging.config.DictConfigurator({str(k): v for k, v in conf.items()})
    config: Any = configurator.config
    formatters = config.get("formatters", {})
    for name in list(formatters):
        formatters[name] = configurator.configure_formatter(formatters[name])
    handlers: list[logging.Handler] = []
    for name in (config.get("root") or {}).get("handlers", []):
        spec = config["handlers"][name]
        cls = spec.get("class")
        if isinstance(cls, str) and issubclass(configurator.resolve(cls), logging.FileHandler):
            handlers.append(configurator.configure_handler(spec))
    return handlers
