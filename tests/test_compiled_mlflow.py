"""The compiled scorer through MLflow: logged by runner.tracking.log_model into a sqlite store,
loaded as a pyfunc (also in a process without Java), served through the scoring server's JSON
parsing, and still loadable as a Spark PipelineModel."""

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
from runner.compiled.flavor import LOADER_MODULE, add_compiled_pyfunc
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
            info = tracking.log_model(lab_model, tracking.signature(SCHEMA, "Species"), "penguins",
                                      INPUTS, CLASS_NAMES)
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
        row = {{k: float(v) if isinstance(v, int) else v
               for k, v in {LAB_REQUEST['dataframe_records'][0]!r}.items()}}
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
