"""``runner predict``: batch scoring of a small generated parquet on the session's Spark, and the
errors for a missing input, missing columns, an existing output and an unknown model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner import predict
from runner.errors import RunnerError
from tests.conftest import LAB_REQUEST, TEST_SPARK_OVERRIDES, make_config
from tests.serving_support import Store, trained_store

LAB = LAB_REQUEST["dataframe_records"][0]
ROWS = [LAB, {**LAB, "Island": "Torgersen", "CulmenLength": 39.1, "CulmenDepth": 18.7,
              "FlipperLength": 181, "BodyMass": 3750}]


@pytest.fixture(scope="module")
def store(spark, tmp_path_factory: pytest.TempPathFactory) -> Store:
    return trained_store(tmp_path_factory.getbasetemp() / "serving-store")


@pytest.fixture(scope="module")
def penguins(spark, tmp_path_factory: pytest.TempPathFactory) -> str:
    """200 rows, FlipperLength and BodyMass as ints (as the lab's JSON): predict must cast."""
    path = str(tmp_path_factory.mktemp("predict") / "in.parquet")
    rows = [{**ROWS[i % 2], "id": i} for i in range(200)]
    schema = ("Island string, CulmenLength double, CulmenDepth double, FlipperLength int, "
              "BodyMass int, id int")
    spark.createDataFrame(rows, schema).write.parquet(path)
    return path


def config(store: Store, **predict_keys: Any) -> Any:
    overrides = [f"predict.{k}={v}" for k, v in predict_keys.items()]
    return make_config([*TEST_SPARK_OVERRIDES, f"tracking.uri={store.uri}", *overrides])


def test_scores_every_row_with_prediction_probability_and_label(spark, store: Store,
                                                                 penguins: str,
                                                                 tmp_path: Path) -> None:
    out = str(tmp_path / "scored.parquet")
    result = predict.run(config(store, input=penguins, output=out))
    assert result.rows == 200
    scored = spark.read.parquet(out)
    assert scored.columns == [*LAB, "id", "prediction", "probability", "predicted_label"]
    first = scored.orderBy("id").first()
    assert first["prediction"] == 1.0
    assert first["predicted_label"] == "Gentoo"
    assert len(first["probability"]) == 3
    assert abs(sum(first["probability"]) - 1) < 1e-6
    assert scored.filter("predicted_label = 'Adelie'").count() == 100  # the Torgersen rows


def test_existing_output_is_refused_unless_mode_says_otherwise(store: Store, penguins: str,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "exists"
    out.mkdir()
    with pytest.raises(RunnerError, match="exists.*predict.mode=overwrite"):
        predict.run(config(store, input=penguins, output=out))
    result = predict.run(config(store, input=penguins, output=out, mode="overwrite"))
    assert result.rows == 200


def test_missing_input_and_unset_paths(store: Store, tmp_path: Path) -> None:
    with pytest.raises(RunnerError, match="no such file"):
        predict.run(config(store, input=tmp_path / "nope.parquet", output=tmp_path / "o"))
    with pytest.raises(RunnerError, match="set predict.input and predict.output"):
        predict.run(config(store))


def test_missing_columns_are_named(spark, store: Store, tmp_path: Path) -> None:
    path = str(tmp_path / "partial.parquet")
    partial = spark.createDataFrame([("Biscoe", 48.7)], "Island string, CulmenLength double")
    partial.write.parquet(path)
    with pytest.raises(RunnerError, match="lacks column.*CulmenDepth, FlipperLength, BodyMass"):
        predict.run(config(store, input=path, output=tmp_path / "o"))


def test_unknown_model(store: Store, penguins: str, tmp_path: Path) -> None:
    with pytest.raises(RunnerError, match="no-such-model"):
        predict.run(config(store, input=penguins, output=tmp_path / "o",
                           model_uri="models:/no-such-model/1"))
    with pytest.raises(RunnerError, match="has no servable versions"):
        predict.run(make_config([*TEST_SPARK_OVERRIDES, f"tracking.uri={store.uri}",
                                 "tracking.registered_model_name=other",
                                 f"predict.input={penguins}", f"predict.output={tmp_path}/o"]))


@pytest.mark.slow
def test_cli_error_is_one_line_and_exit_1(store: Store, tmp_path: Path) -> None:
    runner = str(Path(sys.executable).parent / "runner")
    args = [f"tracking.uri={store.uri}", f"predict.input={tmp_path}/missing.parquet",
            f"predict.output={tmp_path}/o"]
    done = subprocess.run([runner, "predict", *args], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("runner: error: predict.input=")
