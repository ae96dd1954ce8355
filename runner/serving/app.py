"""The App: the model loaded as ``runner serve`` serves it, and the routes that answer with it.

``load_app`` resolves the model, chooses its scorer and builds the App; the App maps a parsed
request (method, path, query, content type, body) to a ``Response`` and never raises: a bug of
ours is a 500 and one log line, so one bad request cannot stop the server.
"""

from __future__ import annotations

import json
import logging
import os
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from importlib.resources import files
from typing import Any, TypeVar

from runner import __version__, console, tracking
from runner.errors import RunnerError, first_line
from runner.serving import invocations, responses, scorers
from runner.serving.invocations import Prepared
from runner.serving.model import ModelInfo, Scorer
from runner.serving.responses import HTML, JSON, TEXT, Response

T = TypeVar("T")


class App:
    """Routes a parsed request to the scoring core; returns a Response, never raises.

    ``executor`` is this server's one ``spark-score`` thread for the Spark scorer (~100 ms per
    call: off the event loop); the compiled scorer (microseconds) is scored on the loop itself.
    """

    def __init__(self, scorer: Scorer, info: ModelInfo, page: bytes) -> None:
        self.scorer, self.info, self.page = scorer, info, page
        self.blocking = scorer.kind == "spark"
        self.executor = (ThreadPoolExecutor(1, thread_name_prefix="spark-score")
                         if self.blocking else None)
        self.metadata = json.dumps(info.metadata(), indent=1).encode()
        self.version = info.versions.get("mlflow_version", __version__).encode()

    def handle(self, method: str, path: str, query: str, content_type: str | None,
               body: bytes) -> Response:
        return _guarded(self._route, method, path, query, content_type, body)

    def prepare(self, query: str, content_type: str | None, body: bytes) -> Prepared | Response:
        """A POST /invocations parsed and typed for ``score_together``, or its 4xx."""
        return _guarded(invocations.prepare, body, content_type, query, self.info)

    def score_together(self, requests: list[Prepared]) -> list[Response]:
        try:
            return invocations.score_together(requests, self.scorer, self.info)
        except Exception:  # a bug in one request's scoring: alone, only that one gets the 500
            return [_guarded(invocations.score, r, self.scorer, self.info) for r in requests]

    def _route(self, method: str, path: str, query: str, content_type: str | None,
               body: bytes) -> Response:
        if path == "/invocations":
            if method != "POST":
                return responses.error("use POST for /invocations", 405)
            return invocations.answer(body, content_type, query, self.scorer, self.info)
        static = {"/ping": (b"\n", TEXT), "/health": (b"\n", TEXT),
                  "/version": (self.version, TEXT), "/metadata": (self.metadata, JSON),
                  "/": (self.page, HTML)}
        if path not in static:
            return responses.error(f"no endpoint {path}", 404, "ENDPOINT_NOT_FOUND")
        if method not in ("GET", "HEAD"):
            return responses.error(f"use GET for {path}", 405)
        content, kind = static[path]
        return Response(200, content, kind)


def _guarded(function: Callable[..., T], *args: Any) -> T | Response:
    try:
        return function(*args)
    except Exception as exc:  # a bug of ours, not the client's: say so in one line, keep serving
        log_error("internal error while answering a request", exc)
        return responses.error("internal error while scoring; see the server log", 500,
                               "INTERNAL_ERROR")


def log_error(what: str, exc: BaseException | None) -> None:
    """One line on stderr: a traceback per request would bury the log under load."""
    where = ""
    if exc is not None and exc.__traceback__ is not None:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f" (at {os.path.basename(frame.filename)}:{frame.lineno} in {frame.name})"
    detail = f": {type(exc).__name__}: {first_line(exc)}" if exc is not None else ""
    console.say(f"runner serve: {what}{detail}{where}", logging.ERROR)


def load_app(cfg: Any) -> tuple[App, tracking.ResolvedModel]:
    """Resolve the model in the store, choose its scorer, and build the App around it.

    A model directory on disk (``serving.model_uri=/models/penguins``, as a container image
    bakes it in) is served without the tracking store, and a model in a local sqlite store
    found without MLflow's: neither imports MLflow (``tracking.find_model``)."""
    from_store = tracking.local_model_dir(cfg.serving.model_uri) is None
    model = tracking.find_model(cfg.serving.model_uri, cfg.tracking.registered_model_name,
                                cfg.tracking.uri)
    inputs = tracking.model_inputs(model.local_path)
    if not inputs:
        raise RunnerError(f"model {model.uri} has no input signature with column names; log it "
                          "with a signature (runner does) so requests can be checked")
    choice = scorers.choose(model.local_path, inputs, cfg.spark)
    names = choice.scorer.class_names
    if not names and from_store:  # the Spark fallback: labels from the run's logged config
        tracking.use_store(cfg.tracking.uri)
        from runner.data import DataSpec  # only here: serving a compiled model reads no data

        logged = tracking.run_config(model.run_id).get("data") or {}
        names = list(DataSpec.logged(logged).class_names)
    info = ModelInfo(
        uri=model.uri, inputs=tuple(inputs), class_names=tuple(names), name=model.name,
        version=model.version, run_id=model.run_id, scorer=choice.scorer.kind,
        scorer_note=choice.note,
        versions={"runner_version": __version__, "mlflow_version": version("mlflow")},
    )
    return App(choice.scorer, info, page_html()), model


def page_html() -> bytes:
    return files("runner.resources").joinpath("query.html").read_bytes()
