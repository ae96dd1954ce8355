"""The label's classes: which values are Spark's class indices, what each class is called, and
the order in which a label that is not indices gets them.

The rule: numeric labels that are all whole numbers in 0..k-1 (k = len(data.class_names), or
the number of distinct labels without names) are Spark's class indices, as the lab's Species
0/1/2, and data.class_names name those indices. Any other label (strings, 1..3, -1/1) is indexed
by a StringIndexer in the pipeline: data.class_names, when given, must then be the label values
(as Spark prints them) in class order; else data.label_order orders them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from runner.data.schema import quoted
from runner.errors import RunnerError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from runner.data.spec import DataSpec

_SHOWN = 3  # examples named in a message


def label_index_column(spec: DataSpec) -> str:
    """The column the label's StringIndexer writes: ``<label>_index``, made unique."""
    name = f"{spec.label}_index"
    while name in spec.schema:
        name = "_" + name
    return name


def label_classes(clean: DataFrame, values: list[Any], spec: DataSpec
                  ) -> tuple[list[int], list[str], list[Any]]:
    """Class indices, class names and (when indexed) the label values in class-index order.

    ``values`` are the label's distinct values, sorted. Labels 1..3 with three names that are not
    those values stay refused: which is meant is ambiguous.
    """
    label, names = spec.label, list(spec.class_names)
    shown = values if len(values) <= 10 else [*values[:10], "..."]
    if len(values) < 2:
        raise RunnerError(f"data: label {label!r} has a single class {values}; need >= 2")
    k = len(names) or len(values)
    if all(_is_index(v, k) for v in values):
        if names and len(values) != k:
            raise RunnerError(
                f"data.class_names has {k} names {names} but label {label!r} has {len(values)} "
                f"classes {shown}"
            )
        return [int(v) for v in values], names, []
    counts = _label_counts(clean, label)
    if names and sorted(names) != sorted(counts):
        raise RunnerError(_names_mismatch(label, values, names, list(counts)))
    order = names or _ordered(counts, spec.label_order)
    typed = {text: value for text, (value, _) in counts.items()}
    return list(range(len(order))), order, [typed[n] for n in order]


def _is_index(value: Any, k: int) -> bool:
    """A number that is a whole class index in 0..k-1 (a boolean is a value, not an index)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return False
    return float(value).is_integer() and 0 <= value < k


def _label_counts(clean: DataFrame, label: str) -> dict[str, tuple[Any, int]]:
    """Per label value as a string (what StringIndexer indexes): a typed value and its rows."""
    from pyspark.sql import functions as F

    rows = (clean.groupBy(F.col(quoted(label)).cast("string").alias("s"))
            .agg(F.first(quoted(label)).alias("v"), F.count(F.lit(1)).alias("n")).collect())
    return {r["s"]: (r["v"], int(r["n"])) for r in rows}


def _ordered(counts: dict[str, tuple[Any, int]], order: str) -> list[str]:
    """The label strings in Spark StringIndexer's ``stringOrderType`` order (frequency ties are
    broken alphabetically, as Spark does)."""
    if order == "frequencyDesc":
        return sorted(counts, key=lambda s: (-counts[s][1], s))
    if order == "frequencyAsc":
        return sorted(counts, key=lambda s: (counts[s][1], s))
    return sorted(counts, reverse=order == "alphabetDesc")


def _names_mismatch(label: str, values: list[Any], names: list[str], texts: list[str]) -> str:
    """One line for data.class_names that neither name indices 0..k-1 nor list the values."""
    k = len(names)
    shown = values if len(values) <= 10 else [*values[:10], "..."]
    outside = [v for v in values if not _is_index(v, k)]
    hint = ("name the class indices 0..k-1, list the label values in class order, or set "
            "data.class_names=[] to take them from the data")
    if all(isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in values):
        return (f"data: label {label!r} has value(s) {outside[:_SHOWN]} outside 0..{k - 1} "
                f"(data.class_names has {k} names) and data.class_names {names} are not its "
                f"values either; labels found {shown}: {hint}")
    missing = sorted(set(texts) - set(names))[:_SHOWN]
    return (f"data: label {label!r} has values {shown} but data.class_names is {names} "
            f"(not naming {missing}): {hint}")
