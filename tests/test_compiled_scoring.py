"""The compiled scorer's own contract, without Spark: inputs, errors, skipped rows, save/load,
the pyfunc wrapper, and that importing it pulls in no pyspark."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from runner.compiled import CompiledPipeline, ScoringError
from runner.compiled.pyfunc import CompiledPyfuncModel
from tests.compiled_support import lab_shaped_pipeline as _pipeline

REQUEST = {"Island": ["Biscoe"], "CulmenLength": [48.7], "FlipperLength": [210]}


def test_single_row_with_integers_for_doubles():
    out = _pipeline().predict_columns(REQUEST)
    assert out["prediction"].shape == (1,)
    assert out["probability"].shape == out["rawPrediction"].shape == (1, 3)
    assert out["probability"].sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(out["kept"], [0])


@pytest.mark.parametrize(("column", "value", "reason"), [
    ("Island", "Atlantis", "unseen label"),
    ("Island", None, "unseen label or NULL"),
    ("CulmenLength", None, "got NULL"),
    ("FlipperLength", float("nan"), "got NaN"),
    ("FlipperLength", "210", "not a number"),
])
def test_rows_spark_rejects_raise_naming_column_and_value(column, value, reason):
    columns = {**REQUEST, column: [value]}
    with pytest.raises(ScoringError, match=reason) as caught:
        _pipeline().predict_columns(columns)
    assert caught.value.column == column
    assert column in str(caught.value)


def test_skipped_rows_are_reported_as_not_kept():
    columns = {"Island": ["Biscoe", "Atlantis", "Dream", None],
               "CulmenLength": [40.0, 41.0, None, 42.0], "FlipperLength": [200, 201, 202, 203]}
    out = _pipeline("skip").predict_columns(columns)
    np.testing.assert_array_equal(out["kept"], [0])
    assert out["prediction"].shape == (1,)


def test_missing_column_is_an_error():
    with pytest.raises(ScoringError, match="missing input column"):
        _pipeline().predict_columns({"Island": ["Biscoe"]})


def test_save_and_load_round_trip_as_json(tmp_path):
    pipeline = _pipeline()
    pipeline.save(str(tmp_path))
    assert [p.name for p in tmp_path.iterdir()] == ["pipeline.json"]
    json.loads((tmp_path / "pipeline.json").read_text())
    loaded = CompiledPipeline.load(str(tmp_path))
    for key, value in pipeline.predict_columns(REQUEST).items():
        np.testing.assert_array_equal(loaded.predict_columns(REQUEST)[key], value)


def test_pandas_adapter_keeps_the_index_of_scored_rows():
    df = pd.DataFrame({"Island": ["Biscoe", "Atlantis"], "CulmenLength": [40.0, 41.0],
                       "FlipperLength": [200, 201]}, index=[10, 11])
    out = _pipeline("skip").predict_pandas(df)
    assert list(out.index) == [10]
    assert list(out.columns) == ["prediction", "probability", "rawPrediction"]


def test_pyfunc_predictions_and_probabilities():
    model = CompiledPyfuncModel(_pipeline())
    df = pd.DataFrame(REQUEST)
    plain = model.predict(df)
    assert isinstance(plain, np.ndarray)
    detailed = model.predict(df, {"probabilities": True})
    assert list(detailed.columns) == ["prediction", "probability", "label"]
    assert detailed["label"][0] == ["Adelie", "Gentoo", "Chinstrap"][int(plain[0])]


def test_importing_and_scoring_needs_no_pyspark():
    script = ("import sys; from tests.compiled_support import lab_shaped_pipeline; "
              "from tests.test_compiled_scoring import REQUEST; "
              "lab_shaped_pipeline().predict_columns(REQUEST); import runner.compiled.pyfunc; "
              "print('pyspark' in sys.modules, 'py4j' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False False"
