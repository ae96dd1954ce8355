"""``runner serve`` from config to listening: check, load the model, announce, start workers."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

from runner import console, tracking
from runner.config import check_serving
from runner.serving import reload, workers
from runner.serving.app import App, load_app
from runner.serving.connections import Limits
from runner.serving.model import ModelInfo

_IMPORTED = time.monotonic()


def main(cfg: Any) -> None:
    """Entry point of ``runner serve``: load the model, print what is served, serve until killed."""
    check_serving(cfg.serving)
    app, model = load_app(cfg, cfg.serving.workers)
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
    follow = reload.follows(cfg.serving.model_uri, cfg.serving.reload_interval)
    if follow:
        console.out(f"following {model.uri if cfg.serving.model_uri else 'the champion'}: "
                    f"re-resolved every {cfg.serving.reload_interval:g} s")
    console.out(f"ready in {process_age():.2f} s")
    limits = Limits.of(cfg.serving)
    children: list[int] = []
    for index in range(1, count):
        pid = workers.fork_worker(app, limits, sock, worker_of(cfg, index, count, follow))
        children.append(pid)
    parent = worker_of(cfg, 0, count, follow)
    parent.on_stop = lambda: workers.signal_workers(children)
    try:
        workers.run_worker(app, sock, limits, parent)
    finally:
        for pid in children:
            workers.stop_worker(pid)


def worker_of(cfg: Any, index: int, count: int, follow: bool) -> workers.Worker:
    """Worker ``index`` of ``count``: its metrics row, shutdown timeout and alias follower."""
    name = f" (worker {index})" if count > 1 else ""
    interval = cfg.serving.reload_interval

    def follower(app: App) -> reload.Follower:
        return reload.Follower(cfg, app, interval, name)

    return workers.Worker(index, cfg.serving.shutdown_timeout, follower if follow else None)


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
