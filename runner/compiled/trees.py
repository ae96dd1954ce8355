"""Compiled tree models: every tree of an ensemble walked at once, one level per numpy step.

Split rules follow org.apache.spark.ml.tree.{ContinuousSplit, CategoricalSplit}; the ensemble
formulas follow the classification models named in each class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .classifiers import ProbabilisticClassifier, margins_to_raw, sigmoid
from .frame import register, rowwise_product


@dataclass
class Forest:
    """The nodes of one or more trees in flat arrays; a leaf points to itself on both sides.

    ``left_categories`` is non-empty only for categorical splits. ``leaf_values`` holds each
    node's impurity stats (classification trees) or its prediction (regression trees, one column).
    """

    roots: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    num_categories: np.ndarray
    left_categories: list[list[float]]
    leaf_values: np.ndarray
    depth: int

    def __post_init__(self) -> None:
        for name in ("roots", "feature", "left", "right", "num_categories"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.int64))
        self.threshold = np.asarray(self.threshold, dtype=np.float64)
        self.leaf_values = np.asarray(self.leaf_values, dtype=np.float64)
        width = int(self.num_categories.max(initial=0))
        self._categorical = self.num_categories > 0
        self._goes_left = np.zeros((len(self.feature), max(width, 1)), dtype=bool)
        for node, cats in enumerate(self.left_categories):
            self._goes_left[node, np.asarray(cats, dtype=np.int64)] = True
        # CategoricalSplit keeps the smaller side: the left set when it holds at most
        # numCategories / 2 (integer division); a value in neither set goes to the other side.
        left_sizes = np.array([len(c) for c in self.left_categories])
        self._unknown_left = left_sizes > self.num_categories // 2

    def to_dict(self) -> dict:
        return {k: v.tolist() if isinstance(v, np.ndarray) else v
                for k, v in vars(self).items() if not k.startswith("_")}

    def leaves(self, x: np.ndarray) -> np.ndarray:
        """(rows, trees) index of the leaf each row reaches in each tree."""
        node = np.broadcast_to(self.roots, (len(x), len(self.roots))).copy()
        rows = np.arange(len(x))[:, None]
        for _ in range(self.depth):
            value = x[rows, self.feature[node]]
            go_left = value <= self.threshold[node]  # ContinuousSplit; NaN goes right
            if self._categorical.any():
                go_left = np.where(self._categorical[node], self._categorical_left(node, value),
                                   go_left)
            node = np.where(go_left, self.left[node], self.right[node])
        return node

    def _categorical_left(self, node: np.ndarray, value: np.ndarray) -> np.ndarray:
        known = (value >= 0) & (value < self.num_categories[node]) & (value == np.floor(value))
        category = np.where(known, value, 0).astype(np.int64)
        return np.where(known, self._goes_left[node, category], self._unknown_left[node])


def _normalized(counts: np.ndarray) -> np.ndarray:
    """ProbabilisticClassificationModel.normalizeToProbabilitiesInPlace: a zero sum stays zero."""
    total = counts.sum(axis=1, keepdims=True)
    return counts / np.where(total == 0, 1.0, total)


@dataclass
class TreeClassifier(ProbabilisticClassifier):
    forest: Forest

    def prepare(self) -> None:
        if not isinstance(self.forest, Forest):
            self.forest = Forest(**self.forest)

    def probability(self, raw: np.ndarray) -> np.ndarray:
        return _normalized(raw)


@register
@dataclass
class DecisionTree(TreeClassifier):
    """DecisionTreeClassificationModel: raw = the leaf's class counts."""

    kind = "DecisionTree"

    def raw(self, x: np.ndarray) -> np.ndarray:
        return self.forest.leaf_values[self.forest.leaves(x)[:, 0]]


@register
@dataclass
class RandomForest(TreeClassifier):
    """RandomForestClassificationModel: raw = sum over trees of each leaf's normalised counts."""

    kind = "RandomForest"

    def raw(self, x: np.ndarray) -> np.ndarray:
        leaves = self.forest.leaves(x)
        votes = np.zeros((len(x), self.forest.leaf_values.shape[1]))
        for tree in range(leaves.shape[1]):
            votes += _normalized(self.forest.leaf_values[leaves[:, tree]])
        return votes


@register
@dataclass
class GradientBoostedTrees(TreeClassifier):
    """GBTClassificationModel: m = sum(weight * tree prediction), raw [-m, m], and LogLoss's
    probability 1 / (1 + exp(-2 margin)) for class 0's margin -m, class 1 taking the rest."""

    tree_weights: np.ndarray
    kind = "GradientBoostedTrees"

    def raw(self, x: np.ndarray) -> np.ndarray:
        predictions = self.forest.leaf_values[self.forest.leaves(x), 0]
        return margins_to_raw(rowwise_product(predictions, self.tree_weights))

    def probability(self, raw: np.ndarray) -> np.ndarray:
        p0 = sigmoid(2.0 * raw[:, 0])
        return np.column_stack([p0, 1.0 - p0])
