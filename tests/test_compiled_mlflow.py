"""The compiled scorer through MLflow: logged by runner.tracking.log_model into a sqlite store as
an MLflow 3 LoggedModel, loaded as a pyfunc (also in a process without Java) from the lab's int
columns as from floats, served through the scoring server's JSON parsing, and still loadable as a
Spark PipelineModel; models logged with the older loader (runner.compiled.pyfunc) still load."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runner import tracking
from runner.compiled import LEGACY_LOADER_MODULE, LOADER_MODULE, SCORER_PACKAGE
from runner.tracking.flavor import CODE_DIR, add_compiled_pyfunc
from tests.conftest import LAB_REQUEST

PENGUINS = Path(__file__).parents[1] / "runner" / "resources" / "penguins.csv"
SCHEMA = {"Island": "string", "CulmenLength": "double", "CulmenDepth": "double",
          "FlipperLength": "double", "BodyMass": "double", "Species": "int"}
INPUTS = {c: t for c, t in SCHEMA.items() if c != "Species"}
CLASS_NAMES = ["Adelie", "Gentoo", "Chinstrap"]


@pytest.fixture(scope="module")
def lab_model(spark):
    """The lab pipeline with a logistic regression, fitted on the complete penguins rows."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import MinMaxScaler, StringIndexer, VectorAssembler

    ddl = ", ".join(f"{c} {t}" for c, t in SCHEMA.items())
    df = spark.read.csv(str(PENGUINS), header=True, schema=ddl).na.drop()
    numeric = [c for c, t in INPUTS.items() if t == "double"]
    return Pipeline(stages=[
        StringIndexer(inputCol="Island", outputCol="IslandIdx"),
        VectorAssembler(inputCols=numeric, outputCol="numericFeatures"),
        MinMaxScaler(inputCol="numericFeatures", outputCol="normalizedFeatures"),
        VectorAssembler(inputCols=["IslandIdx", "normalizedFeatures"], outputCol="features"),
        LogisticRegression(labelCol="Species", maxIter=50),
    ]).fit(df)


@pytest.fixture(scope="module")
def logged(lab_model, tmp_path_factory):
    """The lab model logged and registered through runner.tracking.log_model, downloaded."""
    import mlflow

    root = tmp_path_factory.mktemp("store")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("compiled", artifact_location=(root / "a").as_uri())
        with mlflow.start_run(experiment_id=experiment):
            mlflow.log_metric("before_model", 0.5)
            info = tracking.log_model(lab_model, tracking.signature(SCHEMA, "Species"), "penguins",
                                      INPUTS, CLASS_NAMES, _lab_frame())
            mlflow.log_metric("accuracy", 0.97)  # as train.run logs its metrics: after the model
        info = tracking.register(info)  # once the run has ended FINISHED, as train.run does
        yield info, mlflow.artifacts.download_artifacts(info.uri, dst_path=str(root / "local"))
    finally:
        mlflow.set_tracking_uri(previous)


def _invoke(model, payload: dict) -> dict:
    """The scoring server's own request handling (JSON parsing against the signature)."""
    from mlflow.pyfunc import scoring_server

    response = scoring_server.invocations(json.dumps(payload), "application/json", model,
                                          model.metadata.get_input_schema())
    assert response.status == 200, response.response
    return json.loads(response.response)


def test_logged_pyfunc_is_the_compiled_scorer(logged):
    import mlflow

    info, _ = logged
    model = mlflow.pyfunc.load_model(info.uri)
    assert model.metadata.flavors["python_function"]["loader_module"] == LOADER_MODULE
    assert info.version == "1"
    assert _invoke(model, LAB_REQUEST) == {"predictions": [1.0]}


def test_probabilities_param_returns_class_names(logged):
    import mlflow

    model = mlflow.pyfunc.load_model(logged[0].uri)
    out = _invoke(model, {**LAB_REQUEST, "params": {"probabilities": True}})["predictions"]
    assert [(r["prediction"], r["label"]) for r in out] == [(1.0, "Gentoo")]
    assert sum(out[0]["probability"]) == pytest.approx(1.0)


def test_spark_flavor_still_loads_the_pipeline(logged):
    import mlflow.spark
    from pyspark.ml import PipelineModel

    assert isinstance(mlflow.spark.load_model(logged[0].uri), PipelineModel)


def test_pyfunc_loads_and_predicts_without_java(logged):
    """A fresh process with no java on PATH and no JAVA_HOME loads and predicts, with no JVM."""
    script = textwrap.dedent(f"""
        import sys
        import mlflow.pyfunc
        import pandas as pd
        model = mlflow.pyfunc.load_model({logged[1]!r})
        row = {LAB_REQUEST['dataframe_records'][0]!r}  # FlipperLength 210: an int64 column
        pyspark = sys.modules.get("pyspark")  # mlflow may import it; no JVM may start
        jvm = pyspark is not None and pyspark.SparkContext._active_spark_context is not None
        print(model.predict(pd.DataFrame([row])).tolist(), jvm)
    """)
    path = os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep)
                           if not (Path(d) / "java").exists())
    assert shutil.which("java", path=path) is None
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"} | {"PATH": path}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[-2] == "[1.0] False"


def test_uncompilable_pipeline_keeps_the_spark_pyfunc(spark, lab_model, tmp_path):
    import mlflow.spark
    from mlflow.models import Model
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import Normalizer

    model = PipelineModel([*lab_model.stages[:-1], Normalizer(inputCol="features", outputCol="n")])
    mlflow.spark.save_model(model, str(tmp_path / "m"), pip_requirements=["pyspark"])
    reason = add_compiled_pyfunc(str(tmp_path / "m"), model, INPUTS, CLASS_NAMES)
    assert "Normalizer" in (reason or "")
    flavor = Model.load(str(tmp_path / "m" / "MLmodel")).flavors["python_function"]
    assert flavor["loader_module"] == "mlflow.spark"


def _lab_frame(**changes):
    import pandas as pd

    return pd.DataFrame([{**LAB_REQUEST["dataframe_records"][0], **changes}])


def test_pyfunc_takes_the_lab_ints_and_floats(logged):
    """int64 columns (pandas' type for 210) and float64 ones alike, as Spark would cast them."""
    import mlflow

    model = mlflow.pyfunc.load_model(logged[1])
    ints = _lab_frame()
    assert ints["FlipperLength"].dtype == "int64"
    assert model.predict(ints).tolist() == [1.0]
    floats = _lab_frame(FlipperLength=210.0, BodyMass=4450.0)
    assert model.predict(floats).tolist() == [1.0]
    assert model.predict(floats.astype({"FlipperLength": "int32"})).tolist() == [1.0]


def test_pyfunc_still_rejects_what_is_not_a_number(logged):
    import mlflow

    model = mlflow.pyfunc.load_model(logged[1])
    # the model's own copy of the scorer raises its ScoringError (a ValueError)
    with pytest.raises(ValueError, match="FlipperLength.*not a number"):
        model.predict(_lab_frame(FlipperLength="tall"))
    with pytest.raises(Exception, match="BodyMass"):  # noqa: PT011 - MLflow's or the scorer's
        model.predict(_lab_frame().drop(columns=["BodyMass"]))


def test_signature_keeps_columns_and_declared_types(logged):
    """MLflow sees `any` for numeric columns (what its enforcement lets ints and floats through
    as); runner's readers see the declared types, kept in the MLmodel's metadata."""
    from mlflow.models import Model

    meta = Model.load(os.path.join(logged[1], "MLmodel"))
    assert {c["name"]: c["type"] for c in meta.signature.inputs.to_dict()} == {
        "Island": "string", "CulmenLength": "any", "CulmenDepth": "any", "FlipperLength": "any",
        "BodyMass": "any"}
    assert tracking.model_inputs(logged[1]) == [
        ("Island", "string"), ("CulmenLength", "double"), ("CulmenDepth", "double"),
        ("FlipperLength", "double"), ("BodyMass", "double")]


def test_is_a_logged_model_linked_to_the_run_metrics(logged):
    """model_id in the MLmodel, found by search_logged_models, with the run's metrics (those
    logged before the model and after it) and params."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import Model

    info, local = logged
    model_id = Model.load(os.path.join(local, "MLmodel")).model_id
    assert model_id
    assert info.uri == f"models:/{model_id}"
    experiment = mlflow.get_experiment_by_name("compiled").experiment_id
    found = MlflowClient().search_logged_models(experiment_ids=[experiment])
    assert [m.model_id for m in found] == [model_id]
    assert str(found[0].status).endswith("READY")
    assert {m.key: m.value for m in found[0].metrics or []} == {"before_model": 0.5,
                                                                "accuracy": 0.97}


def test_code_and_requirements_travel_with_the_model(logged):
    """The scorer's code is inside the model and its requirements are published packages only."""
    local = logged[1]
    package = Path(local) / CODE_DIR / SCORER_PACKAGE
    assert {p.name for p in package.glob("*.py")} >= {"__init__.py", "pyfunc.py", "pipeline.py"}
    imports = [line.split()[1] for p in package.glob("*.py") for line in p.read_text().splitlines()
               if line.lstrip().startswith(("import ", "from "))]
    assert not [m for m in imports if m.split(".")[0] not in ("__future__", ".", "dataclasses",
                                                               "functools", "typing", "numpy",
                                                               "pandas", "json", "os",
                                                               "collections") and m[0] != "."]
    requirements = (Path(local) / "requirements.txt").read_text().split()
    assert sorted(r.split("==")[0] for r in requirements) == ["mlflow-skinny", "numpy", "pandas"]


def test_input_example_is_logged(logged):
    import mlflow

    model = mlflow.pyfunc.load_model(logged[1])
    example = model.input_example
    assert example is not None
    assert example.to_dict("records") == LAB_REQUEST["dataframe_records"]
    assert model.predict(example).tolist() == [1.0]


def test_models_with_the_older_loader_still_load(logged, tmp_path):
    """A model logged before the code travelled with it names runner.compiled.pyfunc and has no
    code directory: it loads wherever runner is installed."""
    import mlflow
    import yaml

    old = tmp_path / "old"
    shutil.copytree(logged[1], old, ignore=shutil.ignore_patterns(CODE_DIR))
    mlmodel = yaml.safe_load((old / "MLmodel").read_text())
    flavor = mlmodel["flavors"]["python_function"]
    flavor["loader_module"] = LEGACY_LOADER_MODULE
    flavor.pop("code")
    (old / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    model = mlflow.pyfunc.load_model(str(old))
    assert model.metadata.flavors["python_function"]["loader_module"] == LEGACY_LOADER_MODULE
    assert model.predict(_lab_frame()).tolist() == [1.0]
