# Checked against pandas 2.3 (pyproject pins pandas<3). tests/test_data.py names this version
# when the call breaks.
"""pandas' private names that runner uses, one typed function each: pandas is imported inside
them, so runner's config layer can name the default without importing pandas at import time."""

from __future__ import annotations


def default_na_values() -> list[str]:
    """The strings ``pandas.read_csv`` reads as missing by default (``NA``, ``N/A``, ``NULL``,
    ``NaN``, ``None``, the empty string, ...): pandas' own list, sorted."""
    from pandas._libs import parsers

    return sorted(str(v) for v in parsers.STR_NA_VALUES)
