"""The App: the model loaded as ``runner serve`` serves it, and the routes that answer with it.

``load_app`` resolves the model, chooses its scorer and builds the App; the App maps a parsed
request (method, path, query, content type, body) to a ``Response`` and never raises: a bug of
ours is a 500 and one log line, so one bad request cannot stop the server.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import version
from importlib.resources import files
from typing import Any, TypeVar

from runner import __version__, console, tracking
from runner.errors import RunnerError, first_line
from runner.serving import invocations, metrics, responses, scorers
from runner.serving.invocations import Prepared
from runner.serving.metrics import Metrics
from runner.serving.model import ModelInfo, Scorer
from runner.serving.responses import HTML, JSON, TEXT, Response

T = TypeVar("T")
VERSION_HEADER = "X-Model-Version"


@dataclass(frozen=True)
class Loaded:
    """One model version as the server answers with it: swapped whole, so a request sees one.

    ``header`` is the response header naming the version (``X-Model-Version``), pre-encoded."""

    scorer: Scorer
    info: ModelInfo
    metadata: bytes
    header: bytes

    @classmethod
    def of(cls, scorer: Scorer, info: ModelInfo) -> Loaded:
        return cls(scorer, info, json.dumps(info.metadata(), indent=1).encode(),
                   f"{VERSION_HEADER}: {served_version(info)}\r\n".encode("latin-1"))


def served_version(info: ModelInfo) -> str:
    """The registered version, else the run id (a runs:/ URI or a directory), else "-"."""
    return info.version or info.run_id or "-"


class App:
    """Routes a parsed request to the scoring core; returns a Response, never raises.

    ``current`` is the model version answering now; ``swap`` replaces it (on the event loop, so
    between two requests or batches: each is answered whole by one version). ``executor`` is
    this server's one ``spark-score`` thread for the Spark scorer (~100 ms per call: off the
    event loop); the compiled scorer (microseconds) is scored on the loop itself.
    """

    def __init__(self, scorer: Scorer, info: ModelInfo, page: bytes,
                 metrics: Metrics | None = None) -> None:
        self.current = Loaded.of(scorer, info)
        self.page = page
        self.metrics = metrics or Metrics()
        self.draining = False
        self.blocking = scorer.kind == "spark"
        self.executor = (ThreadPoolExecutor(1, thread_name_prefix="spark-score")
                         if self.blocking else None)
        self.version = info.versions.get("mlflow_version", __version__).encode()

    @property
    def info(self) -> ModelInfo:
        return self.current.info

    @property
    def scorer(self) -> Scorer:
        return self.current.scorer

    def swap(self, loaded: Loaded) -> None:
        """Answer with ``loaded`` from the next request on (call on the event loop)."""
        self.current = loaded
        self.metrics.set("model_version", _numeric(loaded.info.version))

    def handle(self, method: str, path: str, query: str, content_type: str | None,
               body: bytes, loaded: Loaded | None = None) -> Response:
        return _guarded(self._route, method, path, query, content_type, body,
                        loaded or self.current)

    def prepare(self, query: str, content_type: str | None, body: bytes,
                loaded: Loaded) -> Prepared | Response:
        """A POST /invocations parsed and typed for ``score_together``, or its 4xx."""
        return _guarded(invocations.prepare, body, content_type, query, loaded.info)

    def score_together(self, requests: list[Prepared], loaded: Loaded) -> list[Response]:
        started = time.perf_counter()
        try:
            answers = invocations.score_together(requests, loaded.scorer, loaded.info)
        except Exception:  # a bug in one request's scoring: alone, only that one gets the 500
            answers = [_guarded(invocations.score, r, loaded.scorer, loaded.info)
                       for r in requests]
        self.metrics.scored(sum(r.rows for r in requests), time.perf_counter() - started)
        return answers

    def _route(self, method: str, path: str, query: str, content_type: str | None,
               body: bytes, loaded: Loaded) -> Response:
        if path == "/invocations":
            if method != "POST":
                return responses.error("use POST for /invocations", 405)
            return self._score_alone(body, content_type, query, loaded)
        if path in ("/metrics", "/ready") and method not in ("GET", "HEAD"):
            return responses.error(f"use GET for {path}", 405)
        if path == "/metrics":
            return Response(200, self.metrics.render(loaded.info), metrics.CONTENT_TYPE)
        if path == "/ready" and self.draining:  # readiness; /health stays liveness
            return responses.error("draining: shutting down", 503, "NOT_READY")
        static = {"/ping": (b"\n", TEXT), "/health": (b"\n", TEXT), "/ready": (b"\n", TEXT),
                  "/version": (self.version, TEXT), "/metadata": (loaded.metadata, JSON),
                  "/": (self.page, HTML)}
        if path not in static:
            return responses.error(f"no endpoint {path}", 404, "ENDPOINT_NOT_FOUND")
        if method not in ("GET", "HEAD"):
            return responses.error(f"use GET for {path}", 405)
        content, kind = static[path]
        return Response(200, content, kind)

    def _score_alone(self, body: bytes, content_type: str | None, query: str,
                     loaded: Loaded) -> Response:
        prepared = invocations.prepare(body, content_type, query, loaded.info)
        if isinstance(prepared, Response):
            return prepared
        started = time.perf_counter()
        answer = invocations.score(prepared, loaded.scorer, loaded.info)
        self.metrics.scored(prepared.rows, time.perf_counter() - started)
        return answer


def _numeric(version: str | None) -> float:
    try:
        return float(version) if version else math.nan
    except ValueError:
        return math.nan


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


def load_app(cfg: Any, workers: int = 1) -> tuple[App, tracking.ResolvedModel]:
    """Resolve the model in the store, choose its scorer, and build the App around it (with the
    metrics its ``workers`` processes share)."""
    loaded, model = load_version(cfg, cfg.serving.model_uri)
    return App(loaded.scorer, loaded.info, page_html(), Metrics(workers)), model


def load_version(cfg: Any, model_uri: str | None) -> tuple[Loaded, tracking.ResolvedModel]:
    """The model ``model_uri`` names (``serving.model_uri`` or one version of it), loaded.

    A model directory on disk (``serving.model_uri=/models/penguins``, as a container image
    bakes it in) is served without the tracking store, and a model in a local sqlite store
    found without MLflow's: neither imports MLflow (``tracking.find_model``)."""
    from_store = tracking.local_model_dir(model_uri) is None
    model = tracking.find_model(model_uri, cfg.tracking.registered_model_name,
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
    return Loaded.of(choice.scorer, info), model


def page_html() -> bytes:
    return files("runner.resources").joinpath("query.html").read_bytes()
