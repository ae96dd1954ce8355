"""The lab's data and its teaching values: hyperparameters chosen for the lab's penguins
(LogisticRegression maxIter=5, regParam=0.5) are defaults on that data only; any other
``data.path`` gets Spark's own defaults for the classifier unless the user sets them.

A model config writes such a value as ``${runner.if_lab_data:5,100}``: 5 on the lab's data, else
100. ``runner --cfg job`` prints it so; the run logs the value it resolved to.
"""

from __future__ import annotations

from typing import Any

PENGUINS = "pkg://runner.resources/penguins.csv"  # the lab's data, shipped with runner


def if_lab_data(lab: Any, spark_default: Any, *, _root_: Any) -> Any:
    """``lab`` when the config's ``data.path`` is the lab's penguins file, else
    ``spark_default`` (OmegaConf passes the config's root as ``_root_``)."""
    from omegaconf import OmegaConf

    path = OmegaConf.select(_root_, "data.path", default=None)
    return lab if str(path) == PENGUINS else spark_default


def register_lab_resolver() -> None:
    """Make ``${runner.if_lab_data:lab,spark}`` resolvable."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("runner.if_lab_data"):
        OmegaConf.register_new_resolver("runner.if_lab_data", if_lab_data)
