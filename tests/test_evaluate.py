"""Metrics from one confusion matrix match Spark's MulticlassClassificationEvaluator."""

from __future__ import annotations

import pytest

from runner.pipeline import evaluate

ROWS = (
    [(0.0, 0.0)] * 40
    + [(0.0, 1.0)] * 3
    + [(1.0, 1.0)] * 25
    + [(1.0, 2.0)] * 2
    + [(2.0, 2.0)] * 12
    + [(2.0, 0.0)] * 4
    + [(1.0, 3.0)]
)  # 3.0 is predicted but never a label


@pytest.fixture(scope="module")
def predictions(spark):
    return spark.createDataFrame(ROWS, ["label", "prediction"])


@pytest.mark.parametrize("name", [m for m in evaluate.metrics({(0.0, 0.0): 1, (1.0, 1.0): 1})])
def test_metric_matches_spark(spark, predictions, name: str) -> None:
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator

    ours = evaluate.metrics(evaluate.confusion_counts(predictions, "label"))[name]
    spark_name = "weightedFMeasure" if name == "f1" else name
    # the ByLabel metrics are the positive class's: label 1 unless data.positive_class says
    theirs = MulticlassClassificationEvaluator(metricName=spark_name, metricLabel=1.0).evaluate(
        predictions)
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_confusion_figure_labels_classes() -> None:
    fig = evaluate.confusion_figure(
        {(0.0, 0.0): 3, (1.0, 0.0): 1, (1.0, 1.0): 2}, ["Adelie", "Gentoo"], "t"
    )
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["Adelie", "Gentoo"]


@pytest.mark.parametrize("overrides", [
    [],
    ["model=random_forest", "features=onehot_standard"],
    # 5 trees a class, not 20: the subject is the counting, and 3 x 20 trees took 24 s
    ["model=gbt", "model.maxIter=5", "features=quantile_onehot"],
    ["model=naive_bayes", "data.missing=impute"],
])
def test_driver_scoring_counts_what_spark_counts(spark, cfg_factory, overrides) -> None:
    """Small splits are scored by the compiled scorer on the driver: same counts as Spark."""
    from runner import data, train
    from runner.compiled import compile_pipeline
    from runner.context import RunContext
    from runner.pipeline import assemble, fitting

    cfg = cfg_factory(overrides)
    spec = data.DataSpec.resolve(cfg.data)
    dataset = data.load(spark, spec)
    pipeline, _ = train.build_pipeline(cfg, spec, dataset)
    model = pipeline.fit(dataset.train)
    splits = {"test": dataset.test, "train": dataset.train}
    names = ["accuracy", "f1", "hammingLoss"]
    on_spark = evaluate.evaluate_splits(model, splits, cfg.data.label, names)
    scorer = compile_pipeline(model, assemble.model_inputs(cfg, spec))
    columns = fitting.collected(RunContext(), splits, spec)
    on_driver = evaluate.evaluate_columns(scorer, columns, cfg.data.label, names)
    assert on_driver == on_spark


def test_local_max_rows_zero_scores_on_spark_with_the_same_metrics(cfg_factory) -> None:
    from runner import train

    common = ["model.maxIter=7", "tracking.log_models=none"]
    local = train.run(cfg_factory(common), [])
    on_spark = train.run(cfg_factory([*common, "evaluation.local_max_rows=0"]), [])
    assert local.metrics == on_spark.metrics
    assert local.train_metrics == on_spark.train_metrics


def test_curve_areas_match_spark_with_tied_scores(spark) -> None:
    """Tied scores share a curve point, and PR starts at the first point's precision (below 1
    here: the top score is tied between a positive and a negative), as Spark's curves do."""
    import numpy as np
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.linalg import Vectors

    scores = [0.9, 0.9, 0.9, 0.8, 0.7, 0.7, 0.3, 0.3, 0.1, -0.2]
    labels = [1, 0, 1, 1, 0, 1, 0, 0, 1, 0]
    frame = spark.createDataFrame(
        [(float(lab), Vectors.dense([-s, s])) for lab, s in zip(labels, scores, strict=True)],
        ["label", "rawPrediction"])
    ours = evaluate.curve_areas(np.array(scores), np.array(labels) == 1, np.ones(len(scores)))
    for name in ("areaUnderROC", "areaUnderPR"):
        theirs = BinaryClassificationEvaluator(metricName=name).evaluate(frame)
        assert ours[name] == pytest.approx(theirs, abs=1e-12), name
