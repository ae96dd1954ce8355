"""Validation folds of a training split, and fold figures summed up as CrossValidator does.

A sweep's trials are selected on rows the model was not fit on, never on the test split: k
stratified folds of the training split (each fold's rows are validation once, the other folds'
rows its training data), or one validation part of it (``data.split.validation``). Folds are a
column of the training split (``FOLD_COL``, what Spark's ``CrossValidator(foldCol=...)`` reads),
assigned once per task and kept in its RunContext, so every trial is scored on the same rows.

Assignment: within each class the rows are ordered by a seeded hash of their values (so the
folds depend on the data and seed only, not on partitioning), then dealt round-robin to the k
folds: every fold gets its class's share, give or take one row. The mean and spread of a fold
metric are numpy's mean and population std, as ``CrossValidatorModel.avgMetrics`` and
``stdMetrics`` are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from runner.data.schema import quoted
from runner.errors import RunnerError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

FOLD_COL = "runner_fold"  # Spark's foldCol: an integer in [0, k)
VALIDATION_PREFIX = "val_"  # logged validation figures: val_accuracy, never the test's accuracy


@dataclass(frozen=True)
class Folds:
    """The training split with ``FOLD_COL``; the folds scored: all k, or the one validation
    part (fold 0) of a validation split, whose other rows (fold 1) are its training data."""

    frame: DataFrame
    k: int
    scored: tuple[int, ...]
    sizes: dict[int, int]  # fold -> rows
    name: str  # e.g. "3-fold cross-validation": also what their fitted stages are keyed by

    def parts(self, fold: int) -> tuple[DataFrame, DataFrame]:
        """Fold ``fold``'s training rows and validation rows, as CrossValidator splits them."""
        from pyspark.sql import functions as F

        validation = F.col(FOLD_COL) == F.lit(fold)
        return self.frame.filter(~validation), self.frame.filter(validation)

    def train_rows(self, fold: int) -> int:
        return sum(n for f, n in self.sizes.items() if f != fold)


def class_counts(train: DataFrame, label: str) -> dict[Any, int]:
    """Rows per label value: one small Spark job."""
    from pyspark.sql import functions as F

    rows = train.groupBy(F.col(quoted(label))).count().collect()
    return {r[0]: int(r[1]) for r in rows}


def check_folds(k: int, counts: dict[Any, int]) -> None:
    """Every class needs a row in each fold's validation part (stratified k-fold)."""
    smallest = min(counts, key=lambda c: counts[c])
    if counts[smallest] < k:
        raise RunnerError(
            f"evaluation.cv.folds={k}: class {smallest!r} has {counts[smallest]} training rows, "
            f"fewer than the folds; use at most {counts[smallest]} folds or "
            "data.split.validation")


def check_validation(fraction: float, counts: dict[Any, int]) -> None:
    """A validation split with no row, or with every row, is refused."""
    held = sum(math.floor(n * fraction + 0.5) for n in counts.values())  # Spark's HALF_UP
    total = sum(counts.values())
    if held in (0, total):
        raise RunnerError(
            f"data.split.validation={fraction}: of {total} training rows it holds out {held}, "
            f"leaving {'the validation' if held == 0 else 'the training'} part empty")


def assign(train: DataFrame, label: str, seed: int, k: int, fraction: float = 0.0
           ) -> DataFrame:
    """``train`` with ``FOLD_COL``: k stratified folds, or with ``fraction`` > 0 a stratified
    validation part (fold 0, round(fraction * rows) of each class) and the rest (fold 1)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    key = F.xxhash64(F.lit(int(seed)), *[F.col(quoted(c)) for c in train.columns])
    by_class = Window.partitionBy(F.col(quoted(label)))
    rank = F.row_number().over(by_class.orderBy(key)) - 1
    if fraction > 0:
        held = F.round(F.count(F.lit(1)).over(by_class) * F.lit(fraction))
        fold = F.when(rank < held, F.lit(0)).otherwise(F.lit(1))
    else:
        fold = rank % F.lit(k)
    return train.withColumn(FOLD_COL, fold.cast("int"))


def figures(per_fold: list[dict[str, float]], folds: tuple[int, ...]) -> dict[str, float]:
    """``val_<metric>`` (the mean over the folds scored), and with several folds
    ``val_<metric>_std`` (population std, as stdMetrics) and ``val_<metric>_fold_<i>``."""
    found: dict[str, float] = {}
    for name in per_fold[0]:
        values = np.array([scores[name] for scores in per_fold], dtype=np.float64)
        found[VALIDATION_PREFIX + name] = float(np.mean(values))
        if len(per_fold) > 1:
            found[f"{VALIDATION_PREFIX}{name}_std"] = float(np.std(values))
            found.update(fold_figures(per_fold, folds, name))
    return found


def fold_figures(per_fold: list[dict[str, float]], folds: tuple[int, ...], name: str
                 ) -> dict[str, float]:
    """``val_<name>_fold_<i>`` of each fold scored so far."""
    return {f"{VALIDATION_PREFIX}{name}_fold_{f}": scores[name]
            for f, scores in zip(folds, per_fold, strict=False)}


def running_mean(per_fold: list[dict[str, float]], name: str) -> float:
    """The mean of ``name`` over the folds scored so far: what a pruner is told after each."""
    return float(np.mean([scores[name] for scores in per_fold]))
