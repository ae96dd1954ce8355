"""Fault injection for the reliability tests (tests/reliability/test_sweep_faults.py)."""

from __future__ import annotations

import os
import signal
import threading

KILL_AT_ENV = "RUNNER_TEST_KILL_AT"


def kill_point(name: str) -> None:
    """Kill -9 this process (and its JVM, when it leads its process group) at the named point
    of a sweep when $RUNNER_TEST_KILL_AT names it; ``<name>+<seconds>`` kills that long after
    the point is reached, from a timer thread."""
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
