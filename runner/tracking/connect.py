"""Which MLflow store a task uses, checked before any work starts, and MLflow pointed at it.

``tracking.uri`` if set, else $MLFLOW_TRACKING_URI, else the embedded sqlite store at
``outputs/mlflow.db``. The checks take seconds at most and need neither MLflow nor a JVM, so a
wrong URI fails at once, in one line naming it, and not minutes into a run.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

from runner import uris
from runner.compat import mlflow as mlflow_compat
from runner.errors import RunnerError, first_line
from runner.tracking import store

DEFAULT_STORE = os.path.join("outputs", "mlflow.db")
PROBE_TIMEOUT_S = 3.0
# Tracking servers that answered: true process state, probed once per process (a sweep's trials
# check the store again, each)
_reachable: set[str] = set()


def resolve_uri(uri: str | None) -> str:
    """``tracking.uri`` if set, else $MLFLOW_TRACKING_URI, else the embedded sqlite store."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or uris.sqlite_uri(DEFAULT_STORE)


def use_store(uri: str | None, writes: bool = False) -> str:
    """Point MLflow at a store (resolved as in ``resolve_uri``) without choosing an experiment.

    The store is checked first (``check_store``; ``writes``: it will be written to) and an
    embedded sqlite store is created if missing, safely against kills and concurrent creators
    (``runner.tracking.store``).
    """
    resolved = check_store(uri, writes)
    store.ensure(resolved)
    import mlflow

    for noisy in ("alembic", "mlflow.store", "mlflow.tracking"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    mlflow.set_tracking_uri(resolved)
    return resolved


def check_store(uri: str | None, writes: bool = True) -> str:
    """What can be known about the store in a few seconds and without MLflow or a JVM: a known
    URI scheme, a tracking server that answers, a sqlite file and folder that can be written
    (``writes``; a read-only store still serves). Returns the resolved URI; raises RunnerError
    (one line naming the URI) otherwise."""
    resolved = resolve_uri(uri)
    scheme = uris.scheme(resolved)
    if scheme in ("http", "https"):
        probe_server(resolved)
    elif scheme not in known_schemes():
        raise RunnerError(f"tracking.uri={resolved}: unknown store scheme {scheme!r} (use "
                          "sqlite:///<file>, http(s)://<server>, a database URL or a path)")
    path = uris.sqlite_file(resolved)
    if path is not None and (writes or not os.path.exists(path)):
        check_writable(path)
    return resolved


def configure(cfg: Any) -> str:
    """Point MLflow at the store and experiment of a ``tracking`` config; return the store URI."""
    import mlflow

    uri = use_store(cfg.uri, writes=True)
    try:
        experiment = mlflow.get_experiment_by_name(cfg.experiment_name)
        if experiment is None:
            mlflow.create_experiment(
                cfg.experiment_name, artifact_location=_artifact_root(uri, cfg.experiment_name)
            )
        mlflow.set_experiment(cfg.experiment_name)
    except Exception as exc:
        raise RunnerError(
            f"tracking.uri={uri}: cannot use the MLflow store: {first_line(exc)}"
        ) from exc
    return uri


def _artifact_root(uri: str, experiment: str) -> str | None:
    """Keep the embedded store's artifacts beside its database instead of in ./mlruns."""
    path = uris.sqlite_file(uri, options=True)
    if path is None:
        return None
    return "file://" + os.path.join(os.path.dirname(path), "mlartifacts", experiment)


def known_schemes() -> frozenset[str]:
    """MLflow's own store schemes and those of installed tracking store plugins."""
    from importlib.metadata import entry_points

    plugins = {e.name for e in entry_points(group="mlflow.tracking_store")}
    return mlflow_compat.TRACKING_STORE_SCHEMES | plugins


def probe_server(uri: str) -> None:
    """One GET of the tracking server's ``/health``, ``PROBE_TIMEOUT_S`` to connect and as long
    to answer: MLflow's client would retry an unreachable server for minutes. Any HTTP answer
    (even an error status: a proxy, auth) means it is there; MLflow says the rest."""
    import http.client
    import socket
    import urllib.error
    import urllib.request

    if uri in _reachable:
        return
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as answer:  # noqa: S310
            answer.read(64)
    except urllib.error.HTTPError:
        pass
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, socket.timeout | TimeoutError):
            reason = f"no answer in {PROBE_TIMEOUT_S:.0f} s"
        raise RunnerError(f"tracking.uri={uri}: the tracking server cannot be reached "
                          f"({reason})") from exc
    _reachable.add(uri)


def check_writable(path: str) -> None:
    """The sqlite file (if there) and its folder (sqlite writes its journal there) can be
    written: MLflow would otherwise fail in the middle of a run, with a traceback."""
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
        # a unique name: sweep trials in threads of one process check at the same moment
        handle, probe = tempfile.mkstemp(prefix=".runner-write-check-", dir=folder)
        os.close(handle)
        os.unlink(probe)
        if os.path.exists(path):
            with open(path, "r+b"):
                pass
    except OSError as exc:
        raise RunnerError(f"tracking store {path}: cannot write "
                          f"{exc.filename or folder}: {exc.strerror or exc}") from exc


def mlflow_uri() -> str:
    """The store MLflow is pointed at now."""
    import mlflow

    return str(mlflow.get_tracking_uri())


def ui_command(uri: str) -> str:
    """The shell command that opens the MLflow UI on this store."""
    return f"mlflow ui --backend-store-uri {uri}" if not uri.startswith("http") else f"open {uri}"
