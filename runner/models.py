"""The classifier from the ``model`` config, wired to the feature and label columns."""

from __future__ import annotations

from typing import Any

from runner import stages


def check(cfg: Any) -> None:
    """Check the classifier's class and parameter names (no JVM needed)."""
    stages.check(cfg, "model")


def build(cfg: Any, features_col: str, label_col: str) -> Any:
    """Instantiate the classifier reading ``features_col`` and predicting ``label_col``."""
    return stages.build(cfg, "model", featuresCol=features_col, labelCol=label_col)
