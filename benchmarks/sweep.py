"""Sweep: 20 trials on penguins, runner's Optuna sweep beside the lab's way, measured in one run.

runner: `runner -m hydra/sweeper=optuna hydra.sweeper.n_trials=20 <space>` in a fresh process
(JVM start included), logging to a fresh sqlite MLflow store with the default
`tracking.log_models=best`. Its per-trial times are the ones its progress lines print.

The lab's way: a Python loop that calls a train function per trial; each call fits the lab
pipeline, evaluates it with MulticlassClassificationEvaluator and logs and registers the Spark
model with `mlflow.spark.log_model(model, "model", input_example=..., registered_model_name=...)`
as the lab notebook does. It runs --lab-trials trials (3 by default, it is slow) and its 20-trial
total is extrapolated: start-up + first trial + 19 x the median of the later trials.

Parallel trials (--jobs N): the same sweep of --jobs-trials trials with hydra.sweeper.n_jobs=1
and =N, one after the other; beside the total, the warm rate is timed from the stdout lines'
arrival (second progress line to last), so the JVM start and the first trials' warm-up are out.
With --jobs-trials equal to --trials, the parallel total is also set beside the lab loop's.

    python benchmarks/sweep.py [--trials 20] [--lab-trials 3] [--master 'local[2]']
                               [--jobs 2 [--jobs-trials 8] [--jobs-only]]
"""

# ruff: noqa: T201 - a benchmark's output is what it prints
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from importlib.resources import files

SPACE = ["model.regParam=interval(0.001,1.0)", "model.maxIter=range(5,50)",
         "model.elasticNetParam=choice(0.0,0.5,1.0)"]

LAB_LOOP = textwrap.dedent(
    """
    import json, random, sys, time
    start = time.perf_counter()
    import mlflow, mlflow.spark
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import col
    from pyspark.sql.types import FloatType, IntegerType
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import StringIndexer, VectorAssembler, MinMaxScaler
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator

    path, uri, trials, master = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    NUMERIC = ["CulmenLength", "CulmenDepth", "FlipperLength", "BodyMass"]

    def train(train_df, test_df, reg, iters, enet):
        with mlflow.start_run():
            stages = [StringIndexer(inputCol="Island", outputCol="IslandIdx"),
                      VectorAssembler(inputCols=NUMERIC, outputCol="numericFeatures"),
                      MinMaxScaler(inputCol="numericFeatures", outputCol="normalizedFeatures"),
                      VectorAssembler(inputCols=["IslandIdx", "normalizedFeatures"],
                                      outputCol="features"),
                      LogisticRegression(labelCol="Species", featuresCol="features",
                                         maxIter=iters, regParam=reg, elasticNetParam=enet)]
            model = Pipeline(stages=stages).fit(train_df)
            prediction = model.transform(test_df)
            accuracy = None
            for metric in ["accuracy", "weightedRecall", "weightedPrecision"]:
                evaluator = MulticlassClassificationEvaluator(
                    labelCol="Species", predictionCol="prediction", metricName=metric)
                value = evaluator.evaluate(prediction)
                accuracy = value if metric == "accuracy" else accuracy
                mlflow.log_metric(metric, value)
            mlflow.log_params({"maxIter": iters, "regParam": reg, "elasticNetParam": enet})
            example = test_df.select("Island", *NUMERIC).limit(5).toPandas()
            mlflow.spark.log_model(model, "model", input_example=example,
                                   registered_model_name="penguin-classifier-lab")
        return accuracy

    spark = (SparkSession.builder.master(master).config("spark.ui.enabled", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    data = spark.read.csv(path, header=True, inferSchema=True).dropna()
    data = data.select("Island", *[col(c).cast(FloatType()).alias(c) for c in NUMERIC],
                       col("Species").cast(IntegerType()).alias("Species"))
    train_df, test_df = data.randomSplit([0.7, 0.3], seed=42)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("penguins-lab")
    startup = time.perf_counter() - start
    rng = random.Random(7)
    times = []
    for _ in range(trials):
        t = time.perf_counter()
        train(train_df, test_df, rng.uniform(0.001, 1.0), rng.randint(5, 50),
              rng.choice([0.0, 0.5, 1.0]))
        times.append(time.perf_counter() - t)
    print(json.dumps({"startup": startup, "trials": times}))
    """
)

_TRIAL_LINE = re.compile(r"^\[sweep\] trial \d+/\d+ .* ([0-9.]+)s$")


def _runner_cmd() -> list[str]:
    found = shutil.which("runner", path=os.path.dirname(sys.executable)) or shutil.which("runner")
    return [found] if found else [sys.executable, "-m", "runner.cli"]


def _run(cmd: list[str], cwd: str, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        tail = proc.stdout[-2000:] + proc.stderr[-3000:]
        sys.exit(f"{cmd[0]} failed ({proc.returncode}):\n{tail}")
    return elapsed, proc.stdout


def _run_timed(cmd: list[str], cwd: str, env: dict[str, str]) -> tuple[float, list[float]]:
    """Wall time, and when (since start) each sweep progress line arrived."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout
    arrivals, lines = [], []
    for line in proc.stdout:
        lines.append(line)
        if _TRIAL_LINE.match(line.rstrip()):
            arrivals.append(time.perf_counter() - start)
    if proc.wait() != 0:
        sys.exit(f"{cmd[0]} failed ({proc.returncode}):\n{''.join(lines)[-4000:]}")
    return time.perf_counter() - start, arrivals


def _sweep_cmd(trials: int, master: str, jobs: int = 1) -> list[str]:
    return [*_runner_cmd(), "-m", "hydra/sweeper=optuna", f"hydra.sweeper.n_trials={trials}",
            f"hydra.sweeper.n_jobs={jobs}", "hydra.sweeper.sampler.seed=7",
            f"spark.master='{master}'", *SPACE]


def runner_sweep(trials: int, master: str) -> dict[str, float]:
    """Wall time of the whole sweep and the per-trial times it printed."""
    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlflow.db"}
        total, out = _run(_sweep_cmd(trials, master), work, env)
    times = [float(m.group(1)) for line in out.splitlines() if (m := _TRIAL_LINE.match(line))]
    if len(times) != trials:
        sys.exit(f"expected {trials} progress lines, found {len(times)}:\n{out[-3000:]}")
    return {"total": total, "first": times[0], "warm": statistics.median(times[1:]),
            "trials": float(trials)}


def lab_loop(trials: int, master: str, extrapolate_to: int) -> dict[str, float]:
    """The lab's loop over ``trials`` trials, its total extrapolated to ``extrapolate_to``."""
    penguins = str(files("runner.resources").joinpath("penguins.csv"))
    with tempfile.TemporaryDirectory() as work:
        script = os.path.join(work, "lab_loop.py")
        with open(script, "w") as fh:
            fh.write(LAB_LOOP)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlflow.db"}
        wall, out = _run([sys.executable, script, penguins, env["MLFLOW_TRACKING_URI"],
                          str(trials), master], work, env)
    result = json.loads(out.strip().splitlines()[-1])
    times = result["trials"]
    warm = statistics.median(times[1:]) if len(times) > 1 else times[0]
    overhead = wall - sum(times)  # interpreter, imports, JVM start, data, MLflow store
    return {"total": overhead + times[0] + warm * (extrapolate_to - 1), "first": times[0],
            "warm": warm, "trials": float(trials)}


def report(ours: dict[str, float], lab: dict[str, float], trials: int) -> str:
    rows = [("first trial (s)", "first"), ("warm trial, median (s)", "warm"),
            (f"{trials}-trial sweep, total (s)", "total")]
    lines = [f"{'':<30}{'runner':>10}{'lab loop':>12}{'lab/runner':>12}"]
    for label, key in rows:
        lines.append(f"{label:<30}{ours[key]:>10.2f}{lab[key]:>12.2f}"
                     f"{lab[key] / ours[key]:>11.1f}x")
    lines.append(f"runner ran {int(ours['trials'])} trials; the lab loop ran "
                 f"{int(lab['trials'])} and its {trials}-trial total is extrapolated "
                 f"(start-up + first + {trials - 1} x warm median)")
    lines.append("goals: warm trial <= 1 s; 20-trial sweep <= 40 s incl. JVM start; "
                 ">= 15x faster than the lab loop")
    return "\n".join(lines)


def parallel_sweep(trials: int, master: str, jobs: int) -> dict[str, float]:
    """Total wall time and warm seconds per trial (second progress line to the last)."""
    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlflow.db"}
        total, arrivals = _run_timed(_sweep_cmd(trials, master, jobs), work, env)
    if len(arrivals) != trials:
        sys.exit(f"expected {trials} progress lines, found {len(arrivals)}")
    return {"total": total, "per_trial": (arrivals[-1] - arrivals[1]) / (trials - 2)}


def jobs_report(trials: int, master: str, jobs: int) -> tuple[str, float]:
    """The n_jobs=1 vs n_jobs=``jobs`` table, and the parallel sweep's total."""
    one = parallel_sweep(trials, master, 1)
    many = parallel_sweep(trials, master, jobs)
    lines = [f"{trials}-trial Optuna sweep{'':<10}{'n_jobs=1':>10}{f'n_jobs={jobs}':>10}"
             f"{'speedup':>10}"]
    for label, key in (("total incl. JVM start (s)", "total"),
                       ("warm, seconds per trial", "per_trial")):
        lines.append(f"{label:<34}{one[key]:>10.2f}{many[key]:>10.2f}"
                     f"{one[key] / many[key]:>9.2f}x")
    return "\n".join(lines), many["total"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--lab-trials", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--jobs", type=int, default=0,
                        help="also compare hydra.sweeper.n_jobs=1 with this many")
    parser.add_argument("--jobs-trials", type=int, default=8)
    parser.add_argument("--jobs-only", action="store_true", help="only the n_jobs comparison")
    args = parser.parse_args()
    parallel_total = None
    if args.jobs:
        table, parallel_total = jobs_report(args.jobs_trials, args.master, args.jobs)
        print(table, flush=True)
        if args.jobs_only:
            return
    ours = runner_sweep(args.trials, args.master)
    print(f"runner: {args.trials} trials in {ours['total']:.1f} s", flush=True)
    lab = lab_loop(args.lab_trials, args.master, args.trials)
    print(f"lab loop: {args.lab_trials} trials, warm median {lab['warm']:.1f} s", flush=True)
    print(report(ours, lab, args.trials))
    if parallel_total and args.jobs_trials == args.trials:
        print(f"with hydra.sweeper.n_jobs={args.jobs}: {args.trials}-trial sweep "
              f"{parallel_total:.2f} s, lab/runner {lab['total'] / parallel_total:.1f}x")


if __name__ == "__main__":
    main()
