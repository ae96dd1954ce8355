"""``runner serve`` from config to listening: check, load the model, announce, start workers."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

from runner import console, tracking
from runner.config import check_serving
from runner.serving import workers
from runner.serving.app import load_app
from runner.serving.connections import Limits
from runner.serving.model import ModelInfo

_IMPORTED = time.monotonic()


def main(cfg: Any) -> None:
    """Entry point of ``runner serve``: load the model, print what is served, serve until killed."""
    check_serving(cfg.serving)
    app, model = load_app(cfg)
    sock = workers.bind(cfg.serving.host, cfg.serving.port, cfg.serving.workers > 1)
    count = cfg.serving.workers
    if count > 1 and app.blocking:
        console.say(f"serving.workers={count} ignored: the Spark fallback runs in one process",
                    logging.WARNING, sys.stdout)
        count = 1
    host, port = sock.getsockname()[:2]
    console.out(describe(app.info, model))
    console.out(f"listening on http://{host}:{port}/ ({count} worker{'s' * (count > 1)}); "
                f"POST /invocations, GET / for the query page")
    console.out(f"ready in {process_age():.2f} s")
    limits = Limits.of(cfg.serving)
    children = [pid for pid in (workers.fork_worker(app, limits, host, port)
                                for _ in range(count - 1)) if pid]
    try:
        workers.run_worker(app, sock, limits)
    finally:
        for pid in children:
            workers.stop_worker(pid)


def describe(info: ModelInfo, model: tracking.ResolvedModel) -> str:
    what = f"{info.name} version {info.version}" if info.name else info.uri
    alias = f" (@{model.alias})" if model.alias else ""
    return (f"serving {what}{alias}, run {info.run_id or 'unknown'}, from {info.uri}\n"
            f"scorer: {info.scorer_note}")


def process_age() -> float:
    """Seconds since this process started (Linux), else since runner.serving was imported."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rpartition(")")[2].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _IMPORTED
