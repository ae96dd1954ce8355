"""Scale: runner's training time beside a plain PySpark script, on N penguin-like rows (Parquet).

For each N, both sides run as fresh processes (own Python, own JVM, Spark local[*] with runner's
default settings) on the same seeded Parquet data (benchmarks/gen_data.py):
- runner: `runner data.path=<dir> data.format=parquet data.options={}` into a fresh sqlite store
  (data checks, fit, test and train metrics, confusion matrix, model logged and registered);
- plain: the lab's pipeline in a plain script: read, cast, dropna, randomSplit(0.7, 0.3, seed
  42), fit, test accuracy. No MLflow.
Both are timed by wall clock from process start to exit; the plain script also prints its phases.
Overhead is runner's extra time over plain; rows/s is N over runner's time.

    python benchmarks/scale.py                        # N = 1e5, 1e6
    python benchmarks/scale.py --sizes 1e5,1e6,1e7    # 1e7 takes minutes per side on 2 cores

``--inference 54000,1e6,1e7`` times instead what comes before the first fit on a CSV of N
penguin-like rows (one file, generated once into --data-dir), in a fresh process per N: runner's
schema inference (pandas, no JVM; pandas' own import apart) and, once the Spark session is up,
the reading, profiling (checks, classes, digest) and split of the data (``--no-profile``: the
inference alone, for the large sizes).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import gen_data

# the same Spark settings as runner's local profile (conf/spark/local.yaml)
SPARK_CONF = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
              "spark.sql.shuffle.partitions": "1", "spark.sql.adaptive.enabled": "false",
              "spark.scheduler.mode": "FAIR", "spark.driver.memory": "2g"}

PLAIN = textwrap.dedent(
    """
    import json, sys, time
    t0 = time.perf_counter()
    from pyspark.sql import SparkSession, functions as F
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import StringIndexer, VectorAssembler, MinMaxScaler
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator

    path, conf = sys.argv[1], json.loads(sys.argv[2])
    builder = SparkSession.builder.master("local[*]")
    for k, v in conf.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    t1 = time.perf_counter()
    numeric = ["CulmenLength", "CulmenDepth", "FlipperLength", "BodyMass"]
    data = spark.read.parquet(path).select(
        "Island", *[F.col(c).cast("double").alias(c) for c in numeric],
        F.col("Species").cast("int").alias("Species")).dropna()
    train, test = data.randomSplit([0.7, 0.3], seed=42)
    stages = [StringIndexer(inputCol="Island", outputCol="IslandIdx"),
              VectorAssembler(inputCols=numeric, outputCol="numericFeatures"),
              MinMaxScaler(inputCol="numericFeatures", outputCol="normalizedFeatures"),
              VectorAssembler(inputCols=["IslandIdx", "normalizedFeatures"], outputCol="features"),
              LogisticRegression(labelCol="Species", featuresCol="features", maxIter=5,
                                 regParam=0.5)]
    model = Pipeline(stages=stages).fit(train)
    t2 = time.perf_counter()
    accuracy = MulticlassClassificationEvaluator(
        labelCol="Species", metricName="accuracy").evaluate(model.transform(test))
    t3 = time.perf_counter()
    print(json.dumps({"accuracy": accuracy, "start": t1 - t0, "fit": t2 - t1,
                      "evaluate": t3 - t2}))
    """
)


INFER = textwrap.dedent(
    """
    import json, sys, time
    from hydra import compose, initialize_config_module
    from runner.config import register_configs

    register_configs()
    with initialize_config_module(version_base="1.3", config_module="runner.conf"):
        cfg = compose(config_name="config", overrides=[f"data.path={sys.argv[1]}"])
    t0 = time.perf_counter()
    import pandas  # noqa: F401  - its import is not inference
    t1 = time.perf_counter()
    from runner.data import dataset
    from runner.data.spec import DataSpec
    spec = DataSpec.resolve(cfg.data)  # the schema inferred, as a run resolves it once
    columns = spec.schema
    t2 = time.perf_counter()
    out = {"pandas import": t1 - t0, "inference": t2 - t1, "columns": len(columns)}
    if sys.argv[2] == "profile":
        from runner.spark import get_session
        session = get_session(cfg.spark, sys.argv[1])
        t3 = time.perf_counter()
        data = dataset.load(session, spec)
        out.update({"read, profile, split": time.perf_counter() - t3, "rows": data.rows})
    print(json.dumps(out))
    """
)


@dataclass(frozen=True)
class Timing:
    seconds: float
    accuracy: float
    phases: dict[str, float]


def say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _run(cmd: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False,
                          env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"})
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stdout[-2000:]}"
                 f"{proc.stderr[-3000:]}")
    return elapsed, proc.stdout + proc.stderr


def time_runner(data: Path, work: Path, extra: list[str]) -> Timing:
    exe = Path(sys.executable).parent / "runner"
    store = f"sqlite:///{work / 'mlflow.db'}"
    overrides = [f"data.path={data}", "data.format=parquet", "data.options={}",
                 f"tracking.uri={store}", "spark.master='local[*]'", *extra]  # quoted for Hydra
    seconds, out = _run([str(exe), *overrides], work)
    accuracy = float(re.search(r"^accuracy\s+([\d.]+)", out, re.MULTILINE).group(1))
    # runner's own progress lines: "runner: <step> (<s> s)"
    steps = re.findall(r"^runner: (.+?)(?::.*)? \(([\d.]+) s\)$", out, re.MULTILINE)
    return Timing(seconds, accuracy, {name: float(s) for name, s in steps})


def time_plain(data: Path, work: Path) -> Timing:
    seconds, out = _run([sys.executable, "-c", PLAIN, str(data), json.dumps(SPARK_CONF)], work)
    phases = json.loads(next(line for line in reversed(out.splitlines()) if line.startswith("{")))
    return Timing(seconds, phases.pop("accuracy"), phases)


def measure(n: int, data_root: Path, repeat: int, extra: list[str]) -> tuple[Timing, Timing]:
    """Median of ``repeat`` runs per side, the sides alternating so both see the same load."""
    data = data_root / f"penguins-{n}"
    if not data.exists():
        say(f"generating {n:,} rows -> {data}")
        gen_data.write(n, data)
    ours, theirs = [], []
    for i in range(repeat):
        with tempfile.TemporaryDirectory() as work:
            say(f"N={n:,} run {i + 1}/{repeat}: runner ...")
            ours.append(time_runner(data, Path(work), extra))
            say(f"  {ours[-1].seconds:.1f} s; plain ...")
            theirs.append(time_plain(data, Path(work)))
            say(f"  {theirs[-1].seconds:.1f} s {theirs[-1].phases}")
    return _median(ours), _median(theirs)


def _median(timings: list[Timing]) -> Timing:
    ordered = sorted(timings, key=lambda t: t.seconds)
    return ordered[len(ordered) // 2] if len(ordered) % 2 else Timing(
        statistics.median(t.seconds for t in timings), ordered[0].accuracy, ordered[0].phases)


def table(rows: list[tuple[int, Timing, Timing]]) -> str:
    lines = [f"{'N':>12}{'runner s':>10}{'plain s':>10}{'overhead':>10}{'rows/s':>12}"
             f"{'plain fit s':>13}{'acc runner':>12}{'acc plain':>11}"]
    for n, ours, theirs in rows:
        overhead = (ours.seconds - theirs.seconds) / theirs.seconds * 100
        lines.append(f"{n:>12,}{ours.seconds:>10.1f}{theirs.seconds:>10.1f}{overhead:>9.1f}%"
                     f"{n / ours.seconds:>12,.0f}{theirs.phases['fit']:>13.1f}"
                     f"{ours.accuracy:>12.4f}{theirs.accuracy:>11.4f}")
    return "\n".join(lines)


def phases(rows: list[tuple[int, Timing, Timing]]) -> str:
    """Where each side's time went, from runner's progress lines and the plain script's own."""
    def fmt(timing: Timing) -> str:
        return ", ".join(f"{k} {v:.1f}" for k, v in timing.phases.items())

    return "\n".join(f"N={n:,}\n  runner: {fmt(ours)}\n  plain:  {fmt(theirs)}"
                     for n, ours, theirs in rows)


def write_csv(n: int, data_root: Path) -> Path:
    """``n`` penguin-like rows as one CSV file, written once and kept."""
    path = data_root / f"penguins-{n}.csv"
    if path.exists():
        return path
    say(f"generating {n:,} rows -> {path}")
    data_root.mkdir(parents=True, exist_ok=True)
    species, missing = gen_data.fit(gen_data.real_penguins())
    partial = path.with_suffix(".partial")
    for index, start in enumerate(range(0, n, gen_data.CHUNK)):
        frame = gen_data.chunk(min(gen_data.CHUNK, n - start), species, missing,
                               gen_data.np.random.default_rng([42, index]))
        frame.to_csv(partial, mode="a" if index else "w", header=not index, index=False)
    partial.rename(path)
    return path


def inference(sizes: list[int], data_root: Path, profile: bool) -> str:
    """Seconds of schema inference (and reading, profiling, split) per N, a process each."""
    lines = [f"{'N':>12}{'CSV MB':>8}{'pandas import':>15}{'inference':>11}"
             f"{'read, profile, split':>22}"]
    for n in sizes:
        path = write_csv(n, data_root)
        mode = "profile" if profile and n <= 1_000_000 else "infer"
        _, out = _run([sys.executable, "-c", INFER, str(path), mode], data_root)
        got = json.loads(next(line for line in reversed(out.splitlines()) if line.startswith("{")))
        spark_s = f"{got['read, profile, split']:>22.2f}" if "rows" in got else f"{'-':>22}"
        lines.append(f"{n:>12,}{path.stat().st_size / 2**20:>8.0f}{got['pandas import']:>15.2f}"
                     f"{got['inference']:>11.2f}{spark_s}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e5,1e6", help="comma-separated N (1e7 allowed)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per side and N (median)")
    parser.add_argument("--data-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "runner-scale-data",
                        help="generated Parquet is kept here and reused")
    parser.add_argument("--runner-override", action="append", default=[], metavar="KEY=VALUE",
                        help="extra override for runner, e.g. the JIT: "
                             "'++spark.conf={spark.driver.extraJavaOptions: \"\"}'")
    parser.add_argument("--inference", metavar="SIZES",
                        help="time schema inference and profiling on CSVs of these sizes instead")
    parser.add_argument("--no-profile", action="store_true",
                        help="with --inference: the inference alone (no JVM)")
    args = parser.parse_args()
    if args.inference:
        sizes = [int(float(s)) for s in args.inference.split(",")]
        print(f"Before the first fit, on a CSV of N rows, {os.cpu_count()} cores (seconds; "
              "read, profile, split up to 1e6 rows)")
        print(inference(sizes, args.data_dir, not args.no_profile))
        return
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    rows = [(n, *measure(n, args.data_dir, args.repeat, args.runner_override)) for n in sizes]
    print(f"Training time, runner vs a plain PySpark script, local[*] on {os.cpu_count()} cores"
          + (f"; runner {' '.join(args.runner_override)}" if args.runner_override else ""))
    print(table(rows))
    print(phases(rows))


if __name__ == "__main__":
    main()
