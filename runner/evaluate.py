"""Classification metrics from one confusion matrix, with Spark's MulticlassMetrics formulas.

Spark's MulticlassClassificationEvaluator runs one job per metric; collecting the (label,
prediction) counts once and computing every metric in Python gives the same numbers for the cost
of a single small job. Small splits are counted with no job at all: ``evaluate_columns`` scores
them on the driver with the model's compiled scorer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from pyspark.sql import DataFrame

ConfusionCounts = dict[tuple[float, float], int]  # (label, prediction) -> rows


def confusion_counts(
    predictions: DataFrame, label: str, prediction: str = "prediction"
) -> ConfusionCounts:
    """Count rows per (label, prediction) pair with one Spark job."""
    rows = predictions.groupBy(label, prediction).count().collect()
    return {(float(r[0]), float(r[1])): int(r[2]) for r in rows}


def metrics(counts: ConfusionCounts) -> dict[str, float]:
    """Every metric MulticlassClassificationEvaluator offers for single-label classification."""
    total = sum(counts.values())
    label_count: dict[float, int] = {}
    pred_count: dict[float, int] = {}
    for (lab, pred), n in counts.items():
        label_count[lab] = label_count.get(lab, 0) + n
        pred_count[pred] = pred_count.get(pred, 0) + n
    tp = {lab: counts.get((lab, lab), 0) for lab in label_count}
    precision = {c: _ratio(tp[c], pred_count.get(c, 0)) for c in label_count}
    recall = {c: _ratio(tp[c], label_count[c]) for c in label_count}
    fpr = {c: _ratio(pred_count.get(c, 0) - tp[c], total - label_count[c]) for c in label_count}
    f1 = {c: _ratio(2 * precision[c] * recall[c], precision[c] + recall[c]) for c in label_count}
    weight = {c: label_count[c] / total for c in label_count}

    def weighted(values: dict[float, float]) -> float:
        return sum(values[c] * weight[c] for c in label_count)

    accuracy = sum(tp.values()) / total
    return {
        "accuracy": accuracy,
        "f1": weighted(f1),
        "weightedFMeasure": weighted(f1),
        "weightedPrecision": weighted(precision),
        "weightedRecall": weighted(recall),
        "weightedTruePositiveRate": weighted(recall),
        "weightedFalsePositiveRate": weighted(fpr),
        "hammingLoss": 1.0 - accuracy,
    }


def evaluate(
    model: Any, data: DataFrame, label: str, names: list[str]
) -> tuple[dict[str, float], ConfusionCounts]:
    """Transform ``data`` with the fitted model and return the requested metrics and counts."""
    counts = confusion_counts(model.transform(data), label)
    values = metrics(counts)
    return {name: values[name] for name in names}, counts


def evaluate_splits(
    model: Any, splits: dict[str, DataFrame], label: str, names: list[str]
) -> dict[str, tuple[dict[str, float], ConfusionCounts]]:
    """``evaluate`` for several splits with one transform and one Spark job: the rows are tagged
    with their split's name and counted together (a sweep trial pays one job, not one a split)."""
    from pyspark.sql import functions as F

    tagged = [df.withColumn("_split", F.lit(name)) for name, df in splits.items()]
    union = tagged[0]
    for frame in tagged[1:]:
        union = union.unionByName(frame)
    rows = model.transform(union).groupBy("_split", label, "prediction").count().collect()
    results = {}
    for name in splits:
        counts = {(float(r[1]), float(r[2])): int(r[3]) for r in rows if r[0] == name}
        values = metrics(counts)
        results[name] = ({m: values[m] for m in names}, counts)
    return results


def evaluate_columns(
    scorer: Any, splits: dict[str, dict[str, list[Any]]], label: str, names: list[str]
) -> dict[str, tuple[dict[str, float], ConfusionCounts]]:
    """``evaluate_splits`` on the driver: ``scorer`` (a compiled pipeline) on each split's
    columns, collected by name; rows the model skips (handleInvalid=skip) are not counted, as
    in Spark."""
    import numpy as np

    results = {}
    for name, columns in splits.items():
        out = scorer.predict_columns({c: v for c, v in columns.items() if c != label})
        labels = np.asarray(columns[label], dtype=np.float64)[out["kept"]]
        pairs, rows = np.unique(np.stack([labels, out["prediction"]], axis=1), axis=0,
                                return_counts=True)
        counts = {(float(lab), float(pred)): int(n)
                  for (lab, pred), n in zip(pairs, rows, strict=True)}
        values = metrics(counts)
        results[name] = ({m: values[m] for m in names}, counts)
    return results


def confusion_figure(counts: ConfusionCounts, class_names: list[str], title: str) -> Figure:
    """A labelled confusion-matrix heat map (rows: true class, columns: predicted)."""
    from matplotlib.figure import Figure

    classes = sorted({c for pair in counts for c in pair})
    names = [_class_name(c, class_names) for c in classes]
    grid = [[counts.get((t, p), 0) for p in classes] for t in classes]
    fig = Figure(figsize=(1.2 * len(classes) + 2, 1.2 * len(classes) + 1.5))
    ax = fig.add_subplot()
    ax.imshow(grid, cmap="Blues", interpolation="nearest")  # crisp cells, cheaper to draw
    ax.set(
        xticks=range(len(classes)),
        yticks=range(len(classes)),
        xticklabels=names,
        yticklabels=names,
        xlabel="predicted",
        ylabel="true",
        title=title,
    )
    for i, row in enumerate(grid):
        for j, n in enumerate(row):
            ax.text(j, i, str(n), ha="center", va="center")
    fig.tight_layout()
    return fig


def _class_name(index: float, class_names: list[str]) -> str:
    i = int(index)
    return class_names[i] if 0 <= i < len(class_names) else str(i)


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0
