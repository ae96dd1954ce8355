"""Shared fixtures: one SparkSession for the whole test session, a fresh MLflow store per test,
and configs composed with Hydra's compose API exactly as the CLI composes them."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from runner.config.schemas import register_configs

LAB_REQUEST = {
    "dataframe_records": [
        {
            "Island": "Biscoe",
            "CulmenLength": 48.7,
            "CulmenDepth": 14.1,
            "FlipperLength": 210,
            "BodyMass": 4450,
        }
    ]
}
TEST_SPARK_OVERRIDES = ["spark.master='local[2]'"]  # quoted: Hydra's grammar rejects bare []

# Test files by measured time on 2 cores (per-file sums of `--durations`), slowest first. `make
# test` runs two xdist workers that each take a whole file at a time, in collection order (xdist's
# own reordering by test count is off: --no-loadscope-reorder in the Makefile): when the long
# files start first, the two workers end at about the same time instead of one running a
# 3-minute file alone at the end. Files not listed keep their order after these.
# test_jvm_options.py is placed by estimate: two CLI runs, as test_cli.py's run and reproduce.
SLOWEST_FIRST = [
    "test_engines.py",
    "test_sweep_cli.py",
    "test_real_files.py",  # two CLI runs (a first run, a sweep): ~4 min on a loaded machine
    "reliability/test_sweep_faults.py",
    "test_selection.py",  # CV parity with CrossValidator, two holdout sweeps in process
    "test_tracking_server.py",
    "test_cli.py",
    "test_jvm_options.py",
    "test_models.py",
    "test_model_portability.py",
    "test_compiled_parity.py",
    "reliability/test_store_faults.py",
    "reliability/test_bad_data.py",
    "test_sweeper_parity.py",
    "test_features.py",
    "test_missing_values.py",
    "reliability/test_registration_faults.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the files of SLOWEST_FIRST first, in that order; tests keep their order in a file."""
    here = Path(__file__).resolve().parent
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}

    def key(item: pytest.Item) -> int:
        try:
            name = item.path.resolve().relative_to(here).as_posix()
        except ValueError:
            return len(rank)
        return rank.get(name, len(rank))

    items.sort(key=key)  # stable: the other files and each file's tests keep their order


@pytest.fixture(scope="session")
def spark():
    """The one SparkSession of the test session, built from the default spark config.

    Started for the default data, as `runner` starts it: a JVM given a small local input gets
    the quick JIT (C1 only), which costs the many small jobs of the tests less CPU than Spark's
    default C2 compiler threads do. Without the input, the JIT depended on which test of a
    worker happened to start the JVM first (a train.run passes it, this fixture did not).
    """
    from runner import data as data_mod
    from runner import spark as spark_mod

    cfg = make_config(TEST_SPARK_OVERRIDES)
    session = spark_mod.get_session(cfg.spark, data_mod.DataSpec.resolve(cfg.data).path)
    yield session
    session.stop()


def make_config(overrides: list[str] | None = None) -> DictConfig:
    """Compose the packaged config with overrides, as `runner <overrides>` would."""
    register_configs()
    with initialize_config_module(config_module="runner.conf", version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides or []))


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow sqlite store as a first run creates it (every migration to head, the Default
    experiment), built once per test process: building one costs MLflow's migrations, about a
    second of CPU and many fsyncs, which each of the ~80 tests on a fresh store paid."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    root = tmp_path_factory.mktemp("empty-store")
    built = SqlAlchemyStore(f"sqlite:///{root / 'mlflow.db'}", str(root / "mlruns"))
    built.engine.dispose()  # closed before it is copied
    return root / "mlflow.db"


@pytest.fixture
def mlflow_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_store: Path
               ) -> Iterator[str]:
    """A fresh sqlite MLflow store in a tmp dir, used through MLFLOW_TRACKING_URI: a copy of
    ``empty_store`` whose Default experiment keeps its artifacts in this dir's ./mlruns, as
    MLflow makes it for a store created here."""
    db = tmp_path / "mlflow.db"
    shutil.copyfile(empty_store, db)
    with closing(sqlite3.connect(db)) as con, con:
        con.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                    (str(tmp_path / "mlruns" / "0"),))
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    yield uri
    import mlflow

    if mlflow.active_run():
        mlflow.end_run()


@pytest.fixture
def cfg_factory(mlflow_uri: str):
    """Compose a config against the tmp MLflow store: ``cfg_factory(["model.maxIter=10"])``."""

    def factory(overrides: list[str] | None = None) -> DictConfig:
        return make_config(
            [*TEST_SPARK_OVERRIDES, f"tracking.uri={mlflow_uri}", *(overrides or [])]
        )

    return factory


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
