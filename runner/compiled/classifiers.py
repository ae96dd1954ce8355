"""Compiled classification models: rawPrediction, probability and prediction as Spark computes them.

Each formula cites the Spark class it follows (org.apache.spark.ml.classification.*).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .frame import (
    Column,
    Frame,
    ScoringError,
    Stage,
    register,
    rowwise_product,
    spark_argmax,
    stage_from_dict,
)


@dataclass
class Classifier(Stage):
    """Reads a features vector column and writes prediction, rawPrediction and probability."""

    features: str
    prediction_col: str
    raw_col: str
    probability_col: str

    def raw(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def probability(self, raw: np.ndarray) -> np.ndarray | None:
        """None for models without a probability column (LinearSVC, OneVsRest)."""
        return None

    def predict(self, raw: np.ndarray, probability: np.ndarray | None) -> np.ndarray:
        return spark_argmax(raw)

    def apply(self, frame: Frame) -> None:
        col = frame[self.features]
        if col.null is not None and col.null.any():
            frame.fail(self.features, col.null, np.full(len(col.null), None),
                       "classifier got a NULL features vector")
        raw = self.raw(col.values)
        probability = self.probability(raw)
        frame[self.prediction_col] = Column(self.predict(raw, probability))
        frame[self.raw_col] = Column(raw)
        if probability is not None and self.probability_col:
            frame[self.probability_col] = Column(probability)


@dataclass
class ProbabilisticClassifier(Classifier):
    """ProbabilisticClassificationModel: prediction = argmax(raw), or with ``thresholds`` set,
    argmax(probability / thresholds) where no class wins on NaN (probability2prediction)."""

    thresholds: list[float] | None

    def predict(self, raw: np.ndarray, probability: np.ndarray | None) -> np.ndarray:
        if self.thresholds is None or probability is None:
            return spark_argmax(raw)
        scaled = probability / np.asarray(self.thresholds)
        return np.argmax(np.where(np.isnan(scaled), -np.inf, scaled), axis=1).astype(np.float64)


def margins_to_raw(margin: np.ndarray) -> np.ndarray:
    """Binary models' rawPrediction [-m, m]."""
    return np.column_stack([-margin, margin])


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)); exp overflowing to inf gives 0, as in Java."""
    return 1.0 / (1.0 + np.exp(-x))


def softmax(raw: np.ndarray) -> np.ndarray:
    """Softmax after subtracting the row maximum (MLP's SoftmaxLayerModel)."""
    e = np.exp(raw - raw.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def spark_softmax(raw: np.ndarray) -> np.ndarray:
    """org.apache.spark.ml.impl.Utils.softmax, used by LogisticRegressionModel and NaiveBayesModel.

    The maximum ignores NaN. A row holding +inf is scaled by 0.0 (so every infinite or NaN value
    becomes NaN) and its first +inf set to 1.0.
    """
    if np.isfinite(raw).all():  # the usual case: plain softmax, no NaN or inf to handle
        e = np.exp(raw - _row_max(raw))
        return e / _row_sum(e)
    nan = np.isnan(raw)
    top = np.where(nan, -np.inf, raw).max(axis=1, keepdims=True) if nan.any() else raw.max(
        axis=1, keepdims=True)
    e = np.exp(raw - top)
    probability = e / e.sum(axis=1, keepdims=True)
    inf = np.isposinf(raw)
    rows = np.flatnonzero(inf.any(axis=1))
    if len(rows):
        probability[rows] = raw[rows] * 0.0
        probability[rows, np.argmax(inf[rows], axis=1)] = 1.0
    return probability


FEW_CLASSES = 8  # up to this many, row reductions go column by column (same values, same order)
MANY_ROWS = 64  # ... once there are enough rows for a call per column to pay off


def _row_max(values: np.ndarray) -> np.ndarray:
    """``values.max(axis=1, keepdims=True)``. With few classes, an elementwise maximum over the
    columns: numpy's reduction along a short last axis costs ~4x more per row."""
    if values.shape[1] > FEW_CLASSES or len(values) < MANY_ROWS:
        return values.max(axis=1, keepdims=True)
    top = values[:, 0].copy()
    for j in range(1, values.shape[1]):
        np.maximum(top, values[:, j], out=top)
    return top[:, None]


def _row_sum(values: np.ndarray) -> np.ndarray:
    """``values.sum(axis=1, keepdims=True)``, summed left to right as numpy does a short row."""
    if values.shape[1] > FEW_CLASSES or len(values) < MANY_ROWS:
        return values.sum(axis=1, keepdims=True)
    total = values[:, 0].copy()
    for j in range(1, values.shape[1]):
        total += values[:, j]
    return total[:, None]


@register
@dataclass
class LogisticRegression(ProbabilisticClassifier):
    """LogisticRegressionModel, binomial (one coefficient row) or multinomial."""

    coefficients: np.ndarray
    intercepts: np.ndarray
    multinomial: bool
    threshold: float
    kind = "LogisticRegression"

    def raw(self, x: np.ndarray) -> np.ndarray:
        if self.multinomial:
            return rowwise_product(x, self.coefficients) + self.intercepts
        return margins_to_raw(rowwise_product(x, self.coefficients[0]) + self.intercepts[0])

    def probability(self, raw: np.ndarray) -> np.ndarray:
        if not self.multinomial:
            return sigmoid(raw)  # each of [-m, m]
        return spark_softmax(raw)

    def predict(self, raw: np.ndarray, probability: np.ndarray | None) -> np.ndarray:
        if self.multinomial:
            return super().predict(raw, probability)
        # binary raw2prediction compares the margin with log(t / (1 - t))
        t = self.threshold
        cut = -np.inf if t == 0 else np.inf if t == 1 else np.log(t / (1 - t))
        return (raw[:, 1] > cut).astype(np.float64)


@register
@dataclass
class LinearSVC(Classifier):
    """LinearSVCModel: raw [-m, m]; prediction 1 when m > threshold; no probability."""

    coefficients: np.ndarray
    intercept: float
    threshold: float
    kind = "LinearSVC"

    def raw(self, x: np.ndarray) -> np.ndarray:
        return margins_to_raw(rowwise_product(x, self.coefficients) + self.intercept)

    def predict(self, raw: np.ndarray, probability: np.ndarray | None) -> np.ndarray:
        return (raw[:, 1] > self.threshold).astype(np.float64)


@register
@dataclass
class NaiveBayes(ProbabilisticClassifier):
    """NaiveBayesModel: multinomial, complement, bernoulli or gaussian; probability = softmax."""

    model_type: str
    pi: np.ndarray
    theta: np.ndarray
    sigma: np.ndarray
    kind = "NaiveBayes"

    def prepare(self) -> None:
        if self.model_type == "bernoulli":
            neg_theta = np.log1p(-np.exp(self.theta))
            self._theta_minus_neg = self.theta - neg_theta
            self._pi_minus_theta_sum = self.pi + neg_theta.sum(axis=1)
        if self.model_type == "gaussian":
            self._log_var_sum = np.log(self.sigma).sum(axis=1)

    def raw(self, x: np.ndarray) -> np.ndarray:
        if self.model_type == "gaussian":
            d = x[:, None, :] - self.theta[None]
            s = (d * d / self.sigma[None]).sum(axis=2)
            return self.pi - (s + self._log_var_sum) / 2
        if self.model_type == "bernoulli":
            self._require(x, (x == 0) | (x == 1), "Bernoulli NaiveBayes needs 0 or 1 values")
            return rowwise_product(x, self._theta_minus_neg) + self._pi_minus_theta_sum
        self._require(x, x >= 0, "NaiveBayes needs nonnegative values")
        if self.model_type == "multinomial":
            return rowwise_product(x, self.theta) + self.pi
        # complementCalculation: theta . x minus its log-sum-exp
        prob = rowwise_product(x, self.theta)
        top = prob.max(axis=1, keepdims=True)
        return prob - (np.log(np.exp(prob - top).sum(axis=1, keepdims=True)) + top)

    def _require(self, x: np.ndarray, ok: np.ndarray, reason: str) -> None:
        bad = ~ok.all(axis=1)
        if bad.any():
            raise ScoringError(self.features, x[np.argmax(bad)].tolist(), reason)

    def probability(self, raw: np.ndarray) -> np.ndarray:
        return spark_softmax(raw)


@register
@dataclass
class MultilayerPerceptron(ProbabilisticClassifier):
    """MultilayerPerceptronClassificationModel: affine layers with sigmoid between, softmax on top.

    FeedForwardTopology lays each AffineLayer's weights out as a column-major (out x in) matrix
    followed by its ``out`` biases; rawPrediction is the last affine output, before the softmax.
    """

    layers: list[int]
    weights: np.ndarray
    kind = "MultilayerPerceptron"

    def prepare(self) -> None:
        self._affine = []
        offset = 0
        for n_in, n_out in zip(self.layers[:-1], self.layers[1:], strict=True):
            w = self.weights[offset: offset + n_in * n_out].reshape(n_in, n_out).T  # W (out x in)
            offset += n_in * n_out
            self._affine.append((w, self.weights[offset: offset + n_out]))
            offset += n_out

    def raw(self, x: np.ndarray) -> np.ndarray:
        out = x
        for i, (w, b) in enumerate(self._affine):
            out = rowwise_product(out, w) + b
            if i < len(self._affine) - 1:
                out = sigmoid(out)
        return out

    def probability(self, raw: np.ndarray) -> np.ndarray:
        return softmax(raw)


@register
@dataclass
class FactorizationMachine(ProbabilisticClassifier):
    """FMClassificationModel: m = b + w.x + 0.5 * sum_f((sum_i v_if x_i)^2 - sum_i (v_if x_i)^2)."""

    intercept: float
    linear: np.ndarray
    factors: np.ndarray
    kind = "FactorizationMachine"

    def raw(self, x: np.ndarray) -> np.ndarray:
        vx = x[:, :, None] * self.factors[None]
        pairwise = 0.5 * (vx.sum(axis=1) ** 2 - (vx * vx).sum(axis=1)).sum(axis=1)
        return margins_to_raw(self.intercept + rowwise_product(x, self.linear) + pairwise)

    def probability(self, raw: np.ndarray) -> np.ndarray:
        p1 = sigmoid(raw[:, 1])
        return np.column_stack([1.0 - p1, p1])


@register
@dataclass
class OneVsRest(Classifier):
    """OneVsRestModel: rawPrediction = each binary model's rawPrediction(1); prediction = argmax."""

    models: list[Classifier]
    kind = "OneVsRest"

    def prepare(self) -> None:
        self.models = [m if isinstance(m, Stage) else stage_from_dict(m) for m in self.models]

    def raw(self, x: np.ndarray) -> np.ndarray:
        return np.column_stack([m.raw(x)[:, 1] for m in self.models])

    def predict(self, raw: np.ndarray, probability: np.ndarray | None) -> np.ndarray:
        """The highest confidence's index, ignoring NaN, and -1 when none is above -inf.

        Unlike the probabilistic models' argmax, OneVsRestModel answers -1 for all-NaN
        confidences (measured against Spark 4.3's transform).
        """
        filled = np.where(np.isnan(raw), -np.inf, raw)
        return np.where(filled.max(axis=1) > -np.inf, np.argmax(filled, axis=1), -1).astype(
            np.float64)
