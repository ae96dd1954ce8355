"""One stderr line per finished step of a run, with its time: a cold run takes seconds per step
(JVM start, first Spark jobs), and a user should see where they go."""

from __future__ import annotations

import sys
import time


class Progress:
    """Prints ``runner: <step> (<seconds> s)`` as each step ends, when enabled."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.last = time.perf_counter()

    def step(self, name: str) -> None:
        now = time.perf_counter()
        if self.enabled:
            print(f"runner: {name} ({now - self.last:.1f} s)", file=sys.stderr, flush=True)
        self.last = now
