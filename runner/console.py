"""The one place runner prints to the console: progress (one stderr line per finished step of a
run, with its time: a cold run takes seconds per step), notes, errors and result lines on stdout.
Every such line is also written to the job's log file.

Hydra's logging config gives each run a ``<run dir>/<job name>.log`` (``runner.log``). Runner's
lines are printed, not logged, so that the console shows them bare and at once; ``say`` also
writes them to that file through ``logging``, to its file handlers only: Hydra's console handler
would print each line a second time with a timestamp.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

LOG = logging.getLogger("runner")


def say(text: str, level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Print ``text`` (stderr unless ``stream``) and write it to the job's log file.

    The line and its newline go in one write: ``print`` writes them apart, so two processes
    sharing a stream (serve's workers) could join their lines into one."""
    to = sys.stderr if stream is None else stream
    to.write(f"{text}\n")
    to.flush()
    to_job_log(text, level)


def note(text: str) -> None:
    """``runner: note: <text>`` on stderr (and in the job's log): something the user should know
    that does not stop the run."""
    say(f"runner: note: {text}", logging.WARNING)


def error(text: str) -> None:
    """``runner: error: <text>`` on stderr (and in the job's log): why the task stops."""
    say(f"runner: error: {text}", logging.ERROR)


def out(text: str) -> None:
    """A result line on stdout (a summary, a sweep's progress), also in the job's log."""
    say(text, stream=sys.stdout)


def to_job_log(text: str, level: int = logging.INFO) -> None:
    """Each line of ``text`` to the file handlers of the root logger: Hydra's job log.

    Looked up at each call: Hydra sets logging up per job (a sweep's trials each get their own
    file), and without Hydra (tests, ``runner reproduce``) there is no file and nothing to do.
    A handler with a true ``job_log`` attribute counts as a file too: the sweeper's, which sends
    each thread's lines to the log file of the trial that thread runs (trials in threads share
    the root logger, so Hydra's per-job files cannot be swapped in for them).
    """
    files = [h for h in logging.getLogger().handlers
             if (isinstance(h, logging.FileHandler) or getattr(h, "job_log", False))
             and level >= h.level]
    if not files or not LOG.isEnabledFor(level):
        return
    for line in text.splitlines() or [""]:
        record = LOG.makeRecord(LOG.name, level, __file__, 0, line, (), None)
        for handler in files:
            handler.handle(record)


class Progress:
    """Says ``runner: <step> (<seconds> s)`` as each step ends, when enabled; when not (a
    sweep's trial: the sweep prints one line per trial), the line goes to the job's log only."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.last = time.perf_counter()

    def step(self, name: str) -> None:
        now = time.perf_counter()
        line = f"runner: {name} ({now - self.last:.1f} s)"
        if self.enabled:
            say(line)
        else:
            to_job_log(line)
        self.last = now
