"""Where the study lives: the storage URL (a relative sqlite path made absolute), checked before
anything starts, shown without its password, and opened safely when processes race to create it
or a creation was cut short."""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing
from typing import TYPE_CHECKING

from runner import uris
from runner.errors import RunnerError, first_line

from . import lock

if TYPE_CHECKING:  # optuna is imported when a sweep runs, not when Hydra scans its plugins
    import optuna


def storage_url(storage: str | None) -> str:
    """The storage URL with a relative sqlite path made absolute (and its folder created)."""
    from .config import DEFAULT_STORAGE

    url = uris.absolute_sqlite(storage or DEFAULT_STORAGE)
    path = uris.sqlite_file(url, options=True)
    if path is not None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    return url


def check_storage(url: str) -> None:
    """A URL SQLAlchemy can use (scheme and driver known), checked before anything starts."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        make_url(url).get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise RunnerError(f"hydra.sweeper.storage={url!r}: not a database URL SQLAlchemy can "
                          f"use ({exc}); e.g. sqlite:///outputs/optuna.db") from None


def shown_url(url: str) -> str:
    """The URL without its password, to show or to tag runs with."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """The storage, created under a lock (two processes creating it at once race). A storage
    that cannot be opened and holds no study (a creation cut short) is moved aside, not deleted,
    and created again; one holding studies is reported."""
    import optuna

    with lock.creating(url):
        try:
            return optuna.storages.RDBStorage(url)
        except Exception as exc:
            path = lock.sqlite_path(url)
            if path is None or _has_studies(path):
                raise RunnerError(f"hydra.sweeper.storage={url}: cannot open the Optuna storage: "
                                  f"{first_line(exc)}") from exc
            aside = f"{path}.broken-{time.strftime('%Y%m%d-%H%M%S')}"
            os.replace(path, aside)
            from runner.console import out as say

            say(f"[sweep] {path}: a storage whose creation was cut short, with no study, "
                f"moved to {aside} and created again")
            return optuna.storages.RDBStorage(url)


def _has_studies(path: str) -> bool:
    try:
        with closing(sqlite3.connect(uris.read_only(path), uri=True, timeout=10)) as db:
            (count,) = db.execute("SELECT count(*) FROM studies").fetchone()
    except sqlite3.OperationalError as exc:  # no studies table: none was ever created
        return "no such table" not in str(exc)
    except sqlite3.DatabaseError:  # not a database (cut short while the file began)
        return os.path.getsize(path) > 4096
    return int(count) > 0
