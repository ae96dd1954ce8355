"""Reading a local sqlite store without MLflow (tracking.registry_sqlite, find_model) must
give exactly MLflow's answer, or none (then MLflow is asked): checked on a real store with two
trained runs, versions from a run's files, a ``runs:/`` source, an MLflow 3 logged model and a
deleted version, aliases champion and challenger; and against stores MLflow would read
differently or not at all. Last, ``runner serve`` from the registry over real HTTP, without
importing MLflow."""

from __future__ import annotations

import json
import shutil
import sqlite3
import urllib.request
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from runner import tracking
from runner.errors import RunnerError
from runner.tracking import registry_sqlite
from tests.conftest import LAB_REQUEST, TEST_SPARK_OVERRIDES, make_config
from tests.serving_support import Store, start_server

NAME = "penguin-classifier"
OTHER = "other-classifier"  # one version, no aliases


@dataclass(frozen=True)
class Registry:
    uri: str
    root: Path
    first_run: str  # versions 1 (@champion) and 3 (source runs:/<first_run>/model)
    second_run: str  # versions 2 (@challenger) and 4 (an MLflow 3 logged model of its files)


def train_into(uri: str, overrides: list[str]) -> str:
    from runner import train

    cfg = make_config([*TEST_SPARK_OVERRIDES, f"tracking.uri={uri}",
                       "tracking.log_datasets=false", "evaluation.train_metrics=false",
                       "evaluation.confusion_matrix=false", *overrides])
    return train.run(cfg, []).run_id


@pytest.fixture(scope="module")
def registry(spark, tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """Versions 1-4 of NAME (5 registered, then deleted: Deleted_Internal), one of OTHER."""
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("registry-sqlite")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    first = train_into(uri, [])
    second = train_into(uri, ["model.maxIter=10", "model.regParam=0.2"])
    tracking.use_store(uri)
    client = MlflowClient()
    for run_id in (first, second):  # model files in the run's artifacts too, as runner logged
        #                                  them before MLflow 3's logged models (runs:/ sources)
        client.log_artifacts(run_id, str(model_files(run_id, root / run_id)), "model")
    client.create_model_version(NAME, f"runs:/{first}/model", run_id=first)
    experiment = client.get_run(second).info.experiment_id
    logged = client.create_logged_model(experiment, name="packaged", source_run_id=second)
    client.log_model_artifacts(logged.model_id, str(root / second / "model"))
    client.finalize_logged_model(logged.model_id, "READY")
    client.create_model_version(NAME, f"models:/{logged.model_id}", model_id=logged.model_id)
    deleted = client.create_model_version(NAME, f"runs:/{first}/model", run_id=first)
    client.delete_model_version(NAME, deleted.version)
    client.set_registered_model_alias(NAME, "champion", "1")
    client.set_registered_model_alias(NAME, "challenger", "2")
    client.create_registered_model(OTHER)
    client.create_model_version(OTHER, f"runs:/{second}/model", run_id=second)
    return Registry(uri, root, first, second)


def model_files(run_id: str, dst: Path) -> Path:
    """A local copy of the model a run logged (an MLflow 3 logged model: its files live under
    the model's own artifact location, not the run's)."""
    import mlflow

    dst.mkdir(parents=True, exist_ok=True)
    return Path(mlflow.artifacts.download_artifacts(f"runs:/{run_id}/model", dst_path=str(dst)))


def mlflows_answer(store_uri: str, model_uri: str | None, name: str | None
                   ) -> tracking.ResolvedModel:
    tracking.use_store(store_uri)
    return tracking.resolve_model(model_uri, name)


def describe(model: tracking.ResolvedModel) -> tuple[str | None, ...]:
    mlmodel = (Path(model.local_path) / "MLmodel").read_text()
    return model.uri, model.name, model.version, model.run_id, model.alias, mlmodel


# A version whose source is runs:/<id>/model points, in MLflow 3, at the logged model of that
# run named "model": registry_sqlite leaves those to MLflow (answers None, "fast" False).
CASES = [  # (model URI, registered name, version expected, alias expected, fast)
    (None, NAME, "1", "champion", True),
    (None, OTHER, "1", None, False),  # no champion: the latest version; source runs:/<id>/model
    (f"models:/{NAME}@champion", None, "1", "champion", True),
    (f"models:/{NAME}@challenger", None, "2", "challenger", True),
    (f"models:/{NAME}/1", None, "1", None, True),
    (f"models:/{NAME}/2", NAME, "2", None, True),
    (f"models:/{NAME}/3", None, "3", None, False),  # source runs:/<id>/model
    (f"models:/{NAME}/4", None, "4", None, True),  # source models:/m-<id>, a logged model
    (f"models:/{NAME}/latest", None, "4", None, True),  # version 5 is deleted
]


@pytest.mark.parametrize(("model_uri", "name", "version", "alias", "fast"), CASES,
                         ids=[f"{c[0] or 'default ' + str(c[1])}" for c in CASES])
def test_registry_answers_are_mlflows(registry: Registry, model_uri: str | None, name: str,
                                      version: str, alias: str | None, fast: bool) -> None:
    found = registry_sqlite.find(registry.uri, model_uri, name, "champion")
    assert (found is not None) == fast
    ours = tracking.find_model(model_uri, name, registry.uri)
    assert describe(ours) == describe(mlflows_answer(registry.uri, model_uri, name))
    assert (ours.version, ours.alias) == (version, alias)


def test_runs_uri_answers_are_mlflows(registry: Registry) -> None:
    for run_id in (registry.first_run, registry.second_run):
        model_uri = f"runs:/{run_id}/model"
        # a logged model, left to MLflow (see CASES); the answer must still be MLflow's
        assert registry_sqlite.find(registry.uri, model_uri, None, "champion") is None
        ours = tracking.find_model(model_uri, None, registry.uri)
        assert describe(ours) == describe(mlflows_answer(registry.uri, model_uri, None))
        assert ours.run_id == run_id


MISSING = [
    (None, "no-such-model"),
    (f"models:/{NAME}/99", None),
    (f"models:/{NAME}/99999999999999999999999", None),  # past sqlite's integers
    (f"models:/{NAME}/5", None),  # deleted
    (f"models:/{NAME}@nope", None),
    ("models:/no-such-model/1", None),
    ("models:/no-such-model/latest", None),
    (f"models:/{NAME}/Production", None),  # a stage: MLflow's rules
    (f"models:/{NAME}@latest", None),  # MLflow's reserved alias
    ("runs:/0123456789abcdef0123456789abcdef/model", None),
]


@pytest.mark.parametrize(("model_uri", "name"), MISSING, ids=[str(m[0] or m[1]) for m in MISSING])
def test_what_it_cannot_answer_mlflow_answers(registry: Registry, model_uri: str | None,
                                              name: str | None) -> None:
    """Not found (or not this reader's to say): MLflow is asked and its error or answer stands."""
    assert registry_sqlite.find(registry.uri, model_uri, name, "champion") is None
    ours = outcome(lambda: tracking.find_model(model_uri, name, registry.uri))
    assert ours == outcome(lambda: mlflows_answer(registry.uri, model_uri, name))


def outcome(resolve: Callable[[], tracking.ResolvedModel]) -> tuple[str | None, ...]:
    """The model found, or the RunnerError's message."""
    try:
        return describe(resolve())
    except RunnerError as exc:
        return ("RunnerError", str(exc))


def test_the_columns_read_are_mlflows_own() -> None:
    """tracking.registry_sqlite reads only stores whose tables have exactly these columns: those
    of MLflow's SqlAlchemy models (a new MLflow with other columns: review the queries)."""
    import mlflow.store.model_registry.dbmodels.models
    import mlflow.store.tracking.dbmodels.models  # noqa: F401  # both define tables on Base
    from mlflow.store.db.base_sql_model import Base

    for table, columns in registry_sqlite.SCHEMA.items():
        assert {c.name for c in Base.metadata.tables[table].columns} == set(columns.split())


def changed_copy(registry: Registry, tmp_path: Path, *statements: str) -> str:
    """The store's database copied (its artifact locations still point at the store's files)
    and changed with SQL; returns the copy's URI."""
    path = tmp_path / "copy.db"
    shutil.copy(registry.root / "mlflow.db", path)
    with sqlite3.connect(path) as db:
        for statement in statements:
            db.execute(statement)
    return f"sqlite:///{path}"


def test_an_unchanged_copy_is_read(registry: Registry, tmp_path: Path) -> None:
    uri = changed_copy(registry, tmp_path)
    assert registry_sqlite.find(uri, None, NAME, "champion") is not None


@pytest.mark.parametrize("change", [
    "UPDATE model_versions SET storage_location = 's3://bucket/model' WHERE version = 1",
    "UPDATE model_versions SET storage_location = 'mlflow-artifacts:/1/x/artifacts/model' "
    "WHERE version = 1",
    "UPDATE model_versions SET storage_location = 'file:///nonexistent/model' WHERE version = 1",
    "UPDATE model_versions SET storage_location = 'relative/model' WHERE version = 1",
    "UPDATE alembic_version SET version_num = '0584bdc529eb'",  # an older schema
    "ALTER TABLE model_versions DROP COLUMN storage_location",
    "DROP TABLE registered_model_aliases",
    "INSERT INTO registered_model_tags (key, value, name, workspace) "
    f"VALUES ('mlflow.prompt.is_prompt', 'true', '{NAME}', 'default')",
    "UPDATE registered_models SET workspace = 'team'",
], ids=["s3", "mlflow-artifacts", "no-MLmodel", "relative", "old-schema", "no-column",
        "no-table", "prompt", "workspace"])
def test_a_store_it_cannot_read_as_mlflow_does_is_left_to_mlflow(registry: Registry,
                                                                 tmp_path: Path,
                                                                 change: str) -> None:
    uri = changed_copy(registry, tmp_path, change)
    assert registry_sqlite.find(uri, None, NAME, "champion") is None
    assert registry_sqlite.find(uri, f"models:/{NAME}/1", None, "champion") is None


def test_a_run_that_also_logged_a_model_of_that_name_is_left_to_mlflow(registry: Registry,
                                                                       tmp_path: Path) -> None:
    """MLflow 3 lays a logged model's files over the run's for runs:/<id>/<name>."""
    from mlflow import MlflowClient

    uri = changed_copy(registry, tmp_path)
    tracking.use_store(uri)
    experiment = MlflowClient().get_run(registry.first_run).info.experiment_id
    MlflowClient().create_logged_model(experiment, name="model", source_run_id=registry.first_run)
    assert registry_sqlite.find(uri, f"runs:/{registry.first_run}/model", None, "x") is None
    assert registry_sqlite.find(uri, f"models:/{NAME}/2", None, "x") is not None


@pytest.mark.parametrize("content", [b"", b"not a database" * 100])
def test_a_corrupt_or_foreign_file_is_left_to_mlflow(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "mlflow.db"
    path.write_bytes(content)
    assert registry_sqlite.find(f"sqlite:///{path}", None, NAME, "champion") is None
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE alembic_version (version_num TEXT)")
    assert registry_sqlite.find(f"sqlite:///{foreign}", None, NAME, "champion") is None


def test_other_stores_and_settings_are_left_to_mlflow(registry: Registry, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for uri in ("http://127.0.0.1:9", "postgresql://user@host/db", "file:///tmp/mlruns",
                f"sqlite:///{tmp_path / 'missing.db'}", f"{registry.uri}?timeout=5", "sqlite://"):
        assert registry_sqlite.find(uri, None, NAME, "champion") is None, uri
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "http://127.0.0.1:9")
    assert registry_sqlite.find(registry.uri, None, NAME, "champion") is None
    monkeypatch.delenv("MLFLOW_REGISTRY_URI")
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    assert registry_sqlite.find(registry.uri, None, NAME, "champion") is None


def test_the_store_is_opened_read_only(registry: Registry, tmp_path: Path) -> None:
    """Nothing is written beside or into the store, so a store in a directory runner cannot
    write (a deployed image's) is read too (as root the permissions do not bind)."""
    uri = changed_copy(registry, tmp_path)
    path = Path(uri.removeprefix("sqlite:///"))
    before = path.stat().st_mtime_ns
    path.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        assert registry_sqlite.find(uri, None, NAME, "champion") is not None
    finally:
        tmp_path.chmod(0o755)
        path.chmod(0o644)
    assert [p.name for p in tmp_path.iterdir()] == ["copy.db"]  # no journal, no lock file
    assert path.stat().st_mtime_ns == before


@pytest.mark.slow
def test_runner_serve_from_the_registry_answers_without_importing_mlflow(
        registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")  # the server lists every module it imports
    store = Store(registry.uri, registry.root, registry.first_run, "")
    server = start_server(store, ["serving.port=0"])
    try:
        request = urllib.request.Request(server.url + "invocations",
                                         data=json.dumps(LAB_REQUEST).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            assert json.loads(answer.read()) == {"predictions": [1.0]}
        with urllib.request.urlopen(server.url + "metadata", timeout=60) as answer:
            meta = json.loads(answer.read())
        assert (meta["name"], meta["version"], meta["run_id"]) == (NAME, "1", registry.first_run)
        assert meta["class_labels"] == ["Adelie", "Gentoo", "Chinstrap"]
        imported = [line.rpartition("|")[2].strip() for line in server.lines
                    if line.startswith("import time:")]
        assert "runner.serving" in imported
        assert not [m for m in imported if m.split(".")[0] in ("mlflow", "sqlalchemy")]
    finally:
        server.process.terminate()
        server.process.wait(timeout=20)


def test_the_one_uri_parser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tracking.uris: what the store checks, this reader, the CLI and the sweeper all use."""
    from runner import uris

    monkeypatch.chdir(tmp_path)
    here = str(tmp_path)
    assert uris.sqlite_file("sqlite:////abs/m.db") == "/abs/m.db"
    assert uris.sqlite_file("sqlite:///out/m.db") == f"{here}/out/m.db"
    assert uris.sqlite_file("sqlite:///a%20b.db") == f"{here}/a b.db"  # as SQLAlchemy opens it
    for other in ("sqlite://", "sqlite:///", "sqlite:///:memory:", "file:///m.db",
                  "postgresql://h/db", "sqlite:///m.db?timeout=5"):
        assert uris.sqlite_file(other) is None, other
    assert uris.sqlite_file("sqlite:///m.db?timeout=5", options=True) == f"{here}/m.db"
    assert uris.absolute_sqlite("sqlite:///o/x.db?t=1") == f"sqlite:///{here}/o/x.db?t=1"
    for kept in ("sqlite:////abs/x.db", "sqlite:///:memory:", "postgresql://h/db"):
        assert uris.absolute_sqlite(kept) == kept
    assert uris.local_path("file:///a/b") == uris.local_path("file:/a/b") == "/a/b"
    for other in ("file://host/a", "s3://b/a", "rel/a", "/a%20b", "mlflow-artifacts:/a"):
        assert uris.local_path(other) is None, other
    assert uris.rebased("sqlite:///m.db", "/l") == "sqlite:////l/m.db"
    assert uris.rebased("file:runs", "/l") == "file:/l/runs"
    for kept in ("sqlite:////abs.db", "file:///abs", "http://h", "runs"):
        assert uris.rebased(kept, "/l") == kept
    assert uris.scheme("postgresql+psycopg2://u@h/db") == "postgresql"
    assert uris.scheme("C:\\mlruns") == uris.scheme("./mlruns") == ""
    db = tmp_path / "odd?#name.db"
    sqlite3.connect(db).close()
    with closing(sqlite3.connect(uris.read_only(str(db)), uri=True)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
