"""Compiled feature transformers, each reproducing its Spark model's ``transform`` row by row.

Formulas and invalid-value rules come from the Spark sources named in each class docstring
(org.apache.spark.ml.feature.*).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .frame import Column, Frame, Stage, register

_NULL = "NULL"


def _strings(col: Column, integral: bool) -> list[str | None]:
    """Values as Spark's ``cast(StringType)`` sees them (integral numbers print without '.0')."""
    null = col.null_mask()
    if integral:
        return [None if n else str(int(v)) for v, n in zip(col.values, null, strict=True)]
    return [None if n else v for v, n in zip(col.values, null, strict=True)]


@register
@dataclass
class StringIndexer(Stage):
    """StringIndexerModel: label -> position in the fitted ``labelsArray``.

    The fitted labels already carry the stringOrderType (frequencyDesc sorts by count, ties by
    string), so only the lookup and handleInvalid are left: skip drops NULL or unseen labels in any
    input column first (filterInvalidData); keep maps them to len(labels); error raises.
    """

    inputs: list[str]
    outputs: list[str]
    labels: list[list[str]]
    handle_invalid: str
    integral: list[bool]
    kind = "StringIndexer"

    def prepare(self) -> None:
        self._index: list[dict[str | None, float]] = [
            {label: float(i) for i, label in enumerate(ls)} for ls in self.labels]

    def apply(self, frame: Frame) -> None:
        codes = [_codes(frame[name], integral, labels, index) for name, integral, labels, index
                 in zip(self.inputs, self.integral, self.labels, self._index, strict=True)]
        if self.handle_invalid == "skip":
            keep = np.logical_and.reduce([c != len(ls) for c, ls in zip(codes, self.labels,
                                                                        strict=True)])
            if not keep.all():
                frame.keep(keep)
                codes = [c[keep] for c in codes]
        for name, out, integral, code, labels in zip(
                self.inputs, self.outputs, self.integral, codes, self.labels, strict=True):
            bad = code == len(labels)
            if self.handle_invalid == "error" and bad.any():
                strings = _strings(frame[name], integral)
                values = np.array([_NULL if s is None else s for s in strings], dtype=object)
                frame.fail(name, bad, values, "StringIndexer: unseen label or NULL")
            frame[out] = Column(code)


FEW_LABELS = 32  # up to this many labels, one vectorized comparison per label beats a dict
MANY_ROWS = 16  # ... once the column is long enough for numpy's per-call cost to pay off


def _codes(col: Column, integral: bool, labels: list[str], index: dict[str | None, float]
           ) -> np.ndarray:
    """Each row's position in ``labels``; len(labels) for NULL or an unseen label.

    Few labels: one comparison of the whole column per label, in numpy's C loop (~10 ns a row
    each) instead of a dict lookup per row in Python (~100 ns): a batch's main cost before."""
    unknown = float(len(labels))
    if integral or len(labels) > FEW_LABELS or len(col.values) < MANY_ROWS:
        return np.array([index.get(s, unknown) for s in _strings(col, integral)],
                        dtype=np.float64)
    values = col.values
    codes = np.full(len(values), unknown)
    for i, label in enumerate(labels):
        codes[values == label] = i
    if col.null is not None:
        codes[col.null] = unknown
    return codes


@register
@dataclass
class OneHotEncoder(Stage):
    """OneHotEncoderModel: index -> one-hot vector; NULL in gives NULL out (primitive-typed UDF).

    An index outside [0, categorySize) (NaN included) is the extra category under keep and an
    error otherwise; dropLast and keep decide the vector size (getConfigedCategorySizes).
    """

    inputs: list[str]
    outputs: list[str]
    category_sizes: list[int]
    drop_last: bool
    handle_invalid: str
    kind = "OneHotEncoder"

    def apply(self, frame: Frame) -> None:
        keep_invalid = self.handle_invalid == "keep"
        for name, out, size in zip(self.inputs, self.outputs, self.category_sizes, strict=True):
            col = frame[name]
            label = col.values
            valid = (label >= 0) & (label < size)
            if not keep_invalid:
                frame.fail(name, ~valid & ~col.null_mask(), label, "OneHotEncoder: invalid index")
            width = size + (1 if keep_invalid else 0) - (1 if self.drop_last else 0)
            idx = np.where(valid, np.trunc(np.where(valid, label, 0)), size).astype(np.int64)
            vectors = np.zeros((len(label), width))
            rows = np.flatnonzero(idx < width)
            vectors[rows, idx[rows]] = 1.0
            frame[out] = Column(vectors, col.null)


@register
@dataclass
class VectorAssembler(Stage):
    """VectorAssembler: concatenate scalars and vectors.

    skip drops rows with NULL in any input or NaN in a scalar input (na.drop); error raises on
    either; keep turns NULL into NaN of the column's width. NaN inside a vector always passes.
    """

    inputs: list[str]
    output: str
    handle_invalid: str
    kind = "VectorAssembler"

    def apply(self, frame: Frame) -> None:
        if self.handle_invalid == "skip":
            keep = np.ones(len(frame.kept), dtype=bool)
            for name in self.inputs:
                col = frame[name]
                keep &= ~col.null_mask()
                if col.values.ndim == 1:
                    keep &= ~np.isnan(col.values)
            frame.keep(keep)
        parts = []
        for name in self.inputs:
            col = frame[name]
            values = col.values
            if col.null is not None and col.null.any():
                if self.handle_invalid == "error":
                    frame.fail(name, col.null, np.full(len(col.null), None),
                               "VectorAssembler (handleInvalid=error) got NULL")
                values = np.where(col.null if values.ndim == 1 else col.null[:, None], np.nan,
                                  values)
            parts.append(values if values.ndim == 2 else values[:, None])
        assembled = np.concatenate(parts, axis=1)
        if self.handle_invalid == "error" and np.isnan(assembled).any():
            self._check_nan(frame)
        frame[self.output] = Column(assembled)

    def _check_nan(self, frame: Frame) -> None:
        """Raise for NaN in a scalar input; NaN inside an input vector passes, as in Spark."""
        for name in self.inputs:
            values = frame[name].values
            if values.ndim == 1:
                frame.fail(name, np.isnan(values), values,
                           "VectorAssembler (handleInvalid=error) got NaN")


@register
@dataclass
class Imputer(Stage):
    """ImputerModel: NULL or ``missingValue`` -> surrogate, then cast back to the input type.

    Spark compares with ``===``, under which NaN equals NaN, so missingValue=NaN imputes NaN.
    """

    inputs: list[str]
    outputs: list[str]
    surrogates: list[float]
    missing_value: float
    input_types: list[str]
    kind = "Imputer"

    def apply(self, frame: Frame) -> None:
        for name, out, surrogate, sql_type in zip(
                self.inputs, self.outputs, self.surrogates, self.input_types, strict=True):
            col = frame[name]
            if np.isnan(self.missing_value):
                missing = np.isnan(col.values)
            else:
                missing = col.values == self.missing_value
            values = np.where(missing | col.null_mask(), surrogate, col.values)
            frame[out] = Column(cast_numeric(values, sql_type))


def cast_numeric(values: np.ndarray, sql_type: str) -> np.ndarray:
    """Spark's cast from double to a column's SQL type, kept as float64 values."""
    if sql_type == "float":
        return values.astype(np.float32).astype(np.float64)
    if sql_type in INTEGRAL_TYPES:
        return np.trunc(values)
    return values


# Spark's integral type names. Not runner.config.types: these modules travel inside each model,
# where only they, numpy and pandas are importable.
INTEGRAL_TYPES = frozenset({"int", "integer", "bigint", "long", "smallint", "tinyint", "short",
                            "byte"})


@register
@dataclass
class MinMaxScaler(Stage):
    """MinMaxScalerModel: (x - min) * (range_out / range_in) + min_out; NaN stays NaN.

    A constant training column (range 0) maps to (min_out + max_out) / 2, as in Spark.
    """

    input: str
    output: str
    original_min: np.ndarray
    original_max: np.ndarray
    min: float
    max: float
    kind = "MinMaxScaler"

    def prepare(self) -> None:
        span = self.original_max - self.original_min
        self._scale = np.where(span != 0, (self.max - self.min) / np.where(span != 0, span, 1), 0.0)
        self._constant = span == 0
        self._any_constant = bool(self._constant.any())

    def apply(self, frame: Frame) -> None:
        col = frame[self.input]
        x = col.values
        scaled = (x - self.original_min) * self._scale + self.min  # NaN stays NaN
        if self._any_constant:
            scaled = np.where(self._constant & ~np.isnan(x), (self.min + self.max) / 2, scaled)
        frame[self.output] = Column(scaled, col.null)


@register
@dataclass
class StandardScaler(Stage):
    """StandardScalerModel: (x - mean) * (1 / std), a zero std scaling to 0."""

    input: str
    output: str
    mean: np.ndarray
    std: np.ndarray
    with_mean: bool
    with_std: bool
    kind = "StandardScaler"

    def prepare(self) -> None:
        self._scale = np.where(self.std == 0, 0.0, 1.0 / np.where(self.std == 0, 1, self.std))

    def apply(self, frame: Frame) -> None:
        col = frame[self.input]
        x = col.values - self.mean if self.with_mean else col.values
        frame[self.output] = Column(x * self._scale if self.with_std else x.copy(), col.null)


@register
@dataclass
class MaxAbsScaler(Stage):
    """MaxAbsScalerModel: x * (1 / maxAbs), a zero maxAbs leaving the value as is."""

    input: str
    output: str
    max_abs: np.ndarray
    kind = "MaxAbsScaler"

    def prepare(self) -> None:
        self._scale = np.where(self.max_abs == 0, 1.0, 1.0 / np.where(self.max_abs == 0, 1,
                                                                     self.max_abs))

    def apply(self, frame: Frame) -> None:
        col = frame[self.input]
        frame[self.output] = Column(col.values * self._scale, col.null)


@register
@dataclass
class PolynomialExpansion(Stage):
    """PolynomialExpansion: every monomial of degree 1..d, in Spark's expandDense order.

    Each term is multiplied out in Spark's order (last feature first), and a running product that
    reaches 0 stays 0 without further factors, as Spark skips zero multipliers (so 0 * inf is 0).
    """

    input: str
    output: str
    degree: int
    kind = "PolynomialExpansion"

    def apply(self, frame: Frame) -> None:
        col = frame[self.input]
        x = col.values
        factors = _monomial_factors(x.shape[1], self.degree)
        padded = np.hstack([x, np.ones((len(x), 1))])  # index -1 -> factor 1.0
        product = np.ones((len(x), len(factors)))
        for step in range(factors.shape[1]):
            nxt = product * padded[:, factors[:, step]]
            product = np.where(product == 0, 0.0, nxt)
        frame[self.output] = Column(product, col.null)


@lru_cache(maxsize=32)
def _monomial_factors(n: int, degree: int) -> np.ndarray:
    """(terms, degree) feature indices to multiply in order, -1 padded; mirrors expandDense."""
    terms: list[list[int]] = []

    def expand(last: int, deg: int, prefix: list[int], first: bool) -> None:
        if deg == 0 or last < 0:
            if not first:
                terms.append(prefix)
            return
        for i in range(deg + 1):
            expand(last - 1, deg - i, prefix + [last] * i, first and i == 0)

    expand(n - 1, degree, [], True)
    table = np.full((len(terms), max(degree, 1)), -1, dtype=np.int64)
    for row, term in enumerate(terms):
        table[row, : len(term)] = term
    return table


@register
@dataclass
class Bucketizer(Stage):
    """Bucketizer (also QuantileDiscretizer's model): binarySearchForBuckets per column.

    NULL gives NULL; NaN is the extra bucket under keep, dropped under skip (with NULL, na.drop),
    an error otherwise; a value outside the splits is always an error.
    """

    inputs: list[str]
    outputs: list[str]
    splits: list[list[float]]
    handle_invalid: str
    kind = "Bucketizer"

    def prepare(self) -> None:
        self._splits = [np.asarray(s, dtype=np.float64) for s in self.splits]

    def apply(self, frame: Frame) -> None:
        if self.handle_invalid == "skip":
            keep = np.ones(len(frame.kept), dtype=bool)
            for name in self.inputs:
                keep &= ~frame[name].null_mask() & ~np.isnan(frame[name].values)
            frame.keep(keep)
        for name, out, splits in zip(self.inputs, self.outputs, self._splits, strict=True):
            col = frame[name]
            x = col.values
            nan = np.isnan(x) & ~col.null_mask()
            if self.handle_invalid == "error":
                frame.fail(name, nan, x, "Bucketizer (handleInvalid=error) got NaN")
            bucket = np.searchsorted(splits, x, side="right") - 1.0
            bucket = np.where(x == splits[-1], len(splits) - 2.0, bucket)
            outside = ~np.isnan(x) & ~col.null_mask() & ((bucket < 0) | (bucket > len(splits) - 2))
            frame.fail(name, outside, x, f"Bucketizer: outside the splits [{splits[0]}, "
                                         f"{splits[-1]}]")
            frame[out] = Column(np.where(nan, len(splits) - 1.0, bucket), col.null)

