"""Real public data sets for tests: the tabular classification sets scikit-learn ships (iris,
wine, breast_cancer), written to a folder as a user's own data would be.

    path = write_sklearn("wine", tmp_path)                      # tmp_path/wine.csv, 14 columns
    path = write_sklearn("iris", tmp_path, fmt="parquet")       # tmp_path/iris/part-0000n.parquet
    path = write_sklearn("breast_cancer", tmp_path, missing=0.05, string_labels=False)

Feature columns keep scikit-learn's names with spaces and other characters replaced by ``_``
("mean radius" -> ``mean_radius``, "sepal length (cm)" -> ``sepal_length_cm``) so the same
names work as Hydra override keys. No network: the data are files inside sklearn.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

LOADERS = ("iris", "wine", "breast_cancer")
PARQUET_PARTS = 3  # a Parquet data set is a folder of this many part files, as Spark writes it


def frame(name: str, string_labels: bool = True, label: str = "label", missing: float = 0.0,
          seed: int = 0) -> Any:
    """The data set as a pandas DataFrame: features then the label column.

    Args:
        name: one of ``LOADERS``.
        string_labels: the label as the class names (``"setosa"``), else as the ints 0..k-1.
        label: the label column's name.
        missing: the fraction of feature cells set to NaN (at random, reproducible by ``seed``);
            labels are never missing.
        seed: the seed of the missing cells.
    """
    import numpy as np
    from sklearn import datasets

    if name not in LOADERS:
        raise ValueError(f"unknown data set {name!r}; choose from {LOADERS}")
    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    data = bunch.data.rename(columns=lambda c: re.sub(r"\W+", "_", str(c)).strip("_"))
    if missing > 0:
        rng = np.random.default_rng(seed)
        data = data.mask(rng.random(data.shape) < missing)
    target = bunch.target.to_numpy()
    data[label] = [str(bunch.target_names[t]) for t in target] if string_labels else target
    return data


def write_sklearn(name: str, folder: Path | str, fmt: str = "csv", string_labels: bool = True,
                  label: str = "label", missing: float = 0.0) -> Path:
    """Write a scikit-learn data set under ``folder`` and return its path for ``data.path``.

    ``fmt="csv"``: one file ``<name>.csv`` with a header (missing cells empty). ``fmt="parquet"``:
    a folder ``<name>/`` of ``PARQUET_PARTS`` part files. Other arguments as in ``frame``.
    """
    data = frame(name, string_labels, label, missing)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        path = folder / f"{name}.csv"
        data.to_csv(path, index=False)
        return path
    if fmt != "parquet":
        raise ValueError(f"fmt must be csv or parquet, not {fmt!r}")
    path = folder / name
    path.mkdir(exist_ok=True)
    size = -(-len(data) // PARQUET_PARTS)
    for part in range(PARQUET_PARTS):
        chunk = data.iloc[part * size:(part + 1) * size]
        chunk.to_parquet(path / f"part-{part:05d}.parquet", index=False)
    return path
