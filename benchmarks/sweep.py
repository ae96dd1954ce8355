"""Sweep: 20 trials on penguins, runner's Optuna sweep beside the lab's way, measured in one run.

runner: `runner -m hydra/sweeper=optuna hydra.sweeper.n_trials=20 <space>` in a fresh process
(JVM start included), logging to a fresh sqlite MLflow store with the default
`tracking.log_models=best`. Its per-trial times are the ones its progress lines print.

The lab's way: a Python loop that calls a train function per trial; each call fits the lab
pipeline, evaluates it with MulticlassClassificationEvaluator and logs and registers the Spark
model with `mlflow.spark.log_model(model, "model", input_example=..., registered_model_name=...)`
as the lab notebook does. It runs --lab-trials trials (3 by default, it is slow) and its 20-trial
total is extrapolated: start-up + first trial + 19 x the median of the later trials.

runner's sweep runs with the sweeper's default hydra.sweeper.n_jobs (2, as the official plugin's),
or --jobs N, and then again with n_jobs=1 (unless --no-sequential). Trials may overlap, so beside
each trial's own time (the median the progress lines print) the sweep's warm rate is timed from
the lines' arrival: second progress line to last, per trial.

Extra Hydra overrides after the options go to runner's sweeps (not to the lab loop), e.g. the
trial's selection settings: ``python benchmarks/sweep.py -- evaluation.folds=3``.

``--profile`` runs the main sweep once more under benchmarks/profile_run.py and prints where its
time went, and a warm trial's median time outside its fit (MLflow child-run writes, evaluation,
the rest).

    python benchmarks/sweep.py [--trials 20] [--lab-trials 3] [--master 'local[2]']
                               [--jobs N] [--no-sequential] [--profile] [-- override ...]
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


def _run_timed(cmd: list[str], cwd: str, env: dict[str, str]
               ) -> tuple[float, list[float], list[float]]:
    """Wall time, when (since start) each sweep progress line arrived, and the trial time each
    line printed."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout
    arrivals, times, lines = [], [], []
    for line in proc.stdout:
        lines.append(line)
        if match := _TRIAL_LINE.match(line.rstrip()):
            arrivals.append(time.perf_counter() - start)
            times.append(float(match.group(1)))
    if proc.wait() != 0:
        sys.exit(f"{cmd[0]} failed ({proc.returncode}):\n{''.join(lines)[-4000:]}")
    return time.perf_counter() - start, arrivals, times


def _sweep_args(trials: int, master: str, jobs: int | None, extra: list[str]) -> list[str]:
    n_jobs = [] if jobs is None else [f"hydra.sweeper.n_jobs={jobs}"]  # None: the default
    return ["-m", "hydra/sweeper=optuna", f"hydra.sweeper.n_trials={trials}", *n_jobs,
            "hydra.sweeper.sampler.seed=7", f"spark.master='{master}'", *SPACE, *extra]


def runner_sweep(trials: int, master: str, jobs: int | None, extra: list[str] | None = None
                 ) -> dict[str, float]:
    """Wall time of the whole sweep, its first trial, and the warm seconds per trial: from the
    second progress line to the last, per trial (trials may overlap, hydra.sweeper.n_jobs)."""
    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlflow.db"}
        total, arrivals, times = _run_timed(
            [*_runner_cmd(), *_sweep_args(trials, master, jobs, extra or [])], work, env)
    if len(arrivals) != trials:
        sys.exit(f"expected {trials} progress lines, found {len(arrivals)}")
    return {"total": total, "first": times[0], "warm": (arrivals[-1] - arrivals[1]) / (trials - 2),
            "trial": statistics.median(times[1:]), "trials": float(trials)}


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
            "warm": warm, "trial": warm, "trials": float(trials)}


def report(sweeps: dict[str, dict[str, float]], lab: dict[str, float], trials: int) -> str:
    """One column per runner sweep, then the lab loop, then lab / the first runner column."""
    rows = [("first trial (s)", "first"), ("warm: a trial's own time, median (s)", "trial"),
            ("warm: sweep seconds per trial", "warm"),
            (f"{trials}-trial sweep, total (s)", "total")]
    names = list(sweeps)
    lines = [f"{'':<38}" + "".join(f"{n:>16}" for n in names) + f"{'lab loop':>10}"
             f"{'lab/' + names[0]:>22}"]
    for label, key in rows:
        ours = "".join(f"{sweep[key]:>16.2f}" for sweep in sweeps.values())
        ratio = lab[key] / sweeps[names[0]][key]
        lines.append(f"{label:<38}{ours}{lab[key]:>10.2f}{ratio:>21.1f}x")
    lines.append(f"the lab loop ran {int(lab['trials'])} trials and its {trials}-trial total is "
                 f"extrapolated (start-up + first + {trials - 1} x warm median); its trials run "
                 "one at a time, so both warm rows are its median")
    lines.append("goals: the sweep advancing <= 0.5 s per warm trial; >= 20x faster than the "
                 "lab loop")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--lab-trials", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--jobs", type=int, default=None,
                        help="hydra.sweeper.n_jobs of the main sweep (default: the sweeper's)")
    parser.add_argument("--no-sequential", action="store_true",
                        help="skip the second sweep, with hydra.sweeper.n_jobs=1")
    parser.add_argument("--profile", action="store_true",
                        help="then profile the main sweep once more: where a trial's time goes")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for runner's sweeps")
    args = parser.parse_args()
    main_name = "runner" if args.jobs is None else f"runner n_jobs={args.jobs}"
    sweeps = {main_name: runner_sweep(args.trials, args.master, args.jobs, args.overrides)}
    print(f"{main_name}: {args.trials} trials in {sweeps[main_name]['total']:.1f} s", flush=True)
    if not args.no_sequential:
        sweeps["runner n_jobs=1"] = runner_sweep(args.trials, args.master, 1, args.overrides)
        print(f"runner n_jobs=1: {args.trials} trials in "
              f"{sweeps['runner n_jobs=1']['total']:.1f} s", flush=True)
    lab = lab_loop(args.lab_trials, args.master, args.trials)
    print(f"lab loop: {args.lab_trials} trials, warm median {lab['warm']:.1f} s", flush=True)
    print(report(sweeps, lab, args.trials))
    if args.profile:
        print()
        print(profile_sweep(args.trials, args.master, args.jobs, args.overrides))


def profile_sweep(trials: int, master: str, jobs: int | None, extra: list[str]) -> str:
    """The main sweep once more under profile_run.py: its phases and a warm trial's parts."""
    from profile_run import per_trial, profiled

    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlflow.db"}
        text, record = profiled(work, env, _sweep_args(trials, master, jobs, extra),
                                f"a {trials}-trial sweep")
    return text + "\n\n" + per_trial(record)


if __name__ == "__main__":
    main()
