"""A runner-logged model used through MLflow's own clients, where runner is not installed.

- A fresh venv (no system site-packages, no runner, no pyspark) that installs only the model's
  requirements.txt (mlflow-skinny, numpy, pandas: this environment's versions, from the package
  index or pip's cache) loads the downloaded model directory and predicts the lab's ints.
- ``mlflow models predict`` takes the lab request as JSON and as CSV (int columns).
- ``mlflow models generate-dockerfile`` writes a Dockerfile that installs the model's
  requirements and serves it (checked for content: docker is not on these machines).
- ``mlflow.pyfunc.spark_udf`` on the penguins data with bigint columns agrees with
  ``runner predict`` row for row.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner import predict
from tests.conftest import LAB_REQUEST, TEST_SPARK_OVERRIDES, make_config
from tests.serving_support import Store, trained_store

pytestmark = pytest.mark.slow

PENGUINS = Path(__file__).parents[1] / "runner" / "resources" / "penguins.csv"
LAB = LAB_REQUEST["dataframe_records"][0]
MLFLOW_CLI = str(Path(sys.executable).parent / "mlflow")


@pytest.fixture(scope="module")
def store(spark, tmp_path_factory: pytest.TempPathFactory) -> Store:
    return trained_store(tmp_path_factory.getbasetemp() / "serving-store")


@pytest.fixture(scope="module")
def model_dir(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The registered model's files, downloaded as a deployment would."""
    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(store.uri)
    try:
        dst = tmp_path_factory.mktemp("downloaded")
        return Path(mlflow.artifacts.download_artifacts(store.model_uri, dst_path=str(dst)))
    finally:
        mlflow.set_tracking_uri(previous)


def _clean_env() -> dict[str, str]:
    """The environment less anything that would lead a child to this venv or this repository."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "MLFLOW_TRACKING_URI", "PYTHONHOME"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def test_fresh_venv_without_runner_predicts_the_lab_ints(model_dir: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r",
         str(model_dir / "requirements.txt")],
        capture_output=True, text=True, timeout=600, check=False, env=_clean_env())
    assert install.returncode == 0, install.stderr[-3000:]
    script = (
        "import importlib.util, json, sys\n"
        "import mlflow.pyfunc, pandas as pd\n"
        "assert importlib.util.find_spec('runner') is None, 'runner is installed'\n"
        "assert importlib.util.find_spec('pyspark') is None, 'pyspark is installed'\n"
        f"model = mlflow.pyfunc.load_model({str(model_dir)!r})\n"
        f"frame = pd.DataFrame([json.loads({json.dumps(json.dumps(LAB))})])\n"
        "print(str(frame['FlipperLength'].dtype), model.predict(frame).tolist())\n"
    )
    done = subprocess.run([python, "-c", script], capture_output=True, text=True, timeout=300,
                          check=False, cwd=tmp_path, env=_clean_env())
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "int64 [1.0]"


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_mlflow_models_predict_takes_the_lab_ints(model_dir: Path, tmp_path: Path,
                                                  kind: str) -> None:
    request = tmp_path / f"request.{kind}"
    if kind == "json":
        request.write_text(json.dumps(LAB_REQUEST))
    else:
        request.write_text(",".join(LAB) + "\n" + ",".join(str(v) for v in LAB.values()) + "\n")
    out = tmp_path / "out.json"
    done = subprocess.run(
        [MLFLOW_CLI, "models", "predict", "-m", str(model_dir), "-i", str(request), "-t", kind,
         "-o", str(out), "--env-manager", "local"],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
        env=_clean_env())
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(out.read_text()) == {"predictions": [1.0]}


def test_generate_dockerfile_installs_the_model_requirements(model_dir: Path,
                                                              tmp_path: Path) -> None:
    """MLflow's Dockerfile copies the model (code included), installs its requirements.txt and
    serves its python_function. (MLflow 3.17 still adds a JDK for the spark flavor, even with
    --install-java false; the compiled scorer never starts it.)"""
    out = tmp_path / "docker"
    done = subprocess.run(
        [MLFLOW_CLI, "models", "generate-dockerfile", "-m", str(model_dir), "-d", str(out)],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
        env=_clean_env())
    assert done.returncode == 0, done.stderr[-3000:]
    dockerfile = (out / "Dockerfile").read_text()
    copied = out / "model_dir" / model_dir.name
    assert f"COPY model_dir/{model_dir.name} /opt/ml/model" in dockerfile
    assert "_install_pyfunc_deps('/opt/ml/model'" in dockerfile  # pip install -r requirements
    assert "C._serve(" in dockerfile
    assert (copied / "code" / "runner_scorer" / "pyfunc.py").is_file()
    requirements = (copied / "requirements.txt").read_text()
    assert "runner" not in requirements
    assert "pyspark" not in requirements


def test_spark_udf_agrees_with_runner_predict(spark, store: Store, model_dir: Path,
                                              tmp_path: Path) -> None:
    """The penguins data with FlipperLength and BodyMass as bigint (pandas int64 in the UDF):
    MLflow's spark_udf (the compiled scorer in Python workers) and runner predict (the Spark
    pipeline) give the same prediction for every row."""
    import mlflow.pyfunc
    from pyspark.sql import functions as F  # noqa: N812

    schema = ("Island string, CulmenLength double, CulmenDepth double, FlipperLength bigint, "
              "BodyMass bigint, Species int")
    data = (spark.read.csv(str(PENGUINS), header=True, schema=schema).na.drop()
            .withColumn("id", F.monotonically_increasing_id()))
    source = str(tmp_path / "penguins.parquet")
    data.write.parquet(source)
    scored = str(tmp_path / "scored.parquet")
    cfg = make_config([*TEST_SPARK_OVERRIDES, f"tracking.uri={store.uri}",
                       f"predict.model_uri={model_dir}", f"predict.input={source}",
                       f"predict.output={scored}"])
    rows = predict.run(cfg).rows
    # Python UDF workers run sc.pythonExec ($PYSPARK_PYTHON, else python3 on PATH): this venv's
    # interpreter, as a user's PYSPARK_PYTHON would name theirs (runner itself has no Python UDF)
    context = spark.sparkContext
    python_exec, context.pythonExec = context.pythonExec, sys.executable
    try:
        udf = mlflow.pyfunc.spark_udf(spark, str(model_dir), result_type="double",
                                      env_manager="local")
        inputs = ["Island", "CulmenLength", "CulmenDepth", "FlipperLength", "BodyMass"]
        by_udf = spark.read.parquet(source).select("id", udf(*inputs).alias("udf"))
        joined = spark.read.parquet(scored).join(by_udf, "id").cache()
        assert rows == joined.count() == data.count() > 300
        differ = joined.where(F.col("prediction") != F.col("udf"))
        assert differ.count() == 0, differ.limit(5).collect()
    finally:
        context.pythonExec = python_exec
