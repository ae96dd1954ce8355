"""The one map of column types: the Spark SQL names a ``data.schema`` may use, their aliases, the
MLflow signature type of each, and the families runner treats alike (numeric, floating, integer).

Used wherever a type crosses a boundary: a config's schema (``data.schema``), the Spark cast of a
column, a model's MLflow signature, a request's values, a ``runner predict`` input.
"""

from __future__ import annotations

# Spark SQL type names a data.schema may use, each with the MLflow signature type that declares it
MLFLOW_TYPES = {
    "string": "string",
    "double": "double",
    "float": "float",
    "int": "long",
    "integer": "long",
    "bigint": "long",
    "long": "long",
    "smallint": "long",
    "tinyint": "long",
    "boolean": "boolean",
}
# Spark SQL type of each MLflow signature type: a column with that signature is cast to it
SPARK_TYPES = {"double": "double", "float": "float", "long": "bigint", "integer": "int",
               "string": "string", "boolean": "boolean"}
# type names of pandas, numpy or other tools, told as the Spark name meant
ALIASES = {"float64": "double", "float32": "float", "int64": "bigint", "int32": "int",
           "str": "string", "object": "string", "bool": "boolean", "text": "string"}

# Spark SQL names of numbers; those whose values can be NaN or infinite after the cast
NUMERIC = frozenset({"int", "integer", "bigint", "long", "smallint", "tinyint", "double", "float"})
FLOATING = frozenset({"double", "float", "real"})
# the same families among MLflow signature types
MLFLOW_NUMERIC = frozenset({"double", "float", "long", "integer"})
MLFLOW_FLOATING = frozenset({"double", "float"})
MLFLOW_INTEGER = frozenset({"long", "integer"})
# the values an MLflow integer type holds
INT_RANGE = {"long": (-(2**63), 2**63 - 1), "integer": (-(2**31), 2**31 - 1)}
