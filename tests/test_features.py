"""Feature configs: each trains, logs, loads back and predicts the lab's request; imputation keeps
rows with missing values and fills them inside the logged pipeline, so serving does too."""

from __future__ import annotations

from typing import Any

import pytest

from runner import data, train
from runner.data import DataSpec
from runner.pipeline import column_rules, features
from tests.conftest import make_config, repo_root
from tests.test_models import FAST, predictions, request_frame, train_log_load

FEATURES = sorted(p.stem for p in (repo_root() / "runner" / "conf" / "features").glob("*.yaml"))


@pytest.mark.parametrize("name", FEATURES)
def test_features_train_log_load_and_predict(name: str, cfg_factory: Any, spark: Any) -> None:
    result, loaded, cfg = train_log_load(cfg_factory, spark, [f"features={name}", *FAST])
    assert result.metrics["accuracy"] >= 0.85, result.metrics
    assert predictions(loaded, request_frame(spark, cfg)) == [1.0]


def test_impute_keeps_rows_and_the_logged_model_fills_nulls(cfg_factory: Any, spark: Any) -> None:
    overrides = ["features=onehot_standard", "data.missing=impute", *FAST]
    result, loaded, cfg = train_log_load(cfg_factory, spark, overrides)
    kept = data.load(spark, DataSpec.resolve(cfg.data)).rows
    assert kept == 344  # the 2 rows without measurements are kept
    assert result.metrics["accuracy"] >= 0.85
    first = loaded.stages[0]
    assert type(first).__name__ == "ImputerModel"
    assert first.getInputCols() == ["CulmenLength", "CulmenDepth", "FlipperLength", "BodyMass"]
    gaps = [{"Island": None, "CulmenLength": 48.7, "CulmenDepth": 14.1, "FlipperLength": 210,
             "BodyMass": None}, {"Island": "Dream"}]
    assert len([p for p in predictions(loaded, request_frame(spark, cfg, gaps)) if p >= 0]) == 2


@pytest.mark.parametrize(("missing", "handle_invalid"), [("drop", "error"), ("impute", "keep")])
def test_impute_lets_string_indexers_keep_nulls(spark: Any, missing: str,
                                                handle_invalid: str) -> None:
    cfg = make_config([f"data.missing={missing}"])
    _, params = train.build_pipeline(cfg, DataSpec.resolve(cfg.data))
    assert params["features.island_indexer.handleInvalid"] == handle_invalid
    assert (f"features.{features.IMPUTER}.strategy" in params) == (missing == "impute")


def test_numeric_columns_are_the_imputed_ones() -> None:
    cfg = make_config()
    assert column_rules.numeric_columns(DataSpec.resolve(cfg.data)) == [
        "CulmenLength", "CulmenDepth", "FlipperLength", "BodyMass"]
