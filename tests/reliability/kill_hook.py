"""The reliability tests' hook on a sweep's milestones (runner.sweep.milestones): kill -9 the
process (and its JVM, when it leads its process group) at the point $RUNNER_TEST_KILL_AT names;
``<point>+<seconds>`` kills that long after the point is reached, from a timer thread.

Installed by the tests through ``$RUNNER_SWEEP_HOOK`` (see ``env``); loaded from its file, so the
CLI under test needs no PYTHONPATH.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

KILL_AT_ENV = "RUNNER_TEST_KILL_AT"


def env(kill_at: str) -> dict[str, str]:
    """The environment a CLI process needs to be killed at ``kill_at`` (empty: never)."""
    return {"RUNNER_SWEEP_HOOK": f"{Path(__file__).resolve()}:kill_at", KILL_AT_ENV: kill_at}


def kill_at(point: str) -> None:
    wanted, _, delay = os.environ.get(KILL_AT_ENV, "").partition("+")
    if wanted != point:
        return
    if delay:
        threading.Timer(float(delay), _kill_now).start()
    else:
        _kill_now()


def _kill_now() -> None:
    if os.getpgid(0) == os.getpid():
        os.killpg(0, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
