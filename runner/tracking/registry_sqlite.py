"""MLflow's answer to "which model directory is this model URI?" read straight from a local sqlite
store, without importing MLflow (over a second) or its SqlAlchemy store (most of another).

Used only by ``runner.tracking``. Every function answers ``None`` whenever the answer might
differ from MLflow's (another registry URI, workspaces, a schema revision other than the installed
MLflow's head or tables whose columns are not the ones reviewed here, a prompt, a stage or
reserved alias, anything not found, an artifact location that is not a local directory holding
an MLmodel, any sqlite error): the caller then asks MLflow, which gives its own answer or error.
Versions runner must not serve (their run in the store is not FINISHED, or they are tagged
``runner.status=failed``) are skipped exactly as ``runner.tracking`` skips them through MLflow.
The queries mirror MLflow 3.17's SqlAlchemyStore (model registry: ``get_model_version``,
``get_model_version_by_alias``, ``search_model_versions``, ``get_model_version_download_uri``;
tracking: ``get_run``, ``get_logged_model``).
"""

from __future__ import annotations

import os
import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from functools import lru_cache

from runner import uris
from runner.compat import mlflow as mlflow_compat

DELETED_STAGE = "Deleted_Internal"  # a deleted model version: MLflow keeps the row, redacted
DELETED_LOGGED_MODEL = "deleted"
WORKSPACE = "default"  # the only workspace of a store without MLFLOW_ENABLE_WORKSPACES
PROMPT_TAG = "mlflow.prompt.is_prompt"  # MLflow keeps prompts as registered models, hidden
STATUS_TAG, FAILED = "runner.status", "failed"  # tracking.STATUS_TAG, tracking.FAILED
# The columns of the tables read, as MLflow 3.17's schema head (dc11669786a5) has them
SCHEMA = {
    "registered_models": "name creation_time last_updated_time description workspace",
    "model_versions": "name version creation_time last_updated_time description user_id "
                      "current_stage source run_id status status_message run_link "
                      "storage_location workspace",
    "registered_model_aliases": "alias version name workspace",
    "registered_model_tags": "key value name workspace",
    "model_version_tags": "key value name version workspace",
    "logged_models": "model_id experiment_id name artifact_location creation_timestamp_ms "
                     "last_updated_timestamp_ms status lifecycle_stage model_type "
                     "source_run_id status_message",
    "runs": "run_uuid name source_type source_name entry_point_name user_id status start_time "
            "end_time source_version lifecycle_stage artifact_uri experiment_id deleted_time",
}
_NAME = r"[^/:@?#'%]+"  # what MLflow allows in a name, less what would parse or quote apart
MODELS_URI = re.compile(rf"models:/({_NAME})(?:@({_NAME})|/([0-9]+|latest))")
RUNS_URI = re.compile(r"runs:/([0-9a-f]{32})/([A-Za-z0-9_-][A-Za-z0-9_.-]*)")
LOGGED_MODEL_URI = re.compile(rf"models:/({_NAME})")


@dataclass(frozen=True)
class Found:
    """A model version (or run's model) and the local directory holding its MLmodel."""

    local_path: str
    name: str | None = None
    version: str | None = None
    alias: str | None = None


def find(store_uri: str, model_uri: str | None, registered_name: str | None,
         default_alias: str) -> Found | None:
    """What MLflow resolves ``model_uri`` to in the sqlite store ``store_uri``, else None.

    Args:
        model_uri: ``models:/<name>@<alias>``, ``models:/<name>/<version>``,
            ``models:/<name>/latest`` or ``runs:/<run id>/<path>``; None for ``registered_name``'s
            ``default_alias`` version, else its latest (``resolve._registry_version``'s rules).
    """
    path = uris.sqlite_file(store_uri)
    if path is None or not os.path.isfile(path) or _env_redirects():
        return None
    try:
        with closing(sqlite3.connect(uris.read_only(path), uri=True)) as db:
            if not known_schema(db):
                return None
            return _find(db, model_uri, registered_name, default_alias)
    except (sqlite3.Error, OSError, ValueError, OverflowError):
        return None


def _env_redirects() -> bool:
    """MLflow would use another registry, or workspace-scoped queries."""
    workspaces = os.environ.get("MLFLOW_ENABLE_WORKSPACES", "").strip().lower()
    return bool(os.environ.get("MLFLOW_REGISTRY_URI")) or workspaces not in ("", "false", "0")


def known_schema(db: sqlite3.Connection) -> bool:
    """The store is at the installed MLflow's latest schema revision, which MLflow requires
    (older or newer: it refuses the store), and the tables read here have the columns they had
    when these queries were checked against MLflow's (any other: a schema not reviewed)."""
    rows = db.execute("SELECT version_num FROM alembic_version").fetchall()
    if len(rows) != 1 or not is_head_revision(str(rows[0][0])):
        return False
    columns: dict[str, set[str]] = {}
    for table, column in db.execute(
            "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p "
            f"WHERE m.type = 'table' AND m.name IN ({', '.join('?' for _ in SCHEMA)})",
            list(SCHEMA)):
        columns.setdefault(table, set()).add(column)
    return columns == {table: set(names.split()) for table, names in SCHEMA.items()}


@lru_cache(maxsize=4)
def is_head_revision(revision: str) -> bool:
    """One migration script of the installed MLflow defines ``revision``, and no other names it
    (as its ``down_revision``): the check MLflow makes with alembic, without importing either."""
    scripts = mlflow_compat.migration_scripts()
    if not scripts or not re.fullmatch(r"[0-9a-f]{6,40}", revision):
        return False
    mentions = []
    for entry in os.scandir(scripts):
        if entry.name.endswith(".py"):
            with open(entry.path, encoding="utf-8") as f:
                text = f.read()
            if revision in text:
                mentions.append(text)
    return len(mentions) == 1 and f'revision = "{revision}"' in mentions[0]


def _find(db: sqlite3.Connection, model_uri: str | None, registered_name: str | None,
          default_alias: str) -> Found | None:
    alias: str | None
    if model_uri is None:
        if not registered_name or not re.fullmatch(_NAME, registered_name):
            return None
        name, alias, number = registered_name, default_alias, None
    elif runs := RUNS_URI.fullmatch(model_uri):
        local = run_model_dir(db, runs.group(1), runs.group(2))
        return Found(local) if local else None
    elif models := MODELS_URI.fullmatch(model_uri):
        name, alias, number = models.groups()
    else:
        return None
    if not _is_plain_model(db, name) or (alias and alias.lower() == "latest"):
        return None  # "@latest" is MLflow's reserved alias: its own rules
    if number and number != "latest":
        version: int | None = int(number)  # a missing or deleted one has no directory below
        if not _servable(db, name, int(number)):
            return None  # MLflow's path refuses it, saying why
    else:
        version = _aliased(db, name, alias) if alias else None
        if version is not None and not _servable(db, name, version):
            if model_uri is not None:
                return None  # asked for by alias: MLflow's path refuses it, saying why
            version = None  # the default: the latest servable version instead
        if version is None and (number == "latest" or model_uri is None):
            version, alias = _latest(db, name), None  # the default without a champion: latest
    local = version_dir(db, name, version) if version is not None else None
    return Found(local, name, str(version), alias) if local else None  # else MLflow's error


def _is_plain_model(db: sqlite3.Connection, name: str) -> bool:
    """A registered model in the default workspace, neither it nor a version tagged a prompt."""
    found = db.execute("SELECT 1 FROM registered_models WHERE name = ? AND workspace = ?",
                       (name, WORKSPACE)).fetchone()
    prompt = db.execute(
        "SELECT 1 FROM registered_model_tags WHERE name = ? AND key = ? UNION ALL "
        "SELECT 1 FROM model_version_tags WHERE name = ? AND key = ?",
        (name, PROMPT_TAG, name, PROMPT_TAG)).fetchone()
    return found is not None and prompt is None


def _aliased(db: sqlite3.Connection, name: str, alias: str) -> int | None:
    """The live version an alias points to (an alias on a deleted version: not found)."""
    row = db.execute(
        "SELECT v.version FROM registered_model_aliases a JOIN model_versions v "
        "ON v.name = a.name AND v.version = a.version AND v.workspace = a.workspace "
        "WHERE a.name = ? AND a.alias = ? AND a.workspace = ? AND v.current_stage != ?",
        (name, alias, WORKSPACE, DELETED_STAGE)).fetchone()
    return int(row[0]) if row else None


# A version whose run is in the store and not FINISHED, or tagged failed by runner, is not
# served (``resolve.unservable``: the same rule through MLflow)
_SERVABLE = (
    "NOT EXISTS (SELECT 1 FROM runs r WHERE r.run_uuid = v.run_id AND r.status != 'FINISHED') "
    "AND NOT EXISTS (SELECT 1 FROM model_version_tags t WHERE t.name = v.name "
    "AND t.version = v.version AND t.workspace = v.workspace AND t.key = ? AND t.value = ?)")


def _servable(db: sqlite3.Connection, name: str, version: int) -> bool:
    row = db.execute(
        f"SELECT 1 FROM model_versions v WHERE v.name = ? AND v.version = ? "
        f"AND v.workspace = ? AND {_SERVABLE}",
        (name, version, WORKSPACE, STATUS_TAG, FAILED)).fetchone()
    return row is not None


def _latest(db: sqlite3.Connection, name: str) -> int | None:
    """The highest live, servable version."""
    row = db.execute(
        "SELECT MAX(v.version) FROM model_versions v "
        f"WHERE v.name = ? AND v.workspace = ? AND v.current_stage != ? AND {_SERVABLE}",
        (name, WORKSPACE, DELETED_STAGE, STATUS_TAG, FAILED)).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def _download_uri(db: sqlite3.Connection, name: str, version: int) -> str | None:
    """``get_model_version_download_uri``: the storage location, else the source."""
    row = db.execute(
        "SELECT storage_location, source FROM model_versions "
        "WHERE name = ? AND version = ? AND workspace = ? AND current_stage != ?",
        (name, version, WORKSPACE, DELETED_STAGE)).fetchone()
    return None if row is None else str(row[0] or row[1] or "")


def version_dir(db: sqlite3.Connection, name: str, version: int) -> str | None:
    """The local directory a model version's files are downloaded from, one ``models:/<id>``
    (MLflow 3 logged model) or ``runs:/`` indirection followed."""
    uri = _download_uri(db, name, version) or ""
    if runs := RUNS_URI.fullmatch(uri):
        return run_model_dir(db, runs.group(1), runs.group(2))
    if logged := LOGGED_MODEL_URI.fullmatch(uri):
        row = db.execute(
            "SELECT artifact_location FROM logged_models "
            "WHERE model_id = ? AND lifecycle_stage != ?",
            (logged.group(1), DELETED_LOGGED_MODEL)).fetchone()
        uri = str(row[0]) if row and row[0] else ""
    return model_dir(uris.local_path(uri))


def run_model_dir(db: sqlite3.Connection, run_id: str, artifact: str) -> str | None:
    """``runs:/<run_id>/<artifact>``: the run's artifact directory joined with the path, unless
    the run also logged an MLflow 3 logged model of that name (MLflow lays its files over)."""
    row = db.execute("SELECT artifact_uri FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()
    logged = db.execute("SELECT 1 FROM logged_models WHERE source_run_id = ? AND name = ?",
                        (run_id, artifact)).fetchone()
    base = uris.local_path(str(row[0] or "")) if row and not logged else None
    return model_dir(os.path.join(base, artifact)) if base else None


def model_dir(path: str | None) -> str | None:
    """``path`` normalised, when it is a directory holding an MLmodel file."""
    if not path or not os.path.isfile(os.path.join(path, "MLmodel")):
        return None
    return os.path.normpath(path)
