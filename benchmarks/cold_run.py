"""Cold run: wall time from process start to a registered model, runner beside the lab's script.

Both sides start a fresh Python process (and JVM), train the lab's pipeline on penguins, log to a
fresh sqlite MLflow store and register the model. The baseline does what the lab's notebook does:
`mlflow.spark.log_model(model, "model", input_example=..., registered_model_name=...)` with
MulticlassClassificationEvaluator for each metric.

runner maps Spark's classes from a JVM class archive that its first run on a machine writes
(runner/class_archive.py): the benchmark starts from an empty cache, times that first run on its
own, then the rounds.

    python benchmarks/cold_run.py [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from importlib.resources import files

LAB_SCRIPT = textwrap.dedent(
    """
    import sys
    import mlflow, mlflow.spark
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import col
    from pyspark.sql.types import FloatType, IntegerType
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import StringIndexer, VectorAssembler, MinMaxScaler
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator

    path, uri = sys.argv[1], sys.argv[2]
    spark = (SparkSession.builder.master("local[*]").config("spark.ui.enabled", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    data = spark.read.csv(path, header=True, inferSchema=True).dropna()
    data = data.select(
        "Island", *[col(c).cast(FloatType()).alias(c)
                    for c in ["CulmenLength", "CulmenDepth", "FlipperLength", "BodyMass"]],
        col("Species").cast(IntegerType()).alias("Species"))
    train, test = data.randomSplit([0.7, 0.3])
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("penguins-lab")
    with mlflow.start_run():
        numeric = ["CulmenLength", "CulmenDepth", "FlipperLength", "BodyMass"]
        stages = [StringIndexer(inputCol="Island", outputCol="IslandIdx"),
                  VectorAssembler(inputCols=numeric, outputCol="numericFeatures"),
                  MinMaxScaler(inputCol="numericFeatures", outputCol="normalizedFeatures"),
                  VectorAssembler(inputCols=["IslandIdx", "normalizedFeatures"],
                                  outputCol="features"),
                  LogisticRegression(labelCol="Species", featuresCol="features", maxIter=5,
                                     regParam=0.5)]
        model = Pipeline(stages=stages).fit(train)
        prediction = model.transform(test)
        for metric in ["accuracy", "weightedRecall", "weightedPrecision"]:
            evaluator = MulticlassClassificationEvaluator(labelCol="Species",
                                                          predictionCol="prediction",
                                                          metricName=metric)
            mlflow.log_metric(metric, evaluator.evaluate(prediction))
        mlflow.log_param("maxIter", 5)
        mlflow.log_param("regParam", 0.5)
        example = test.select("Island", *numeric).limit(5).toPandas()
        mlflow.spark.log_model(model, "model", input_example=example,
                               registered_model_name="penguin-classifier-lab")
    """
)


def _timed(cmd: list[str], cwd: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return elapsed


def _runner_cmd() -> list[str]:
    found = shutil.which("runner", path=os.path.dirname(sys.executable)) or shutil.which("runner")
    return [found] if found else [sys.executable, "-c", "from runner.cli import main; main()"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    penguins = str(files("runner.resources").joinpath("penguins.csv"))
    cache = tempfile.mkdtemp(prefix="runner-cache-")  # runner's JVM class archive starts absent
    base = {**os.environ, "RUNNER_CACHE_DIR": cache}
    with tempfile.TemporaryDirectory() as work:
        env = {**base, "MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlflow.db"}
        first = _timed(_runner_cmd(), work, env)  # its JVM writes the archive as it exits
    print(f"runner's first run on this machine (writes the class archive): {first:.1f} s",
          flush=True)
    ours, lab = [], []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as work:
            env = {**base, "MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlflow.db"}
            ours.append(_timed(_runner_cmd(), work, env))
            script = os.path.join(work, "lab.py")
            with open(script, "w") as fh:
                fh.write(LAB_SCRIPT)
            lab.append(
                _timed([sys.executable, script, penguins, env["MLFLOW_TRACKING_URI"]], work, env)
            )
        print(
            f"round {i + 1}: runner {ours[-1]:.1f} s, lab-style script {lab[-1]:.1f} s", flush=True
        )
    shutil.rmtree(cache, ignore_errors=True)
    ours_s, lab_s = statistics.median(ours), statistics.median(lab)
    print("\ncold run: process start -> registered model and the JVM gone (median of",
          args.repeat, "round(s))")
    print(f"{'':<44}{'seconds':>10}")
    print(f"{'runner':<44}{ours_s:>10.1f}")
    print(f"{'lab-style script':<44}{lab_s:>10.1f}")
    print(f"{'speed-up (lab / runner)':<44}{lab_s / ours_s:>9.1f}x")
    print(f"{'runner, first run ever (writes class archive)':<44}{first:>10.1f}")
    print("goal: runner <= 15 s and >= 2x faster than the lab-style script")


if __name__ == "__main__":
    main()
