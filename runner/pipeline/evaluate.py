"""Classification metrics with Spark's formulas, from one small job or none.

Spark's evaluators run one job per metric; collecting the (label, prediction) counts once and
computing every metric in Python gives the same numbers for the cost of a single small job. The
confusion-matrix metrics follow MulticlassMetrics, logLoss its ``logLoss`` (eps 1e-15), the
areas BinaryClassificationMetrics with the score rawPrediction[positive] that
BinaryClassificationEvaluator reads (exact curves: the evaluator's numBins=0, which its default
1000 bins equals while a split has fewer than 2000 distinct scores). Small splits are scored with
no job at all: ``evaluate_columns`` scores them on the driver with the model's compiled scorer.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from pyspark.sql import DataFrame

ConfusionCounts = dict[tuple[float, float], int]  # (label, prediction) -> rows
CURVE_METRICS = frozenset({"areaUnderROC", "areaUnderPR"})  # two classes only
PROBABILITY_METRICS = frozenset({"logLoss"})  # models with class probabilities only
EPS = 1e-15  # Spark's logLoss clipping


def confusion_counts(
    predictions: DataFrame, label: str, prediction: str = "prediction"
) -> ConfusionCounts:
    """Count rows per (label, prediction) pair with one Spark job."""
    rows = predictions.groupBy(label, prediction).count().collect()
    return {(float(r[0]), float(r[1])): int(r[2]) for r in rows}


def metrics(counts: ConfusionCounts, positive: float = 1.0) -> dict[str, float]:
    """Every confusion-matrix metric of MulticlassClassificationEvaluator for single-label
    classification; the ``ByLabel`` ones for class ``positive`` (its metricLabel)."""
    total = sum(counts.values())
    label_count: dict[float, int] = {}
    pred_count: dict[float, int] = {}
    for (lab, pred), n in counts.items():
        label_count[lab] = label_count.get(lab, 0) + n
        pred_count[pred] = pred_count.get(pred, 0) + n
    classes = set(label_count) | {positive}
    tp = {lab: counts.get((lab, lab), 0) for lab in classes}
    precision = {c: _ratio(tp[c], pred_count.get(c, 0)) for c in classes}
    recall = {c: _ratio(tp[c], label_count.get(c, 0)) for c in classes}
    fpr = {c: _ratio(pred_count.get(c, 0) - tp[c], total - label_count[c]) for c in label_count}
    f1 = {c: _ratio(2 * precision[c] * recall[c], precision[c] + recall[c]) for c in classes}
    weight = {c: label_count[c] / total for c in label_count}

    def weighted(values: dict[float, float]) -> float:
        return sum(values[c] * weight[c] for c in label_count)

    accuracy = sum(tp[c] for c in label_count) / total
    return {
        "accuracy": accuracy,
        "f1": weighted(f1),
        "weightedFMeasure": weighted(f1),
        "weightedPrecision": weighted(precision),
        "weightedRecall": weighted(recall),
        "weightedTruePositiveRate": weighted(recall),
        "weightedFalsePositiveRate": weighted(fpr),
        "hammingLoss": 1.0 - accuracy,
        "precisionByLabel": precision[positive],
        "recallByLabel": recall[positive],
        "fMeasureByLabel": f1[positive],
    }


def curve_areas(scores: np.ndarray, positives: np.ndarray, weights: np.ndarray
                ) -> dict[str, float]:
    """areaUnderROC and areaUnderPR as BinaryClassificationMetrics computes them (numBins=0).

    One curve point per distinct score, scores descending, each point counting every row
    scored at least that high; ROC gets (0, 0) and (1, 1) added, PR gets (0, precision of its
    first point) first (not (0, 1): with tied top scores that precision is below 1); areas by the
    trapezoid rule. Rows with the same score share one point, as in Spark.
    """
    order = np.argsort(-scores, kind="stable")
    s, pos, w = scores[order], positives[order].astype(bool), weights[order].astype(np.float64)
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    tp = np.cumsum(np.add.reduceat(np.where(pos, w, 0.0), starts))
    fp = np.cumsum(np.add.reduceat(np.where(pos, 0.0, w), starts))
    n_pos, n_neg = tp[-1], fp[-1]
    tpr = tp / n_pos if n_pos else np.zeros_like(tp)
    fpr = fp / n_neg if n_neg else np.zeros_like(fp)
    precision = tp / (tp + fp)  # every point counts at least one row
    return {"areaUnderROC": _trapezoids(np.r_[0.0, fpr, 1.0], np.r_[0.0, tpr, 1.0]),
            "areaUnderPR": _trapezoids(np.r_[0.0, tpr], np.r_[precision[0], precision])}


def _trapezoids(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


def log_losses(p_true: np.ndarray) -> np.ndarray:
    """Each row's loss -log(p) of its true class's probability, clipped as Spark clips it."""
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = -np.log(p_true)
    loss = np.where(p_true < EPS, -math.log(EPS), loss)
    return np.where(p_true > 1 - EPS, -math.log1p(-EPS), loss)


def split_metrics(labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray,
                  names: list[str], positive: float = 1.0, scores: np.ndarray | None = None,
                  losses: np.ndarray | None = None) -> tuple[dict[str, float], ConfusionCounts]:
    """The metrics ``names`` and the confusion counts of one split from per-row (or per-group:
    ``weights`` rows each, ``losses`` summed over them) labels, predictions, scores and losses."""
    pairs, inverse = np.unique(np.stack([labels, predictions], axis=1), axis=0,
                               return_inverse=True)
    sums = np.bincount(inverse.reshape(-1), weights=weights, minlength=len(pairs))
    counts = {(float(lab), float(pred)): int(n) for (lab, pred), n in zip(pairs, sums,
                                                                          strict=True)}
    values = metrics(counts, positive)
    if scores is not None and CURVE_METRICS & set(names):
        values.update(curve_areas(scores, labels == positive, weights))
    if losses is not None and "logLoss" in names:
        values["logLoss"] = float(np.sum(losses) / np.sum(weights))
    return {name: values[name] for name in names}, counts


def evaluate(
    model: Any, data: DataFrame, label: str, names: list[str], positive: float = 1.0
) -> tuple[dict[str, float], ConfusionCounts]:
    """Transform ``data`` with the fitted model and return the requested metrics and counts."""
    return evaluate_splits(model, {"data": data}, label, names, positive)["data"]


def evaluate_splits(
    model: Any, splits: dict[str, DataFrame], label: str, names: list[str],
    positive: float = 1.0,
) -> dict[str, tuple[dict[str, float], ConfusionCounts]]:
    """``evaluate`` for several splits with one transform and one Spark job: the rows are tagged
    with their split's name and grouped together (a sweep trial pays one job, not one a split),
    by score too when an area is asked for (one group per distinct score, as Spark's curves),
    summing the log losses when logLoss is."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    tagged = [df.withColumn("_split", F.lit(name)) for name, df in splits.items()]
    union = tagged[0]
    for frame in tagged[1:]:
        union = union.unionByName(frame)
    scored = model.transform(union)
    keys = [F.col("_split"), F.col(label).cast("double"), F.col("prediction")]
    if CURVE_METRICS & set(names):
        raw = vector_to_array(F.col(model.getRawPredictionCol()))
        keys.append(F.get(raw, int(positive)).alias("_score"))
    aggs = [F.count(F.lit(1)).alias("_n")]
    if "logLoss" in names:
        p = F.get(vector_to_array(F.col(model.getProbabilityCol())), F.col(label).cast("int"))
        loss = (F.when(p < EPS, -math.log(EPS)).when(p > 1 - EPS, -math.log1p(-EPS))
                .otherwise(-F.log(p)))
        aggs.append(F.sum(loss).alias("_loss"))
    rows = scored.groupBy(*keys).agg(*aggs).collect()
    results = {}
    for name in splits:
        mine = np.array([list(r)[1:] for r in rows if r[0] == name], dtype=np.float64)
        mine = mine.reshape(-1, len(keys) - 1 + len(aggs))  # a split with no rows left
        scores = mine[:, 2] if len(keys) > 3 else None
        losses = mine[:, -1] if len(aggs) > 1 else None
        results[name] = split_metrics(mine[:, 0], mine[:, 1], mine[:, len(keys) - 1], names,
                                      positive, scores, losses)
    return results


def evaluate_columns(
    scorer: Any, splits: dict[str, dict[str, list[Any]]], label: str, names: list[str],
    positive: float = 1.0, label_values: list[Any] | None = None,
) -> dict[str, tuple[dict[str, float], ConfusionCounts]]:
    """``evaluate_splits`` on the driver: ``scorer`` (a compiled pipeline) on each split's
    columns, collected by name; rows the model skips (handleInvalid=skip) are not counted, as
    in Spark. ``label_values``: the label's values in class-index order when the pipeline
    indexes the label (the compiled scorer skips that stage, as Spark does without the label)."""
    index = {v: float(i) for i, v in enumerate(label_values or [])}
    results = {}
    for name, columns in splits.items():
        out = scorer.predict_columns({c: v for c, v in columns.items() if c != label})
        given = [index[v] for v in columns[label]] if index else columns[label]
        labels = np.asarray(given, dtype=np.float64)[out["kept"]]
        scores = losses = None
        if CURVE_METRICS & set(names):
            scores = out["rawPrediction"][:, int(positive)]
        if "logLoss" in names:
            rows = np.arange(len(labels))
            losses = log_losses(out["probability"][rows, labels.astype(np.int64)])
        results[name] = split_metrics(labels, out["prediction"], np.ones(len(labels)), names,
                                      positive, scores, losses)
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
