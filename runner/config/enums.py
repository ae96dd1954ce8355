"""The closed choices of runner's config: each an Enum, so Hydra refuses any other value when it
composes the config (``data.missing=sometimes``), naming the key and the allowed values."""

from __future__ import annotations

from enum import Enum
from typing import Any


class MissingPolicy(str, Enum):
    """What to do with rows that have missing values in feature columns."""

    drop = "drop"
    impute = "impute"


class Metric(str, Enum):
    """Metrics named as Spark's evaluators: MulticlassClassificationEvaluator's (from the
    confusion matrix; the ``ByLabel`` ones for data.positive_class, and logLoss from the class
    probabilities) and BinaryClassificationEvaluator's areas (two-class data only)."""

    accuracy = "accuracy"
    f1 = "f1"
    weightedPrecision = "weightedPrecision"  # noqa: N815 - Spark's metric names
    weightedRecall = "weightedRecall"  # noqa: N815
    weightedTruePositiveRate = "weightedTruePositiveRate"  # noqa: N815
    weightedFalsePositiveRate = "weightedFalsePositiveRate"  # noqa: N815
    weightedFMeasure = "weightedFMeasure"  # noqa: N815
    hammingLoss = "hammingLoss"  # noqa: N815
    logLoss = "logLoss"  # noqa: N815
    precisionByLabel = "precisionByLabel"  # noqa: N815
    recallByLabel = "recallByLabel"  # noqa: N815
    fMeasureByLabel = "fMeasureByLabel"  # noqa: N815
    areaUnderROC = "areaUnderROC"  # noqa: N815
    areaUnderPR = "areaUnderPR"  # noqa: N815


# logged on two-class data by default (evaluation.binary_metrics); logLoss only for models with
# class probabilities
BINARY_METRICS = ("areaUnderROC", "areaUnderPR", "logLoss", "precisionByLabel", "recallByLabel",
                  "fMeasureByLabel")


class LabelOrder(str, Enum):
    """How a label that is not class indices is indexed: Spark StringIndexer's stringOrderType."""

    frequencyDesc = "frequencyDesc"  # noqa: N815 - Spark's names
    frequencyAsc = "frequencyAsc"  # noqa: N815
    alphabetDesc = "alphabetDesc"  # noqa: N815
    alphabetAsc = "alphabetAsc"  # noqa: N815


class LogModels(str, Enum):
    """Which runs log (and register) their fitted model."""

    best = "best"  # a single run is its own best; in a sweep only the best trial
    all = "all"
    none = "none"


class SaveMode(str, Enum):
    """Spark's save modes for ``runner predict``'s output."""

    errorifexists = "errorifexists"
    overwrite = "overwrite"
    append = "append"
    ignore = "ignore"


def value_of(member: Any) -> str:
    """The config text of an Enum member (``Metric.f1`` -> ``f1``); any other value as text."""
    return str(member.value) if isinstance(member, Enum) else str(member)
