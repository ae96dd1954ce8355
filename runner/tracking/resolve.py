"""Which model to serve or score: a model directory, a ``runs:/`` or ``models:/`` URI, or the
registered name's ``champion`` (else its latest servable version), found in the store and
downloaded; and the registry's rules for which versions may be served at all."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from runner import uris
from runner.errors import RunnerError, first_line
from runner.tracking import connect, read, registry_sqlite, runs

CHAMPION_ALIAS = "champion"


@dataclass(frozen=True)
class ResolvedModel:
    """A model found in the store and downloaded: where it is and what it is."""

    uri: str  # the URI it was loaded from (models:/<name>/<version> once resolved)
    local_path: str
    name: str | None = None
    version: str | None = None
    run_id: str | None = None
    alias: str | None = None


def resolve_model(model_uri: str | None, registered_name: str | None) -> ResolvedModel:
    """``model_uri`` if given, else ``models:/<name>@champion``, else the name's latest version.

    Downloads the model's files (a no-op copy for local paths) and raises RunnerError naming what
    was looked for when nothing is found. Call ``use_store`` first.
    """
    local_dir = local_model_dir(model_uri)
    if local_dir is not None:  # a model directory on disk: no store to ask
        return ResolvedModel(str(model_uri), local_dir,
                             run_id=read.mlmodel(local_dir).get("run_id"))
    import mlflow

    read.quiet_downloads()  # one line per file otherwise
    name, version, alias = _registry_version(model_uri, registered_name)
    uri = model_uri or f"models:/{name}/{version}"
    try:  # the version chosen here: MLflow's own "latest" could be one runner never serves
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version}" if name and version else uri)
        run_id = read.mlmodel(local).get("run_id")
    except Exception as exc:
        raise RunnerError(f"model {uri}: {first_line(exc)}") from exc
    return ResolvedModel(uri, local, name, version, run_id, alias)


def find_model(model_uri: str | None, registered_name: str | None,
               store_uri: str | None) -> ResolvedModel:
    """``resolve_model`` in the store ``store_uri`` (``tracking.uri``, resolved as in
    ``resolve_uri``), importing MLflow only when it must be asked.

    A model directory needs no store. In a local sqlite store a registry or ``runs:/`` URI is
    read with the stdlib's sqlite3, read-only, and served from the store's own artifact
    directory: ~2 s less startup. Whenever that reading could differ from MLflow's answer
    (``runner.tracking.registry_sqlite`` says when), MLflow answers, and raises its own errors.
    """
    if local_model_dir(model_uri) is not None:
        return resolve_model(model_uri, registered_name)
    found = registry_sqlite.find(connect.resolve_uri(store_uri), model_uri, registered_name,
                                 CHAMPION_ALIAS)
    try:
        run_id = read.mlmodel(found.local_path).get("run_id") if found else None
    except RunnerError:  # unreadable: MLflow's path says so, naming the model URI
        found = None
    if found is None:
        connect.use_store(store_uri)
        return resolve_model(model_uri, registered_name)
    uri = model_uri or f"models:/{found.name}/{found.version}"
    return ResolvedModel(uri, found.local_path, found.name, found.version, run_id, found.alias)


def may_move(model_uri: str | None) -> bool:
    """Whether the version ``model_uri`` names can change while served: an alias
    (``models:/<name>@<alias>``), ``models:/<name>/latest``, or None (the champion, else the
    latest version). A version number, a run's model or a directory never moves."""
    if model_uri is None:
        return True
    if not model_uri.startswith("models:/"):
        return False
    name = model_uri[len("models:/"):]
    return "@" in name or name.endswith("/latest")


def aliased_version(model_uri: str | None, registered_name: str | None,
                    store_uri: str | None) -> tuple[str, str] | None:
    """(name, version) that ``model_uri`` resolves to in the store now, nothing downloaded.

    Read from a local sqlite store without MLflow when it can be (``registry_sqlite``), else
    asked of MLflow's registry; raises RunnerError as ``resolve_model`` does."""
    found = registry_sqlite.find(connect.resolve_uri(store_uri), model_uri, registered_name,
                                 CHAMPION_ALIAS)
    if found is not None and found.name and found.version:
        return found.name, found.version
    connect.use_store(store_uri)
    name, version, _ = _registry_version(model_uri, registered_name)
    return (name, version) if name and version else None


def local_model_dir(model_uri: str | None) -> str | None:
    """The directory of a model URI that is a local path (or file:) holding an MLmodel."""
    if not model_uri:
        return None
    if model_uri.startswith("file:"):
        path = uris.local_path(model_uri)
    elif ":" in model_uri.split("/", 1)[0]:  # runs:/, models:/, s3://, ...
        return None
    else:
        path = model_uri
    return registry_sqlite.model_dir(os.path.abspath(path)) if path else None


def _registry_version(
    model_uri: str | None, registered_name: str | None
) -> tuple[str | None, str | None, str | None]:
    """(name, version, alias) of a models:/ URI or of the registered name's default version."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if model_uri and not model_uri.startswith("models:/"):
        return None, None, None
    if model_uri:
        name, _, ref = model_uri[len("models:/") :].partition("@")
        name, _, number = name.partition("/")
        alias = ref or None
    elif registered_name:
        name, number, alias = registered_name, "", CHAMPION_ALIAS
    else:
        raise RunnerError("no model: set the model URI or tracking.registered_model_name")
    client = MlflowClient()
    found: Any = None
    try:
        if number and number != "latest":
            found = client.get_model_version(name, number)
        elif alias:
            found = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if model_uri:  # asked for explicitly: no fallback
            raise RunnerError(f"model {model_uri}: {first_line(exc)}") from exc
    if found is not None:
        why = unservable(client, found)
        if why is None:
            return name, str(found.version), None if number else alias
        if model_uri:  # asked for explicitly: said, not silently replaced
            raise RunnerError(f"model {model_uri}: version {found.version} is not served: {why}")
    return name, _latest_version(client, name), None


def unservable(client: Any, version: Any) -> str | None:
    """Why a model version must not be served (its run did not finish, or runner tagged it
    failed); None when it may be."""
    from mlflow.exceptions import MlflowException

    if (version.tags or {}).get(runs.STATUS_TAG) == runs.FAILED:
        return f"tagged {runs.STATUS_TAG}={runs.FAILED}"
    if not version.run_id:
        return None
    try:
        status = client.get_run(version.run_id).info.status
    except MlflowException:  # a run of another store: nothing known against it
        return None
    return None if status == "FINISHED" else f"its run {version.run_id} is {status}"


def _latest_version(client: Any, name: str) -> str:
    """The highest servable version of ``name``."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException as exc:
        raise RunnerError(f"registered model {name!r}: {first_line(exc)}") from exc
    for version in sorted(versions, key=lambda v: -int(v.version)):
        if unservable(client, version) is None:
            return str(version.version)
    raise RunnerError(
        f"registered model {name!r} has no servable versions in {connect.mlflow_uri()} "
        f"({len(versions)} not FINISHED or failed): train one with `runner`, or set the model "
        "URI (runs:/<run id>/model)"
    )


def load_spark_model(local_path: str) -> Any:
    """The spark flavor's PipelineModel (needs an active SparkSession)."""
    import mlflow.spark

    from runner import spark

    logging.getLogger("mlflow.spark").setLevel(logging.WARNING)  # "already on DFS" notes
    try:
        if spark.is_connect():  # MLflow's loader copies to DFS through a local JVM: none here
            data = read.model_flavors(local_path)["spark"]["model_data"]
            return spark.read_model(os.path.join(local_path, data))
        return mlflow.spark.load_model(local_path)
    except Exception as exc:
        raise RunnerError(f"model at {local_path}: cannot load it: {first_line(exc)}") from exc
