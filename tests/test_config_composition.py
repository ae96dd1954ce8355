"""Config composition: the lab's defaults, experiments, and errors caught at compose time."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ValidationError

from tests.conftest import make_config


def test_defaults_are_the_lab_first_run() -> None:
    cfg = make_config()
    assert cfg.model._target_ == "pyspark.ml.classification.LogisticRegression"
    assert (cfg.model.maxIter, cfg.model.regParam) == (5, 0.5)
    assert list(cfg.features.stages) == [
        "island_indexer",
        "numeric_assembler",
        "scaler",
        "assembler",
    ]
    assert (cfg.data.split.train, cfg.data.split.test, cfg.data.split.seed) == (0.7, 0.3, 42)
    assert cfg.spark.master == "local[*]"
    assert cfg.spark.remote is None
    assert cfg.data.path == "pkg://runner.resources/penguins.csv"


def test_lab_second_run_experiment_equals_overrides() -> None:
    pinned = make_config(["experiment=lab_second_run"])
    overridden = make_config(["model.maxIter=10", "model.regParam=0.2"])
    assert pinned.model == overridden.model
    assert (pinned.model.maxIter, pinned.model.regParam) == (10, 0.2)


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ("model.maxIters=3", ConfigCompositionException),  # typo in a key
        ("model.maxIter=foo", ConfigCompositionException),  # wrong type
        ("data.missing=sometimes", ConfigCompositionException),  # not an allowed value
        ("evaluation.primary=auc", ConfigCompositionException),
        ("tracking.log_models=some", ConfigCompositionException),
    ],
)
def test_invalid_overrides_fail_at_compose_time(override: str, error: type[Exception]) -> None:
    with pytest.raises((error, ValidationError)):
        make_config([override])


def _runner(*args: str, cwd: str) -> subprocess.CompletedProcess[str]:
    code = "from runner.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(("overrides", "expected"), [
    ([], (5, 0.5)),  # the lab's teaching values on the lab's data
    (["data.path=/d/wine.csv"], (100, 0.0)),  # Spark's own defaults on any other data
    (["data.path=/d/wine.csv", "model.maxIter=7"], (7, 0.0)),  # what the user sets wins
    (["data.path=/d/wine.csv", "experiment=lab_second_run"], (10, 0.2)),  # a pinned setup too
])
def test_lab_values_only_on_the_lab_data(overrides: list[str], expected: tuple) -> None:
    cfg = make_config(overrides)
    assert (cfg.model.maxIter, cfg.model.regParam) == expected


def test_cli_rejects_a_wrong_type_naming_the_key(tmp_path) -> None:
    proc = _runner("model.maxIter=foo", cwd=str(tmp_path))
    assert proc.returncode != 0
    assert "maxIter" in proc.stderr
    assert "foo" in proc.stderr
    assert not (tmp_path / "outputs" / "mlflow.db").exists()  # nothing started


def test_cli_prints_the_composed_config(tmp_path) -> None:
    proc = _runner("--cfg", "job", "model.regParam=0.2", cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "regParam: 0.2" in proc.stdout
    assert "maxIter: ${runner.if_lab_data:5,100}" in proc.stdout  # 5 on the lab's data
