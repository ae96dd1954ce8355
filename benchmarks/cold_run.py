"""Cold run: wall time from process start to a registered model, runner beside the lab's script.

Both sides start a fresh Python process (and JVM), train the lab's pipeline on penguins, log to a
fresh sqlite MLflow store and register the model. The baseline does what the lab's notebook does:
`mlflow.spark.log_model(model, "model", input_example=..., registered_model_name=...)` with
MulticlassClassificationEvaluator for each metric.

runner maps Spark's classes from a JVM class archive that its first run on a machine writes
(runner/class_archive.py): the benchmark starts from an empty cache, times that first run on its
own, then the rounds. That first run also creates runner's store; the lab's store is created
before the rounds too, so every round is a cold process on an existing store. Each round also
times the floor: a process that starts runner's Spark session (same settings) and exits.

``--profile`` then runs runner once more under benchmarks/profile_run.py and prints where its
wall time went (phases, library imports, MLflow client calls, each Spark job from the JVM's
event log) beside the rounds' totals.

    python benchmarks/cold_run.py [--repeat 2] [--profile]
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


FLOOR_SCRIPT = textwrap.dedent(
    """
    import sys
    from hydra import compose, initialize_config_module
    from runner.config import register_configs
    from runner.spark import get_session

    register_configs()
    with initialize_config_module(version_base="1.3", config_module="runner.conf"):
        cfg = compose(config_name="config")
    get_session(cfg.spark, sys.argv[1]).range(1).count()
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


def _create_store(uri: str, work: str, env: dict[str, str]) -> None:
    """The lab's store, created before the rounds as runner's is by its first run."""
    _timed([sys.executable, "-c", "import mlflow, sys; mlflow.set_tracking_uri(sys.argv[1]); "
            "mlflow.search_experiments()", uri], work, env)


def rounds(repeat: int, penguins: str, base: dict[str, str], ours_dir: str, lab_dir: str
           ) -> dict[str, list[float]]:
    """runner, the lab's script and the floor, in turn, ``repeat`` times: wall seconds each."""
    times: dict[str, list[float]] = {"runner": [], "lab": [], "floor": []}
    lab_env = {**base, "MLFLOW_TRACKING_URI": f"sqlite:///{lab_dir}/mlflow.db"}
    _create_store(lab_env["MLFLOW_TRACKING_URI"], lab_dir, lab_env)
    script = os.path.join(lab_dir, "lab.py")
    with open(script, "w") as fh:
        fh.write(LAB_SCRIPT)
    floor = os.path.join(lab_dir, "floor.py")
    with open(floor, "w") as fh:
        fh.write(FLOOR_SCRIPT)
    for i in range(repeat):
        times["runner"].append(_timed(_runner_cmd(), ours_dir, base))
        times["lab"].append(_timed([sys.executable, script, penguins,
                                    lab_env["MLFLOW_TRACKING_URI"]], lab_dir, lab_env))
        times["floor"].append(_timed([sys.executable, floor, penguins], lab_dir, base))
        print(f"round {i + 1}: runner {times['runner'][-1]:.1f} s, lab-style script "
              f"{times['lab'][-1]:.1f} s, floor (JVM + SparkContext) {times['floor'][-1]:.1f} s",
              flush=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile", action="store_true",
                        help="then profile one more runner run: where its wall time goes")
    args = parser.parse_args()
    penguins = str(files("runner.resources").joinpath("penguins.csv"))
    cache = tempfile.mkdtemp(prefix="runner-cache-")  # runner's JVM class archive starts absent
    base = {**os.environ, "RUNNER_CACHE_DIR": cache}
    base.pop("MLFLOW_TRACKING_URI", None)  # runner's own default store, under its work dir
    with tempfile.TemporaryDirectory() as ours_dir, tempfile.TemporaryDirectory() as lab_dir:
        first = _timed(_runner_cmd(), ours_dir, base)  # its JVM writes the archive as it exits
        print(f"runner's first run on this machine (writes the class archive, creates the "
              f"store): {first:.1f} s", flush=True)
        times = rounds(args.repeat, penguins, base, ours_dir, lab_dir)
        profile = _profile(ours_dir, base) if args.profile else None
    shutil.rmtree(cache, ignore_errors=True)
    ours_s, lab_s = statistics.median(times["runner"]), statistics.median(times["lab"])
    print("\ncold run: process start -> registered model and the JVM gone, existing store "
          f"(median of {args.repeat} round(s))")
    print(f"{'':<52}{'seconds':>10}")
    print(f"{'runner':<52}{ours_s:>10.1f}")
    print(f"{'lab-style script':<52}{lab_s:>10.1f}")
    print(f"{'floor: start the Spark session, one job, exit':<52}"
          f"{statistics.median(times['floor']):>10.1f}")
    print(f"{'speed-up (lab / runner)':<52}{lab_s / ours_s:>9.1f}x")
    print(f"{'runner, first run ever (writes class archive)':<52}{first:>10.1f}")
    print("goal: runner >= 5x faster than the lab-style script")
    if profile is not None:
        print()
        print(profile)


def _profile(work: str, base: dict[str, str]) -> str:
    """One more runner run, under profile_run.py: where its wall time went."""
    from profile_run import profiled

    return profiled(work, base, [], "one cold run")[0]


if __name__ == "__main__":
    main()
