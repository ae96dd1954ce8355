"""Named points of a sweep's life, where a test may hook in (the reliability tests kill -9 the
process there: tests/reliability/kill_hook.py).

Production code only says which point it has reached; what happens there is the hook's business.
The hook is installed in one place, here, from ``$RUNNER_SWEEP_HOOK`` (``<file.py>:<function>``,
a function taking the point's name), read once per process. Without it, ``reached`` does nothing.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable

HOOK_ENV = "RUNNER_SWEEP_HOOK"
# The points, in the order a sweep reaches them
POINTS = ("storage", "study-setup", "parent-run", "trial-ended", "best-model")


def reached(point: str) -> None:
    """The sweep has reached ``point`` (one of ``POINTS``)."""
    hook = _hook()
    if hook is not None:
        hook(point)


@functools.cache  # one hook per process: the environment it started with
def _hook() -> Callable[[str], None] | None:
    spec = os.environ.get(HOOK_ENV, "")
    if not spec:
        return None
    path, _, name = spec.rpartition(":")
    loader = importlib.util.spec_from_file_location("runner_sweep_hook", path)
    if loader is None or loader.loader is None:
        raise RuntimeError(f"${HOOK_ENV}={spec}: no Python file at {path}")
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    hook: Callable[[str], None] = getattr(module, name)
    return hook
