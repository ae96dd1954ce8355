"""Selection: runner's Optuna sweep with k-fold CV beside Spark's CrossValidator, same folds.

Data: --rows penguin-like rows (benchmarks/gen_data.py, seeded, Parquet), split 70/30 by
data.split.seed; both sides cross-validate the same training split on the same folds (runner's
stratified fold column, given to CrossValidator as its foldCol) with the lab pipeline
(StringIndexer, VectorAssembler, MinMaxScaler, LogisticRegression).

- runner: `runner -m hydra/sweeper=optuna hydra.sweeper.n_trials=T` over regParam, maxIter and
  elasticNetParam, evaluation.cv.folds=k, tracking.log_models=none (the winner is still refit and
  tested), in a fresh process: JVM start, MLflow store and the refit included. --prune adds
  hydra/sweeper/pruner=median (the pruner config group of the sweep branch).
- Spark: `CrossValidator(estimator=<the same pipeline>, estimatorParamMaps=ParamGridBuilder
  over the same three params, parallelism=2, foldCol=...)`, in a fresh process: JVM start,
  reading and splitting the data and its final refit included.

Printed side by side: best mean CV accuracy, wall seconds, fold fits (runner's pruned trials fit
fewer folds: the fits saved).

    python benchmarks/selection.py [--rows 50000] [--trials 12] [--folds 3] [--prune]
"""

# ruff: noqa: T201 - a benchmark's output is what it prints
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

GRID = {"regParam": [0.001, 0.01, 0.1], "maxIter": [10, 30, 50], "elasticNetParam": [0.0, 0.5]}
SPACE = ["model.regParam=tag(log,interval(0.001,0.1))", "model.maxIter=range(10,50)",
         "model.elasticNetParam=choice(0.0,0.5)"]
MASTER = "spark.master='local[2]'"

CROSS_VALIDATOR = textwrap.dedent(
    """
    import json, sys, time
    start = time.perf_counter()
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
    from runner import spark as spark_mod
    from runner.context import RunContext
    from runner.data import dataset as data_mod
    from runner.data.spec import for_task
    from runner.pipeline import build_pipeline, cv, with_class_names
    from hydra import compose, initialize_config_module
    from runner.config.schemas import register_configs

    path, folds, grid = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    register_configs()
    with initialize_config_module(config_module="runner.conf", version_base="1.3"):
        cfg = compose(config_name="config",
                      overrides=["spark.master='local[2]'", f"data.path={path}"])
    session = spark_mod.get_session(cfg.spark)
    context = RunContext()
    spec = for_task(cfg.data, context)
    dataset = data_mod.load(session, spec, context)
    spec = with_class_names(spec, dataset)
    pipeline, _ = build_pipeline(cfg, spec, dataset, context)
    frame = cv.assign(dataset.train, spec.label, spec.split.seed, folds).cache()
    frame.count()
    lr = pipeline.getStages()[-1]
    builder = ParamGridBuilder()
    for name, values in grid.items():
        builder = builder.addGrid(lr.getParam(name), values)
    maps = builder.build()
    evaluator = MulticlassClassificationEvaluator(labelCol=spec.label,
                                                  metricName="accuracy")
    model = CrossValidator(estimator=pipeline, estimatorParamMaps=maps, evaluator=evaluator,
                           numFolds=folds, foldCol=cv.FOLD_COL, parallelism=2).fit(frame)
    print(json.dumps({"best": max(model.avgMetrics), "fits": folds * len(maps) + 1,
                      "maps": len(maps), "seconds": time.perf_counter() - start}))
    """
)


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}


def spark_cross_validator(data: Path, folds: int, root: Path) -> dict[str, float]:
    import json

    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CROSS_VALIDATOR, str(data), str(folds),
                           json.dumps(GRID)], cwd=root, env=_env(root), capture_output=True,
                          text=True, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    found["wall"] = time.perf_counter() - started
    return found


def runner_sweep(data: Path, trials: int, folds: int, prune: bool, root: Path
                 ) -> dict[str, float]:
    """Wall seconds of the whole sweep; the best val_accuracy and the fold fits, read back from
    its child runs (a pruned trial logged only the folds it fit)."""
    import mlflow

    cmd = [sys.executable, "-m", "runner.cli", "-m", "hydra/sweeper=optuna",
           f"hydra.sweeper.n_trials={trials}", "hydra.sweeper.sampler.seed=7",
           "hydra.sweeper.n_jobs=2", MASTER, f"data.path={data}",
           f"evaluation.cv.folds={folds}", "tracking.log_models=none",
           "evaluation.train_metrics=false", "evaluation.confusion_matrix=false", *SPACE,
           *(["hydra/sweeper/pruner=median"] if prune else [])]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, env=_env(root), capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"runner failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    mlflow.set_tracking_uri(_env(root)["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    trial_runs = [r for r in runs if "runner.sweep.trial" in r.data.tags]
    fits = sum(sum(k.startswith("val_accuracy_fold_") for k in r.data.metrics)
               for r in trial_runs)
    best = max(r.data.metrics.get("val_accuracy", 0.0) for r in trial_runs)
    return {"best": best, "fits": fits + 1, "trials": len(trial_runs), "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--prune", action="store_true", help="hydra/sweeper/pruner=median")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import gen_data

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = gen_data.write(args.rows, root / "data")
        (root / "cv").mkdir()
        (root / "runner").mkdir()
        theirs = spark_cross_validator(data, args.folds, root / "cv")
        ours = runner_sweep(data, args.trials, args.folds, args.prune, root / "runner")
    print(f"{args.rows} rows, {args.folds} folds, the same fold column on both sides")
    print(f"{'':28}{'best mean CV accuracy':>22}{'wall s':>9}{'fold fits':>11}")
    print(f"{'Spark CrossValidator':28}{theirs['best']:>22.4f}{theirs['wall']:>9.1f}"
          f"{int(theirs['fits']):>11}   ({int(theirs['maps'])} param maps, parallelism 2)")
    what = f"runner Optuna{' + median pruner' if args.prune else ''}"
    print(f"{what:28}{ours['best']:>22.4f}{ours['wall']:>9.1f}{int(ours['fits']):>11}   "
          f"({int(ours['trials'])} trials, incl. the refit)")
    print(f"runner's wall / CrossValidator's: {ours['wall'] / theirs['wall']:.2f}")


if __name__ == "__main__":
    main()
