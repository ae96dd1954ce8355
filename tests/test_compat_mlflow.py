"""Each function of runner.compat.mlflow against the installed MLflow, on real files and a real
sqlite store (no mocks, no JVM): an MLflow that moves or changes one of the private names runner
relies on fails here, by name, and not in the middle of a run."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from runner import uris
from runner.compat import mlflow as mlflow_compat
from runner.tracking import read, registry_sqlite, store


def test_the_pinned_mlflow_is_installed() -> None:
    """The versions the compat module says it was checked against (3.17.x)."""
    import mlflow

    assert mlflow.__version__.startswith("3.17."), mlflow.__version__


def test_tracking_store_schemes_are_mlflows_builtin_ones() -> None:
    from importlib.metadata import entry_points

    from mlflow.tracking._tracking_service import utils

    plugins = {e.name for e in entry_points(group="mlflow.tracking_store")}
    builtin = set(utils._tracking_store_registry._registry) - plugins
    assert builtin == set(mlflow_compat.TRACKING_STORE_SCHEMES)


def test_create_sqlalchemy_store_makes_a_ready_store_and_closes_it(tmp_path: Path) -> None:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    path = tmp_path / "mlflow.db"
    uri = uris.sqlite_uri(str(path))
    mlflow_compat.create_sqlalchemy_store(uri)
    assert uri not in SqlAlchemyStore._engine_map  # its connections are closed
    assert store.state(str(path)) == "ready"  # at the installed MLflow's head, experiment 0
    os.replace(path, tmp_path / "published.db")  # nothing holds it: it can be moved
    assert store.state(str(tmp_path / "published.db")) == "ready"


def test_create_sqlalchemy_store_raises_on_an_unusable_file(tmp_path: Path) -> None:
    path = tmp_path / "not-a-store.db"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(Exception):  # noqa: B017, PT011  # MLflow's own error, whatever it is
        mlflow_compat.create_sqlalchemy_store(uris.sqlite_uri(str(path)))


def test_migration_scripts_hold_the_head_revision_of_a_new_store(tmp_path: Path) -> None:
    scripts = mlflow_compat.migration_scripts()
    assert scripts is not None
    assert os.path.isdir(scripts)
    path = tmp_path / "mlflow.db"
    mlflow_compat.create_sqlalchemy_store(uris.sqlite_uri(str(path)))
    with closing(sqlite3.connect(path)) as db:
        (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert registry_sqlite.is_head_revision(revision)
    assert any(revision in name for name in os.listdir(scripts))


def test_warm_requirements_map_builds_mlflows_map() -> None:
    from mlflow.utils import requirements_utils

    mlflow_compat.warm_requirements_map()
    packages = requirements_utils._MODULES_TO_PACKAGES
    assert isinstance(packages, dict)
    assert "mlflow" in packages.get("mlflow", [])


def test_spark_model_dir_is_mlflows() -> None:
    import mlflow.spark

    assert mlflow_compat.SPARK_MODEL_DIR == mlflow.spark._SPARK_MODEL_PATH_SUB


def test_save_spark_metadata_writes_the_spark_flavor(tmp_path: Path) -> None:
    """A PipelineModel wrapper needs no JVM: what is written is the metadata beside it."""
    from mlflow.models import Model
    from pyspark.ml import PipelineModel

    (tmp_path / mlflow_compat.SPARK_MODEL_DIR).mkdir()
    model = Model()
    mlflow_compat.save_spark_metadata(str(tmp_path), PipelineModel([]), model,
                                      pip_requirements=["pyspark==4.3.0", "pandas<3"])
    flavors = read.model_flavors(str(tmp_path))
    assert flavors["spark"]["model_data"] == mlflow_compat.SPARK_MODEL_DIR
    assert flavors["spark"]["model_class"] == "pyspark.ml.pipeline.PipelineModel"
    assert flavors["python_function"]["loader_module"] == "mlflow.spark"
    pins = (tmp_path / "requirements.txt").read_text().split()
    assert {"pyspark==4.3.0", "pandas<3"} <= set(pins)  # as given (MLflow adds its own pin)
    for name in ("conda.yaml", "python_env.yaml"):
        assert (tmp_path / name).is_file()


def test_save_input_example_writes_mlflows_example_files(tmp_path: Path) -> None:
    import pandas as pd
    from mlflow.models import Model

    model = Model()
    mlflow_compat.save_input_example(model, pd.DataFrame([{"FlipperLength": 210}]), str(tmp_path))
    info = model.saved_input_example_info
    assert info is not None
    assert info["artifact_path"] == "input_example.json"
    assert (tmp_path / "input_example.json").is_file()
    assert (tmp_path / info["serving_input_path"]).is_file()


def test_runners_own_artifact_reads_show_no_progress_bar(
        tmp_path: Path, capfd: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow's public switch, MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR, is what keeps promotion's
    read of the champion's config quiet: with it unset MLflow draws its "Downloading artifacts"
    bar; runner sets it for its own process, unless the user chose."""
    import mlflow

    switch = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    monkeypatch.setenv(switch, "true")  # recorded, so that the test leaves it as it found it
    monkeypatch.delenv(switch)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uris.sqlite_uri(str(tmp_path / "mlflow.db")))
    try:
        experiment = mlflow.create_experiment("quiet", (tmp_path / "a").as_uri())
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_text("data:\n  split: {seed: 1}\n", "config.yaml")
        capfd.readouterr()
        mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/config.yaml")
        assert "Downloading artifacts" in capfd.readouterr().err  # MLflow's default
        assert read.run_config(run.info.run_id) == {"data": {"split": {"seed": 1}}}
        assert "Downloading artifacts" not in capfd.readouterr().err
        assert os.environ[switch] == "false"
    finally:
        mlflow.set_tracking_uri(previous)


def test_a_logged_config_in_a_local_store_is_read_in_place(tmp_path: Path) -> None:
    """Promotion reads a run's config.yaml where a local artifact store keeps it, with no
    download; a store it cannot see into (a server's) is downloaded from as before."""
    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uris.sqlite_uri(str(tmp_path / "mlflow.db")))
    try:
        experiment = mlflow.create_experiment("in-place", (tmp_path / "a b").as_uri())
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_text("data:\n  split: {seed: 3}\n", "config.yaml")
        where = run.info.artifact_uri
        assert read._local_artifact(where, "config.yaml") == str(tmp_path / "a b" / run.info.run_id
                                                                 / "artifacts" / "config.yaml")
        assert read._local_artifact("mlflow-artifacts:/1/x/artifacts", "config.yaml") is None
        assert read._local_artifact(where, "overrides.yaml") is None  # not logged
        expected = {"data": {"split": {"seed": 3}}}
        assert read.run_config(run.info.run_id, where) == expected
        assert read.run_config(run.info.run_id, "mlflow-artifacts:/elsewhere") == expected
    finally:
        mlflow.set_tracking_uri(previous)
