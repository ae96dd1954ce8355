"""Following a registry alias: the model ``serving.model_uri`` names by alias (or the default
``@champion``) is re-resolved every ``serving.reload_interval`` seconds; a new version is loaded
and checked on a background thread, then swapped in on the event loop.

The check: the new version must answer its own logged input example
(``serving_input_example.json``, saved with every model runner logs) with a 200 through the same
code a request takes. A version that fails to load or to score it is refused once, with one line
saying why, and the old version keeps serving. The swap is one assignment on the event loop
(``App.swap``), between two requests or batches; requests already parsed finish on the version
that parsed them (``Loaded``). Each worker of ``serving.workers > 1`` runs its own follower
against the same store: workers converge within one interval of each other, and every answer
names its version in ``X-Model-Version``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from typing import Any

from runner import console, tracking
from runner.errors import RunnerError, first_line
from runner.serving import invocations
from runner.serving.app import App, Loaded, load_version
from runner.serving.responses import JSON

EXAMPLE_FILE = "serving_input_example.json"


class Follower:
    """Re-resolves the served alias every ``interval`` seconds on a daemon thread."""

    def __init__(self, cfg: Any, app: App, interval: float, worker: str = "") -> None:
        self.cfg, self.app, self.interval = cfg, app, interval
        self.worker = worker  # " (worker 2)" with several workers: which one's log line
        self.refused: set[str] = set()  # versions that failed: refused once, not retried
        self.problem = ""  # the last resolution error said, so it is said once
        self.stopped = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        threading.Thread(target=self._run, name="model-follower", daemon=True).start()

    def stop(self) -> None:
        self.stopped.set()

    def _run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.check()

    def check(self) -> None:
        """One look at the store: load, check and hand over a version the alias moved to."""
        serving, store = self.cfg.serving, self.cfg.tracking
        current = self.app.current.info
        try:
            found = tracking.aliased_version(serving.model_uri, store.registered_model_name,
                                             store.uri)
        except Exception as exc:  # the store is down or changed: keep serving, say it once
            self._problem(f"cannot re-resolve {serving.model_uri or 'the champion'}: "
                          f"{first_line(exc)}; still serving version {current.version}")
            return
        self.problem = ""
        if found is None or found[1] == current.version or found[1] in self.refused:
            return
        name, version = found
        try:
            loaded = self.load(name, version)
        except Exception as exc:  # refused: the old version keeps serving
            self.refused.add(version)
            self.app.metrics.add("reload_failed")
            console.say(f"runner serve{self.worker}: not swapping in {name} version {version}: "
                        f"{first_line(exc)}; still serving version {current.version}",
                        logging.ERROR)
            return
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self._swap, loaded, current.version)

    def load(self, name: str, version: str) -> Loaded:
        loaded, model = load_version(self.cfg, f"models:/{name}/{version}")
        kind, serving_kind = loaded.scorer.kind, self.app.current.scorer.kind
        if kind != serving_kind:
            raise RunnerError(f"its scorer is {kind}, this server's is {serving_kind}: restart "
                              "runner serve to serve it")
        check_example(loaded, model.local_path)
        return loaded

    def _swap(self, loaded: Loaded, old: str | None) -> None:
        self.app.swap(loaded)
        self.app.metrics.add("reload_ok")
        info = loaded.info
        console.say(f"runner serve{self.worker}: now serving {info.name} version {info.version} "
                    f"(was version {old}), run {info.run_id}")

    def _problem(self, text: str) -> None:
        if text != self.problem:
            self.problem = text
            console.say(f"runner serve{self.worker}: {text}", logging.WARNING)


def check_example(loaded: Loaded, local_path: str) -> None:
    """Raise RunnerError unless the model answers its logged input example with a 200."""
    path = os.path.join(local_path, EXAMPLE_FILE)
    try:
        with open(path, "rb") as f:
            body = f.read()
    except OSError as exc:
        raise RunnerError(f"it has no logged input example to check it with ({EXAMPLE_FILE}: "
                          f"{exc.strerror})") from exc
    answer = invocations.answer(body, JSON, "", loaded.scorer, loaded.info)
    if answer.status != 200:
        try:
            why = json.loads(answer.body).get("message", "")
        except ValueError:
            why = answer.body[:200].decode("utf-8", "replace")
        raise RunnerError(f"it cannot score its logged input example ({answer.status}: {why})")


def follows(model_uri: str | None, interval: float) -> bool:
    """Whether ``serving.model_uri`` is followed: an alias or the default, and an interval."""
    return interval > 0 and tracking.may_move(model_uri)
