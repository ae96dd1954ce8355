"""``runner predict``: batch scoring of a small generated parquet on the session's Spark, and the
errors for a missing input, missing columns, an existing output and an unknown model; a raw CSV
read as the model's training data was (header, text cast to the model's types), a null row and a
value that is no number named in one line, and failed writes that leave no output behind. The
pure parts (the format and options an input is read with, the atomic write's publish) without a
JVM."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner import predict
from runner.data import DataSpec, inputs
from runner.errors import RunnerError
from runner.spark import output
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


HEADER = "Island,CulmenLength,CulmenDepth,FlipperLength,BodyMass,id\n"


def write_csv(path: Path, *rows: str) -> Path:
    """A raw CSV as users have them: a header, ints and decimals, empty fields for nulls."""
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows))
    return path


LAB_CSV = "Biscoe,48.7,14.1,210,4450,0"
TORGERSEN_CSV = "Torgersen,39.1,18.7,181,3750,1"


def leftovers(out: Path) -> list[str]:
    """What a write left at or beside ``out``: the output, or a temp sibling."""
    return sorted(p.name for p in out.parent.iterdir() if out.name in p.name)


def test_raw_csv_is_read_as_the_model_was_trained(spark, store: Store, tmp_path: Path) -> None:
    """No input_format, no reader options: the format from the path, the header from the
    training run's data.options, the text columns cast to the model's doubles."""
    path = write_csv(tmp_path / "new.csv", LAB_CSV, TORGERSEN_CSV)
    out = tmp_path / "out.parquet"
    assert predict.run(config(store, input=path, output=out)).rows == 2
    scored = spark.read.parquet(str(out)).orderBy("id").collect()
    assert [r["predicted_label"] for r in scored] == ["Gentoo", "Adelie"]
    assert scored[0]["FlipperLength"] == 210.0


def test_null_row_is_named_in_one_line_and_no_output_is_left(store: Store,
                                                            tmp_path: Path) -> None:
    """The lab pipeline fills no nulls (trained with data.missing=drop): the first null is
    named by column and row, nothing is written, and the same command works once it is fixed."""
    path = write_csv(tmp_path / "new.csv", LAB_CSV, TORGERSEN_CSV, "Dream,,17.0,190,3500,2")
    out = tmp_path / "out.parquet"
    with pytest.raises(RunnerError) as raised:
        predict.run(config(store, input=path, output=out))
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"predict.input={path}: column CulmenLength, row 3: missing value")
    assert leftovers(out) == []
    write_csv(path, LAB_CSV, TORGERSEN_CSV, "Dream,45.0,17.0,190,3500,2")
    assert predict.run(config(store, input=path, output=out)).rows == 3


def test_text_that_is_no_number_is_named(store: Store, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "new.csv", LAB_CSV, "Dream,45.0,17.0,tall,3500,1")
    out = tmp_path / "out.parquet"
    with pytest.raises(RunnerError, match=r"column FlipperLength, row 2: 'tall' is not a double"):
        predict.run(config(store, input=path, output=out))
    assert leftovers(out) == []


def test_failed_write_leaves_no_output_and_stale_temps_go(store: Store, penguins: str,
                                                          tmp_path: Path) -> None:
    """A write that fails (an unknown output format) leaves nothing; a temp left by a killed
    run (its process gone) is removed by the next run."""
    out = tmp_path / "out"
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = tmp_path / f".out.runner-tmp-{gone.pid}-0000"
    stale.mkdir()
    with pytest.raises(RunnerError, match="predict.output="):
        predict.run(config(store, input=penguins, output=out, output_format="no-such-format"))
    assert leftovers(out) == []


@pytest.mark.slow
def test_cli_predicts_a_raw_csv_with_no_extra_keys(store: Store, tmp_path: Path) -> None:
    """The issue's command as it is typed: `runner predict predict.input=new.csv
    predict.output=out.parquet`, the store given as users give it (MLFLOW_TRACKING_URI)."""
    write_csv(tmp_path / "new.csv", LAB_CSV, TORGERSEN_CSV)
    runner = str(Path(sys.executable).parent / "runner")
    done = subprocess.run([runner, "predict", "predict.input=new.csv", "predict.output=out.parquet",
                           *TEST_SPARK_OVERRIDES], capture_output=True, text=True, timeout=300,
                          check=False, cwd=tmp_path, env={**os.environ,
                                                          "MLFLOW_TRACKING_URI": store.uri})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "scored 2 rows from new.csv" in done.stdout
    assert (tmp_path / "out.parquet" / "_SUCCESS").exists()
    # predict's lines are in the job's log too (Hydra's <run dir>/runner.log)
    logs = list((tmp_path / "outputs").rglob("runner.log"))
    assert any("scored 2 rows from new.csv" in log.read_text() for log in logs), logs


# The pure parts of the input reading and the atomic write: no JVM, no store.

TRAINED_CSV = DataSpec.logged({"path": "/gone/train.csv", "format": "csv",
                               "options": {"header": "true"}})


@pytest.mark.parametrize(
    ("path", "input_format", "input_options", "expected"),
    [("new.csv", None, {}, ("csv", {"header": "true"})),  # the training run's options
     ("new.csv", None, {"sep": ";"}, ("csv", {"header": "true", "sep": ";"})),
     ("new.parquet", None, {}, ("parquet", {})),  # another format: not the CSV options
     ("s3a://bucket/new", None, {}, ("csv", {"header": "true"})),  # no name: the trained one
     ("new.parquet", "csv", {}, ("csv", {"header": "true"}))],
)
def test_input_is_read_as_the_training_run_read_its_data(
        path: str, input_format: str | None, input_options: dict[str, str],
        expected: tuple[str, dict[str, str]]) -> None:
    assert inputs.reading(path, input_format, input_options, TRAINED_CSV) == expected


def test_an_input_whose_format_nothing_tells_is_one_line() -> None:
    with pytest.raises(RunnerError, match="new: cannot tell its format.*predict.input_format"):
        inputs.reading("s3a://bucket/new", None, {}, DataSpec.logged({}))


@pytest.mark.parametrize(
    ("path", "local"),
    [("out.parquet", "out.parquet"), ("/abs/out", "/abs/out"), ("file:/abs/out", "/abs/out"),
     ("file:///abs/out", "/abs/out"),
     ("file:rel/out", "rel/out"), ("s3a://bucket/out", None), ("hdfs://nn/out", None)],
)
def test_only_local_outputs_are_written_through_a_temp(path: str, local: str | None) -> None:
    assert output.local_path(path) == local


def test_publish_moves_a_finished_write_into_place(tmp_path: Path) -> None:
    target = tmp_path / "out"

    def finished(name: str) -> str:
        temp = tmp_path / f".out.runner-tmp-{name}"
        temp.mkdir()
        (temp / f"part-{name}.parquet").write_text(name)
        (temp / "_SUCCESS").write_text("")
        return str(temp)

    output.publish(finished("a"), str(target), "errorifexists")  # nothing there: a rename
    output.publish(finished("b"), str(target), "append")  # the new data files join
    assert sorted(p.name for p in target.iterdir()) == ["_SUCCESS", "part-a.parquet",
                                                        "part-b.parquet"]
    output.publish(finished("c"), str(target), "overwrite")  # the old output replaced whole
    assert sorted(p.name for p in target.iterdir()) == ["_SUCCESS", "part-c.parquet"]
    # the old output set aside is gone; an append's emptied temp is write_atomically's to remove
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.runner-tmp-b", "out"]
    with pytest.raises(RunnerError, match="appeared while scoring"):
        output.publish(finished("d"), str(target), "errorifexists")
