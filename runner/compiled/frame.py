"""The columnar batch that compiled stages read and write, and the errors scoring can raise.

Spark keeps SQL NULL apart from NaN, and its stages treat them differently (a Bucketizer maps
NULL to NULL but NaN to a bucket), so every column carries an optional null mask beside its values.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np


class UnsupportedStage(Exception):
    """A pipeline stage (or a setting of one) that the compiler cannot reproduce exactly."""

    def __init__(self, stage_name: str, reason: str = "") -> None:
        super().__init__(f"{stage_name}: {reason}" if reason else stage_name)
        self.stage_name = stage_name


class ScoringError(ValueError):
    """A row Spark would reject: names the column, the offending value and the input row.

    runner's one error for rows a model rejects: ``runner serve`` answers it with a 400 (its
    Spark fallback raises a subclass carrying Spark's reason).
    """

    def __init__(self, column: str, value: Any, reason: str, row: int | None = None) -> None:
        where = f" (input row {row})" if row is not None else ""
        super().__init__(f"column {column!r}: {reason}: {value!r}{where}")
        self.column, self.value, self.reason, self.row = column, value, reason, row


@dataclass
class Column:
    """Values (n,) for scalars or (n, d) for vectors; ``null`` marks SQL NULL rows (None: none)."""

    values: np.ndarray
    null: np.ndarray | None = None

    def null_mask(self) -> np.ndarray:
        return self.null if self.null is not None else np.zeros(len(self.values), dtype=bool)


class Frame:
    """Named columns of equal length plus the input row numbers still present."""

    def __init__(self, columns: dict[str, Column], kept: np.ndarray) -> None:
        self.columns = columns
        self.kept = kept

    def __getitem__(self, name: str) -> Column:
        return self.columns[name]

    def __setitem__(self, name: str, column: Column) -> None:
        self.columns[name] = column

    def keep(self, mask: np.ndarray) -> None:
        """Drop the rows where ``mask`` is False, as a Spark filter would."""
        if mask.all():
            return
        for name, col in self.columns.items():
            null = col.null[mask] if col.null is not None else None
            self.columns[name] = Column(col.values[mask], null)
        self.kept = self.kept[mask]

    def fail(self, column: str, row_mask: np.ndarray, values: np.ndarray, reason: str) -> None:
        """Raise ScoringError for the first row in ``row_mask``, if any."""
        if row_mask.any():
            i = int(np.argmax(row_mask))
            raise ScoringError(column, _plain(values[i]), reason, int(self.kept[i]))


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value.item() if isinstance(value, np.generic) else value


def spark_argmax(values: np.ndarray) -> np.ndarray:
    """Row-wise argmax as Spark's DenseVector.argmax: first maximum, NaN never wins after index 0.

    Spark starts from element 0 and only moves on a strict ``>``, so a NaN in front keeps index 0.
    """
    nan = np.isnan(values)
    if not nan.any():
        return np.argmax(values, axis=1).astype(np.float64)
    index = np.argmax(np.where(nan, -np.inf, values), axis=1)
    return np.where(nan[:, 0], 0, index).astype(np.float64)


def rowwise_product(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``x @ weights.T``: (n, d) by (k, d) -> (n, k), or by (d,) -> (n,), each row summed alike.

    BLAS chooses its kernel (gemv, gemm, edge kernels) by the number of rows, and the kernels sum
    in different orders, so a row's last bits would depend on the rows scored with it. einsum sums
    every row the same way, so the server can score requests together and answer each as if
    alone. It costs ~1 us a call: nothing measurable beside a pipeline, at 1 row or 100k.
    """
    if weights.ndim == 1:
        return np.einsum("ij,j->i", x, weights)
    return np.einsum("ij,kj->ik", x, weights)


class Stage:
    """A compiled stage: a dataclass of fitted values whose ``apply`` updates a Frame in place.

    Its ``np.ndarray`` fields are made float64 arrays here, so the same constructor serves
    compilation (numpy values) and loading from JSON (lists); values derived from the fields
    are computed in ``prepare``.
    """

    kind: str = ""

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]  # every Stage subclass is a dataclass
            if f.type in ("np.ndarray", np.ndarray):
                setattr(self, f.name, np.asarray(getattr(self, f.name), dtype=np.float64))
        self.prepare()

    def prepare(self) -> None:
        """Compute what ``apply`` needs from the fields (none by default)."""

    def apply(self, frame: Frame) -> None:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **{k: _jsonable(v) for k, v in vars(self).items()
                                      if not k.startswith("_")}}


_REGISTRY: dict[str, type[Stage]] = {}


def register(cls: type[Stage]) -> type[Stage]:
    """Class decorator: make a stage loadable from its ``kind``."""
    _REGISTRY[cls.kind] = cls
    return cls


def stage_from_dict(data: dict[str, Any]) -> Stage:
    fields = {k: v for k, v in data.items() if k != "kind"}
    return _REGISTRY[data["kind"]](**fields)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return _plain(value)
