"""Shared fixtures: one SparkSession for the whole test session, a fresh MLflow store per test,
and configs composed with Hydra's compose API exactly as the CLI composes them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from runner.schemas import register_configs

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


@pytest.fixture(scope="session")
def spark():
    """The one SparkSession of the test session, built from the default spark config."""
    from runner import spark as spark_mod

    cfg = make_config(TEST_SPARK_OVERRIDES)
    session = spark_mod.get_session(cfg.spark)
    yield session
    session.stop()


def make_config(overrides: list[str] | None = None) -> DictConfig:
    """Compose the packaged config with overrides, as `runner <overrides>` would."""
    register_configs()
    with initialize_config_module(config_module="runner.conf", version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides or []))


@pytest.fixture
def mlflow_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh sqlite MLflow store in a tmp dir, used through MLFLOW_TRACKING_URI."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
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
