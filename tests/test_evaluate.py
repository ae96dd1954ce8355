"""Metrics from one confusion matrix match Spark's MulticlassClassificationEvaluator."""

from __future__ import annotations

import pytest

from runner import evaluate

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
    theirs = MulticlassClassificationEvaluator(metricName=spark_name).evaluate(predictions)
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_confusion_figure_labels_classes() -> None:
    fig = evaluate.confusion_figure(
        {(0.0, 0.0): 3, (1.0, 0.0): 1, (1.0, 1.0): 2}, ["Adelie", "Gentoo"], "t"
    )
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["Adelie", "Gentoo"]
