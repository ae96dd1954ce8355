"""The one parser of the URIs runner reads local files through: ``sqlite:///`` stores (MLflow's
and Optuna's), ``file:`` artifact and data locations, and the URI scheme MLflow picks a store by.

Pure string work (no MLflow, no SQLAlchemy): the answers mirror how SQLAlchemy and MLflow read the
same URIs, and say None whenever a URI is not plainly a local file, so that the library that reads
it decides.
"""

from __future__ import annotations

import os
from urllib.parse import quote, unquote, urlsplit

SQLITE = "sqlite:///"
# MLflow's database schemes, each possibly with a driver: postgresql+psycopg2://...
DATABASE_ENGINES = ("postgresql", "mysql", "sqlite", "mssql")


def sqlite_file(uri: str, options: bool = False) -> str | None:
    """The absolute path of the database file of a ``sqlite:///<path>`` URI.

    A relative path is taken against the cwd and URL escapes are decoded, as SQLAlchemy opens
    it. None for any other URI and for an in-memory database; also for a URI with query options
    or a fragment (left to the library as they are), unless ``options``: then they are ignored
    (the file is the same whatever the options say).
    """
    if not uri.startswith(SQLITE):
        return None
    path = uri[len(SQLITE):]
    if options:
        path = path.split("?", 1)[0].split("#", 1)[0]
    if not path or path == ":memory:" or any(c in path for c in "?#"):
        return None
    return os.path.abspath(unquote(path))


def sqlite_uri(path: str) -> str:
    """The ``sqlite:///`` URI of a database file (a relative path: against the cwd)."""
    return SQLITE + os.path.abspath(path)


def absolute_sqlite(uri: str) -> str:
    """A ``sqlite:///`` URI with a relative path made absolute against the cwd (query options
    kept); any other URI as it is."""
    path = uri[len(SQLITE):]
    if not uri.startswith(SQLITE) or path.startswith("/") or path in ("", ":memory:"):
        return uri
    return SQLITE + os.path.abspath(path)


def read_only(path: str) -> str:
    """The URI that opens a sqlite file read-only: ``sqlite3.connect(read_only(path), uri=True)``
    (quoted: a path may hold ``?`` or ``#``)."""
    return f"file:{quote(path)}?mode=ro"


def local_path(uri: str) -> str | None:
    """The absolute local path of a ``file:`` URI (``file:///p``, ``file:/p``) or an absolute
    path; None for anything else (s3://, mlflow-artifacts:, relative paths, file://<host>/, URL
    escapes)."""
    if "%" in uri:
        return None
    if uri.startswith("file:"):
        parts = urlsplit(uri)
        if parts.netloc or parts.query or parts.fragment:
            return None
        uri = parts.path
    return uri if uri.startswith("/") else None


def rebased(uri: str, base: str) -> str:
    """A ``sqlite:///`` or ``file:`` URI whose path is relative, its path made absolute against
    ``base``; any other URI as it is."""
    for prefix in (SQLITE, "file:"):
        rest = uri[len(prefix):]
        if uri.startswith(prefix) and not rest.startswith("/"):
            return prefix + os.path.join(base, rest)
    return uri


def scheme(uri: str) -> str:
    """The store scheme MLflow picks a store by (``mlflow.utils.uri.get_uri_scheme``): ``""``
    for a path, the engine for a database URL, ``databricks`` alone, ..."""
    found = urlsplit(uri).scheme.lower()
    if uri in ("databricks", "databricks-uc", "uc"):
        return uri
    for engine in DATABASE_ENGINES:
        if found.startswith(engine):
            return engine
    return "" if len(found) == 1 else found  # C:\... is a path
