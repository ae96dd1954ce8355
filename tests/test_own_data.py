"""Your own data by config alone (issue 14): schema and format inferred from the source without
the JVM, listed data.schema entries winning, feature stages choosing columns by rule, and
``features=auto`` training on scikit-learn's real data sets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runner import data
from runner.data import DataSpec
from runner.data.formats import format_of
from runner.errors import RunnerError
from runner.pipeline import column_rules, features
from tests.conftest import make_config
from tests.datasets import write_sklearn

WINE_COLUMNS = 13
PENGUIN_COLUMNS = {"Island", "CulmenLength", "CulmenDepth", "FlipperLength", "BodyMass", "Species"}


def _data(path: Path, *overrides: str):
    return make_config([f"data.path={path}", "data.label=label", *overrides]).data


def test_csv_schema_inferred_and_penguin_config_left_out(tmp_path: Path) -> None:
    """wine.csv read with the default data=penguins config: wine's 13 numeric columns as double,
    its string label as string; none of penguins' columns or class names come along."""
    cfg = _data(write_sklearn("wine", tmp_path))
    schema = DataSpec.resolve(cfg).schema
    assert len(schema) == WINE_COLUMNS + 1
    assert set(schema.values()) == {"double", "string"}
    assert schema["label"] == "string"
    assert list(schema)[0] == "alcohol"
    assert not PENGUIN_COLUMNS & set(schema)
    assert list(DataSpec.resolve(cfg).class_names) == []
    # the penguin file itself keeps its listed schema and names
    lab = make_config([]).data
    assert DataSpec.resolve(lab).schema["Species"] == "int"
    assert list(DataSpec.resolve(lab).class_names)[0] == "Adelie"


def test_parquet_folder_inferred_from_metadata_with_overrides(tmp_path: Path) -> None:
    """A Parquet folder of part files: format from its files, types from pyarrow's metadata,
    integer label kept int; a listed entry overrides its type, a listed unknown column fails."""
    path = write_sklearn("iris", tmp_path, fmt="parquet", string_labels=False)
    assert format_of(str(path), None) == "parquet"
    schema = DataSpec.resolve(_data(path, "+data.schema.sepal_length_cm=float")).schema
    assert schema == {"sepal_length_cm": "float", "sepal_width_cm": "double",
                      "petal_length_cm": "double", "petal_width_cm": "double", "label": "int"}
    with pytest.raises(RunnerError, match=r"'Species', 'petal'\] not found in .*iris; it has"):
        DataSpec.resolve(_data(path, "+data.schema.petal=double", "data.written_for=null"))


def test_format_inferred_from_name_folder_or_bytes(tmp_path: Path) -> None:
    parquet = write_sklearn("iris", tmp_path / "p", fmt="parquet")
    no_ending = tmp_path / "iris-data"
    no_ending.write_bytes((parquet / "part-00000.parquet").read_bytes())
    assert format_of(str(no_ending), None) == "parquet"  # magic bytes PAR1
    assert format_of("s3a://bucket/x.tsv.gz", None) == "csv"
    assert format_of("/x/y.jsonl", None) == "json"
    assert format_of("/x/y.parquet", "orc") == "orc"  # given wins
    tsv = tmp_path / "t.tsv"
    tsv.write_text("a\tb\tlabel\n1\tx\t0\n")
    tabs = DataSpec.resolve(_data(tsv)).schema
    assert tabs == {"a": "double", "b": "string", "label": "int"}
    (parquet / "notes.csv").write_text("a\n1\n")
    assert format_of(str(parquet), None) == "parquet"  # most files; check_files names the CSV
    with pytest.raises(RunnerError, match=r"1 file\(s\) that are not parquet data: notes.csv"):
        data.check_config(DataSpec.resolve(_data(parquet)))
    with pytest.raises(RunnerError, match="set data.format"):
        format_of("s3a://bucket/folder/", None)


def test_unknown_type_refused_before_spark_with_its_spark_name(tmp_path: Path) -> None:
    cfg = _data(write_sklearn("wine", tmp_path), "+data.schema.alcohol=float64")
    with pytest.raises(RunnerError, match=r"data.schema.alcohol: unknown Spark type 'float64'; "
                                          r"did you mean 'double'\? valid: .*bigint"):
        data.check_config(DataSpec.resolve(cfg))


def test_rules_resolve_against_the_schema(tmp_path: Path) -> None:
    """features=auto on a frame with strings and numbers; without strings the string stages
    and their outputs are left out; exclude removes columns; a bad rule is one line."""
    path = tmp_path / "mixed.csv"
    path.write_text("id,colour,size,shape,weight,label\n1,red,2.5,round,10,a\n"
                    "2,blue,1.5,square,12,b\n")
    cfg = make_config([f"data.path={path}", "data.label=label", "features=auto",
                       "+features.stages.assemble_numbers.inputCols.exclude=[id]"])
    spec = DataSpec.resolve(cfg.data)
    stages_ = dict(column_rules.resolved(cfg.features, spec))
    assert stages_["index_strings"]["inputCols"] == ["colour", "shape"]
    assert stages_["index_strings"]["outputCols"] == ["colour_index", "shape_index"]
    assert stages_["onehot_strings"]["inputCols"] == ["colour_index", "shape_index"]
    assert stages_["assemble_numbers"]["inputCols"] == ["size", "weight"]
    assert stages_["assembler"]["inputCols"] == ["colour_index_onehot", "shape_index_onehot",
                                                 "scaled_numeric_features"]
    features.check(cfg.features, spec)

    wine = make_config([f"data.path={write_sklearn('wine', tmp_path)}", "data.label=label",
                        "features=auto"])
    wine_spec = DataSpec.resolve(wine.data)
    names = [name for name, _ in column_rules.resolved(wine.features, wine_spec)]
    assert names == ["assemble_numbers", "scale_numbers", "assembler"]
    assert dict(column_rules.resolved(wine.features, wine_spec))["assembler"]["inputCols"] == [
        "scaled_numeric_features"]

    bad = make_config([f"data.path={path}", "data.label=label", "features=auto",
                       "+features.stages.assemble_numbers.inputCols.numerics=all"])
    with pytest.raises(RunnerError, match=r"assemble_numbers.inputCols: unknown column rule "
                                          r"key\(s\) \['numerics'\]"):
        features.check(bad.features, DataSpec.resolve(bad.data))


def test_auto_trains_on_breast_cancer_parquet_with_missing_cells(spark, cfg_factory,
                                                                tmp_path: Path) -> None:
    """features=auto, nothing else, on breast cancer (30 columns, 2 classes) as a Parquet folder
    with 5% missing cells imputed; the logged config carries the inferred schema. (Wine from a
    CSV trains in the CLI test below; penguins in test_features' run of every features config.)"""
    import mlflow

    from runner import train

    cancer = write_sklearn("breast_cancer", tmp_path, fmt="parquet", string_labels=False,
                           missing=0.05)
    cfg = cfg_factory([f"data.path={cancer}", "data.label=label", "features=auto",
                       "data.missing=impute", "tracking.log_models=none"])
    assert len(DataSpec.resolve(cfg.data).feature_columns) == 30
    result = train.run(cfg, [])
    assert result.metrics["accuracy"] > 0.8
    logged = mlflow.artifacts.load_text(f"runs:/{result.run_id}/config.yaml")
    assert "mean_radius: double" in logged
    assert "Species" not in logged


@pytest.mark.slow
def test_cli_trains_and_registers_own_csv_with_no_other_config(tmp_path: Path) -> None:
    """The issue's command on wine with integer labels: `--show-schema` answers without a JVM,
    then training registers a model whose inputs are wine's columns."""
    wine = write_sklearn("wine", tmp_path, string_labels=False)
    runner = str(Path(sys.executable).parent / "runner")
    env_args = {"cwd": tmp_path, "capture_output": True, "text": True, "timeout": 300}
    shown = subprocess.run([runner, f"data.path={wine}", "data.label=label", "--show-schema"],
                           check=False, **env_args)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "alcohol: double"
    assert lines[-1] == "label: int  # label"
    assert len(lines) == WINE_COLUMNS + 1

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run = subprocess.run([runner, f"data.path={wine}", "data.label=label", "features=auto",
                          f"tracking.uri={uri}", "spark.master='local[2]'"], check=False,
                         **env_args)
    assert run.returncode == 0, run.stderr[-2000:]
    import mlflow

    mlflow.set_tracking_uri(uri)
    (registered,) = mlflow.MlflowClient().search_registered_models()  # named by data (engineer N)
    model = mlflow.models.get_model_info(f"models:/{registered.name}/1")
    assert [c.name for c in model.signature.inputs][:2] == ["alcohol", "malic_acid"]


def _with_id(path: Path, rows: int = 90) -> Path:
    """A CSV whose first column ``id`` no stage should read (one id left empty), two numbers,
    a category and a string label the numbers decide."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    size, weight = rng.normal(size=rows), rng.normal(size=rows)
    frame = pd.DataFrame({"id": np.arange(rows, dtype=float), "size": size, "weight": weight,
                          "colour": rng.choice(["red", "blue"], rows),
                          "label": np.where(size + weight > 0, "big", "small")})
    frame.loc[3, "id"] = None
    frame.to_csv(path, index=False)
    return path


def test_a_column_no_stage_reads_is_no_model_input(spark, cfg_factory, tmp_path: Path) -> None:
    """An ``id`` left out by ``exclude``: not in the signature, the input example or the
    compiled scorer; its null drops no row; serve answers without it and predict takes a file
    with or without it (passed through)."""
    import json

    import mlflow
    import pandas as pd
    from omegaconf import open_dict

    from runner import predict, serving, train

    path = _with_id(tmp_path / "ids.csv")
    cfg = cfg_factory([f"data.path={path}", "data.label=label", "features=auto",
                       "+features.stages.assemble_numbers.inputCols.exclude=[id]",
                       "evaluation.confusion_matrix=false"])
    spec = DataSpec.resolve(cfg.data)
    assert features.read_columns(cfg.features, spec) == ["size", "weight", "colour"]
    lab = make_config([])  # the lab's stages read all five columns: its signature is unchanged
    lab_spec = DataSpec.resolve(lab.data)
    assert features.read_columns(lab.features, lab_spec) == lab_spec.feature_columns
    result = train.run(cfg, [])
    assert result.model is not None
    logged = mlflow.MlflowClient().get_run(result.run_id).data.params
    assert logged["data.rows"] == "90"  # the row with no id is kept
    info = mlflow.models.get_model_info(result.model.uri)
    assert [c.name for c in info.signature.inputs] == ["size", "weight", "colour"]
    pyfunc = mlflow.pyfunc.load_model(result.model.uri)
    assert list(pyfunc.input_example.columns) == ["size", "weight", "colour"]

    records = pd.read_csv(path).drop(columns=["id", "label"]).iloc[:3]
    registered = f"models:/{result.model.registered_name}/{result.model.version}"
    with open_dict(cfg):
        cfg.serving.model_uri = registered
    app, _ = serving.load_app(cfg)
    body = json.dumps({"dataframe_records": records.to_dict("records")}).encode()
    response = app.handle("POST", "/invocations", "", "application/json", body)
    assert response.status == 200, response.body
    assert len(json.loads(response.body)["predictions"]) == 3

    for name, frame in {"with_id": pd.read_csv(path), "without_id": records}.items():
        frame.drop(columns=["label"], errors="ignore").to_csv(tmp_path / f"{name}.csv",
                                                              index=False)
        out = tmp_path / f"{name}.parquet"
        with open_dict(cfg):
            cfg.predict.model_uri = registered
            cfg.predict.input = str(tmp_path / f"{name}.csv")
            cfg.predict.output = str(out)
        predict.run(cfg)
        scored = spark.read.parquet(str(out))
        assert ("id" in scored.columns) == (name == "with_id")
        assert scored.count() == len(frame)


def test_a_schema_entry_the_user_gave_for_no_column_is_refused(tmp_path: Path) -> None:
    """With the default data config and another file, the shipped penguin entries are left out
    but a typo'd entry of the user's is one line naming the nearest column (no JVM)."""
    wine = write_sklearn("wine", tmp_path)
    assert "Species" not in DataSpec.resolve(_data(wine, "+data.schema.alcohol=float")).schema
    with pytest.raises(RunnerError) as error:
        DataSpec.resolve(_data(wine, "+data.schema.Alcohol=double"))
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("data.schema.Alcohol: ")
    assert "has no column 'Alcohol' (nearest 'alcohol'); it has ['alcohol', 'malic_acid'" in message
    # a penguin column given another type than the shipped one is the user's too
    with pytest.raises(RunnerError, match=r"data.schema.BodyMass: .*has no column 'BodyMass'"):
        DataSpec.resolve(_data(wine, "data.schema.BodyMass=float"))


def test_the_imputer_fills_only_the_columns_stages_read(spark, tmp_path: Path) -> None:
    """data.missing=impute with an ``id`` left out: the Imputer does not read it either, so it
    stays no model input."""
    cfg = make_config([f"data.path={_with_id(tmp_path / 'ids.csv')}", "data.label=label",
                       "features=auto", "data.missing=impute",
                       "+features.stages.assemble_numbers.inputCols.exclude=[id]"])
    spec = DataSpec.resolve(cfg.data)
    (name, imputer), *_ = features.build(cfg.features, spec)
    assert name == features.IMPUTER
    assert imputer.getInputCols() == ["size", "weight"]
    assert features.read_columns(cfg.features, spec) == ["size", "weight", "colour"]


def test_shipped_types_left_out_for_another_file_with_the_same_column(tmp_path: Path) -> None:
    """palmerpenguins' penguins-raw.csv has a ``Species`` column too, of long names: the lab's
    ``Species: int`` (its class indices) does not apply to it; a type the user gives does."""
    raw = tmp_path / "penguins-raw.csv"
    raw.write_text("Species,Island,Body Mass (g)\nAdelie Penguin (Pygoscelis adeliae),Dream,3750\n"
                   "Gentoo penguin (Pygoscelis papua),Biscoe,NA\n")
    spec = DataSpec.resolve(make_config([f"data.path={raw}"]).data)
    assert dict(spec.schema) == {"Species": "string", "Island": "string",
                                 "Body Mass (g)": "double"}
    assert spec.class_names == ()
    given = DataSpec.resolve(make_config([f"data.path={raw}", "data.schema.Species=binary"]).data)
    assert given.schema["Species"] == "binary"
