"""The embedded sqlite MLflow store, created so that a kill -9 at any moment or a concurrent
first use never leaves it broken.

MLflow creates a sqlite store in place, table by table and migration by migration (seconds): a
process killed meanwhile leaves a file every later start refuses (``table registered_models
already exists``, ``duplicate column name: step``, ``_alembic_tmp_... already exists``), and
two processes creating it at once break it the same way. Here the store is built by MLflow's
own code in a temporary file beside it, under an inter-process lock (``<db>.lock``), and
published with ``os.link``, which never replaces: the final path holds either nothing or a
complete store. A half-created store found there (from an MLflow process that is not runner,
or an older runner) is moved aside and created anew when it holds no runs or experiments;
one that holds data is never touched: runner stops with one line saying what to do.

Readiness is checked with the stdlib's sqlite3, read-only, so a ready store costs milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator

from runner import console, uris
from runner.compat import mlflow as mlflow_compat
from runner.errors import RunnerError, first_line
from runner.tracking import registry_sqlite

# Tables whose rows are recorded work; the default experiment (id 0) is not.
DATA_TABLES = ("runs", "registered_models", "model_versions", "logged_models", "datasets")
TMP_MARK = ".creating-"
# flock is per open file: threads of one process also take this (true process state)
_thread_lock = threading.Lock()
# How long a store being created by a process that is not runner (``mlflow ui``) is waited for
FOREIGN_WAIT_S = 120.0


def ensure(uri: str) -> None:
    """Make the sqlite store of ``uri`` exist at the installed MLflow's schema head.

    Any other URI is left alone. Raises RunnerError (one line) when the folder cannot be
    created or written, or when a store holding data is damaged or at another schema revision.
    """
    path = uris.sqlite_file(uri)
    if path is None:
        return
    if state(path) == "ready":  # the common case: no lock, no MLflow import
        return
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise RunnerError(f"tracking store {path}: cannot create its folder: "
                          f"{exc.strerror or exc}") from exc
    with _locked(path):
        _ensure_locked(path)


def state(path: str) -> str:
    """``missing``, ``ready`` (at head, default experiment there), ``empty`` (not ready and no
    recorded work: safe to recreate) or ``data`` (not ready but holding runs or experiments)."""
    if not os.path.exists(path):
        return "missing"
    try:
        with contextlib.closing(sqlite3.connect(uris.read_only(path), uri=True,
                                                timeout=30)) as db:
            tables = {r[0] for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if _is_ready(db, tables):
                return "ready"
            return "data" if _holds_data(db, tables) else "empty"
    except sqlite3.DatabaseError:  # not a database (a file cut short, or anything else)
        return "empty" if os.path.getsize(path) == 0 else "data"


def _is_ready(db: sqlite3.Connection, tables: set[str]) -> bool:
    if "alembic_version" not in tables or any(t.startswith("_alembic_tmp") for t in tables):
        return False
    rows = db.execute("SELECT version_num FROM alembic_version").fetchall()
    if len(rows) != 1 or not registry_sqlite.is_head_revision(str(rows[0][0])):
        return False
    return db.execute("SELECT 1 FROM experiments WHERE experiment_id = 0").fetchone() is not None


def _holds_data(db: sqlite3.Connection, tables: set[str]) -> bool:
    for table in DATA_TABLES:
        if table in tables and db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
            return True
    return "experiments" in tables and db.execute(
        "SELECT 1 FROM experiments WHERE experiment_id != 0 LIMIT 1").fetchone() is not None


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    """The store's creation lock: ``<db>.lock`` (flock, released by the OS when a holder dies)."""
    import fcntl

    try:
        handle = open(path + ".lock", "a")  # noqa: SIM115  # held for the with block
    except OSError as exc:
        raise RunnerError(f"tracking store {path}: cannot write its folder: "
                          f"{exc.strerror or exc}") from exc
    with _thread_lock, handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ensure_locked(path: str) -> None:
    _remove_stale_temporaries(path)  # only lock holders make them: any found now is dead
    found = state(path)
    if found in ("empty", "data") and _in_use_by_others(path):
        found = _wait_for_creator(path)  # e.g. ``mlflow ui`` creating it in place right now
    if found == "ready":
        return
    if found == "empty" and _in_use_by_others(path):
        raise RunnerError(f"the MLflow store {path} is being created by another process that "
                          f"has not finished in {FOREIGN_WAIT_S:.0f} s: try again later")
    if found == "data":
        raise RunnerError(_damaged_message(path))
    if found == "empty":
        broken = f"{path}.broken-{time.strftime('%Y%m%d-%H%M%S')}"
        os.replace(path, broken)
        for suffix in ("-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.replace(path + suffix, broken + suffix)
        console.say(f"runner: the MLflow store {path} was left half-created (no runs in it): "
                    f"moved aside to {broken} and created anew")
    _create(path)


def _create(path: str) -> None:
    """Build the store with MLflow's own code in a temporary file, then publish it."""
    tmp = f"{path}{TMP_MARK}{os.getpid()}"
    try:
        _build(tmp)
        try:
            os.link(tmp, path)
        except FileExistsError:  # a process that is not runner created it meanwhile
            if _wait_for_creator(path) != "ready":
                raise RunnerError(_damaged_message(path)) from None
    except OSError as exc:
        raise RunnerError(f"tracking store {path}: cannot create it: "
                          f"{exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _build(tmp: str) -> None:
    """MLflow's tracking store on ``tmp``: every migration to head and the default experiment,
    as MLflow would make them in place. Its connections are closed before publishing."""
    import logging

    for noisy in ("alembic", "mlflow.store"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        mlflow_compat.create_sqlalchemy_store(uris.sqlite_uri(tmp))
    except Exception as exc:
        if isinstance(exc, OSError):
            raise
        raise RunnerError(f"tracking store {tmp}: MLflow cannot create it: "
                          f"{first_line(exc)}") from exc
    with open(tmp, "rb") as f:  # on disk before its name is: a crash cannot publish a torn file
        os.fsync(f.fileno())


def _remove_stale_temporaries(path: str) -> None:
    folder, base = os.path.split(path)
    for name in os.listdir(folder):
        if name.startswith(base + TMP_MARK):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(folder, name))


def _in_use_by_others(path: str) -> bool:
    """Another live process has the file open (Linux /proc); elsewhere: it changed in the last
    few seconds. A creator killed mid-way has neither."""
    if not os.path.isdir("/proc/self/fd"):
        return time.time() - _last_change(path) < 5.0
    target = os.stat(path)
    me = str(os.getpid())
    with contextlib.suppress(OSError):
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or pid == me:
                continue
            with contextlib.suppress(OSError):
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    with contextlib.suppress(OSError):
                        st = os.stat(f"/proc/{pid}/fd/{fd}")
                        if (st.st_ino, st.st_dev) == (target.st_ino, target.st_dev):
                            return True
    return False


def _last_change(path: str) -> float:
    times = [os.stat(p).st_mtime for p in (path, path + "-journal", path + "-wal")
             if os.path.exists(p)]
    return max(times, default=0.0)


def _wait_for_creator(path: str) -> str:
    """Wait (bounded) while another process creates the store in place; its final state."""
    deadline = time.monotonic() + FOREIGN_WAIT_S
    found = state(path)
    while found != "ready" and time.monotonic() < deadline and _in_use_by_others(path):
        time.sleep(0.2)
        found = state(path)
    return found


def _damaged_message(path: str) -> str:
    return (f"the MLflow store {path} holds recorded runs or is not a database, and is not at "
            "this MLflow's schema head (an interrupted migration, or another MLflow version): "
            "left as it is; keep a copy, then run `mlflow db upgrade sqlite:///"
            f"{path}`, or set tracking.uri to another store")
