"""Honest model selection (issue 21): a sweep's trials are scored on validation folds of the
training split, with Spark's CrossValidator's figures; the test split is touched once, by the
refit winner. In-process, on the session's Spark and a real sqlite MLflow store."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest

from runner import tracking, train
from runner.console import Progress
from runner.context import RunContext
from runner.errors import RunnerError, TrialPruned
from runner.pipeline import cv
from runner.sweep import best as best_mod
from runner.sweep import trials
from runner.sweep.objectives import Goals
from runner.train import selection

QUIET = Progress(enabled=False)


def _prepared(cfg, context: RunContext) -> train.steps.Prepared:
    return train.prepare(cfg, context, QUIET)


@pytest.mark.parametrize("overrides", [
    ["model=logistic_regression", "evaluation.cv.folds=3"],
    # a tree, scored by Spark's transform instead of the compiled scorer
    ["model=decision_tree", "model.maxDepth=3", "evaluation.cv.folds=3",
     "evaluation.local_max_rows=0"],
])
def test_fold_metrics_equal_spark_cross_validators(spark, cfg_factory, overrides) -> None:
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

    cfg = cfg_factory([*overrides, "evaluation.train_metrics=false"])
    context = RunContext()
    prepared = _prepared(cfg, context)
    folds = selection.folds(prepared, context)
    assert folds.scored == tuple(range(folds.k))
    assert sum(folds.sizes.values()) == prepared.dataset.train_rows
    ours = [selection.score_fold(prepared, context, folds, f)[0] for f in folds.scored]
    label = cfg.data.label
    evaluators = {name: MulticlassClassificationEvaluator(labelCol=label, metricName=name)
                  for name in ("accuracy", "f1")}
    spark_cv = CrossValidator(estimator=prepared.pipeline, evaluator=evaluators["accuracy"],
                              estimatorParamMaps=ParamGridBuilder().build(), numFolds=folds.k,
                              foldCol=cv.FOLD_COL, collectSubModels=True).fit(folds.frame)
    for fold, scores in zip(folds.scored, ours, strict=True):
        predictions = spark_cv.subModels[fold][0].transform(folds.parts(fold)[1])
        for name, evaluator in evaluators.items():  # Spark's fold model, Spark's evaluator
            assert scores[name] == pytest.approx(evaluator.evaluate(predictions), abs=1e-9)
    figures = cv.figures(ours, folds.scored)
    assert figures["val_accuracy"] == pytest.approx(spark_cv.avgMetrics[0], abs=1e-9)
    assert figures["val_accuracy_std"] == pytest.approx(spark_cv.stdMetrics[0], abs=1e-9)


def test_folds_are_stratified_seeded_and_built_once(spark, cfg_factory) -> None:
    context = RunContext()
    prepared = _prepared(cfg_factory(), context)
    folds = selection.folds(prepared, context)
    assert selection.folds(prepared, context) is folds  # the next trial's: the same rows
    rows = folds.frame.groupBy(cv.FOLD_COL, prepared.cfg.data.label).count().collect()
    per_class: dict[int, list[int]] = {}
    for r in rows:
        per_class.setdefault(r[1], []).append(r[2])
    assert all(max(n) - min(n) <= 1 for n in per_class.values())  # each class dealt evenly
    again = _prepared(cfg_factory(), RunContext())
    rebuilt = selection.folds(again, RunContext())
    assert rebuilt.sizes == folds.sizes  # same data and seed: same folds in a new process
    other = _prepared(cfg_factory(["data.split.seed=7"]), RunContext())
    assert sorted(selection.folds(other, RunContext()).frame.collect()) != sorted(
        folds.frame.collect())


def _parent(cfg) -> str:
    tracking.configure(cfg.tracking)
    return tracking.start_parent(tracking.experiment_id(cfg.tracking.experiment_name),
                                 "grid-sweep", {})


def test_trial_is_scored_on_folds_reports_each_and_touches_no_test_split(
        spark, cfg_factory) -> None:
    cfg = cfg_factory(["tracking.log_models=none"])
    parent = _parent(cfg)
    context, jobs = RunContext(), trials.JobGroups()
    goals = Goals.of(cfg.evaluation, "optuna")
    assert goals.primary == "val_accuracy"
    told: list[tuple[int, float]] = []

    def prune_after_two(step: int, value: float) -> None:
        told.append((step, value))
        if step == 1:
            raise TrialPruned(f"pruned at step {step}")

    with pytest.raises(TrialPruned):
        trials.run(cfg_factory(["model.regParam=0.3"]), [], 0, parent, [], "optuna", goals,
                   context, jobs, prune_after_two)
    pruned = tracking.child_runs(tracking.experiment_id(cfg.tracking.experiment_name), parent)[0]
    folds_done = [pruned.metrics[f"val_accuracy_fold_{i}"] for i in (0, 1)]
    assert told == [(0, folds_done[0]), (1, float(np.mean(folds_done)))]
    assert not {"val_accuracy_fold_2", "val_accuracy"} & set(pruned.metrics)

    done = trials.run(cfg, [], 1, parent, [], "optuna", goals, context, jobs,
                      lambda step, value: None)
    metrics = mlflow.get_run(done.result.run_id).data.metrics
    per_fold = [metrics[f"val_accuracy_fold_{i}"] for i in range(3)]
    assert done.result.value == metrics["val_accuracy"] == pytest.approx(np.mean(per_fold))
    assert metrics["val_accuracy_std"] == pytest.approx(np.std(per_fold))
    assert {"val_f1", "train_accuracy", "train_seconds"} <= set(metrics)
    assert not {"accuracy", "f1", "weightedRecall"} & set(metrics)  # no test figure
    assert len(context.folds) == 1


def test_refused_before_a_trial_runs_in_one_line(spark, cfg_factory) -> None:
    from runner.config.checks import check

    for overrides, message in [
        (["evaluation.cv.folds=1"], "evaluation.cv.folds=1 is out of range"),
        (["data.split.validation=1.0"], "data.split.validation=1.0 is out of range"),
    ]:
        with pytest.raises(RunnerError, match=message):
            check(cfg_factory(overrides))
    for overrides, message in [
        (["evaluation.cv.folds=60"], r"evaluation.cv.folds=60: class 2 has \d+ training rows, "
                                     "fewer than the folds"),
        (["data.split.validation=0.001"], r"data.split.validation=0.001: of \d+ training rows "
                                          "it holds out 0, leaving the validation part empty"),
    ]:
        context = RunContext()
        with pytest.raises(RunnerError, match=message) as error:
            selection.folds(_prepared(cfg_factory(overrides), context), context)
        assert "\n" not in str(error.value)


@pytest.fixture(scope="module")
def holdouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Penguins as a training file and a test file, and the test file with shuffled labels."""
    from importlib.resources import files

    import pandas as pd

    root = tmp_path_factory.mktemp("holdout")
    data = pd.read_csv(files("runner.resources").joinpath("penguins.csv"))
    test = data.sample(frac=0.3, random_state=1)
    paths = {name: str(root / f"{name}.csv") for name in ("train", "test", "shuffled")}
    data.drop(test.index).to_csv(paths["train"], index=False)
    test.to_csv(paths["test"], index=False)
    shuffled = test.assign(Species=test["Species"].sample(frac=1, random_state=2).to_numpy())
    shuffled.to_csv(paths["shuffled"], index=False)
    test.drop(columns=["Island"]).to_csv(root / "narrow.csv", index=False)
    paths["narrow"] = str(root / "narrow.csv")
    return paths


def test_test_file_labels_change_no_trial_value_nor_the_winner_only_the_test_figure(
        spark, cfg_factory, holdouts) -> None:
    outcomes = {}
    for name in ("test", "shuffled"):
        common = [f"data.path={holdouts['train']}", f"data.test_path={holdouts[name]}",
                  f"tracking.experiment_name=holdout-{name}", "evaluation.train_metrics=false",
                  "data.split.validation=0.3",  # one fit a trial: a validation split
                  f"tracking.registered_model_name=holdout-{name}"]
        cfg = cfg_factory(common)
        parent, context = _parent(cfg), RunContext()
        goals = Goals.of(cfg.evaluation, "grid")
        values = [trials.run(cfg_factory([*common, f"model.regParam={r}"]), [], number, parent,
                             [], "grid", goals, context, trials.JobGroups()).result.value
                  for number, r in enumerate((0.01, 0.5))]
        children = tracking.child_runs(tracking.experiment_id(f"holdout-{name}"), parent)
        chosen = best_mod.best_child(children, goals, set(), None)
        assert chosen is not None
        best_mod.log_best_model(chosen, None, context, goals.primary)
        version = mlflow.MlflowClient().get_model_version_by_alias(f"holdout-{name}",
                                                                     "champion")
        outcomes[name] = (values, chosen.tags["runner.sweep.trial"],
                          mlflow.get_run(version.run_id).data.metrics["accuracy"])
    assert outcomes["test"][:2] == outcomes["shuffled"][:2]  # identical values, same winner
    assert outcomes["test"][2] != outcomes["shuffled"][2]  # the refit's test figure


def test_a_test_file_with_other_columns_is_refused_before_the_jvm(cfg_factory, holdouts) -> None:
    from runner.data import DataSpec, holdout

    cfg = cfg_factory([f"data.path={holdouts['train']}", f"data.test_path={holdouts['narrow']}"])
    with pytest.raises(RunnerError, match=r"data.test_path: .*narrow.csv has other columns "
                                          r"than data.path .*: missing \['Island'\], extra \[\]"):
        holdout.check_config(DataSpec.resolve(cfg.data))
