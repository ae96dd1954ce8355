"""Data loading: the lab's penguins, deterministic splits, and one clear error per bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.data import DataSpec, check_config
from runner.data import dataset as data
from runner.errors import RunnerError
from tests.conftest import make_config

HEADER = "Island,CulmenLength,CulmenDepth,FlipperLength,BodyMass,Species\n"


def _cfg(path: Path | None = None, *overrides: str):
    extra = [f"data.path={path}"] if path else []
    return DataSpec.resolve(make_config([*extra, *overrides]).data)


def _csv(tmp_path: Path, body: str, name: str = "d.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body)
    return path


def test_penguins_load_drop_missing_and_split(spark) -> None:
    ds = data.load(spark, _cfg())
    assert ds.rows == 342  # 344 rows, 2 with missing measurements
    assert ds.classes == [0, 1, 2]
    assert ds.train_rows + ds.test_rows == 342
    assert 0.2 < ds.test_rows / 342 < 0.4
    assert dict(ds.train.dtypes)["FlipperLength"] == "double"
    assert dict(ds.train.dtypes)["Species"] == "int"


def test_same_seed_same_split_and_digest(spark) -> None:
    first = data._prepare(spark, _cfg())
    second = data._prepare(spark, _cfg())
    assert first.digest == second.digest
    assert sorted(map(tuple, first.test.collect())) == sorted(map(tuple, second.test.collect()))


def test_impute_keeps_rows_with_missing_features(spark) -> None:
    ds = data.load(spark, _cfg(None, "data.missing=impute"))
    assert ds.rows == 344


def test_missing_file_fails_before_spark(tmp_path: Path) -> None:
    with pytest.raises(RunnerError, match="file not found"):
        check_config(_cfg(tmp_path / "nope.csv"))


def test_label_must_be_in_schema() -> None:
    with pytest.raises(RunnerError, match="data.label"):
        check_config(_cfg(None, "data.label=Kind"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("Biscoe,1,2,3,4,0\n", "single class"),
        (
            "Biscoe,1,2,3,4,0\nDream,1,x2,3,4,1\n",
            "'CulmenDepth': 1 value(s) do not cast to double, e.g. 'x2'",
        ),
        ("Biscoe,,2,3,4,0\nDream,1,2,,4,1\n", "no rows left"),
    ],
)
def test_bad_data_is_named(spark, tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(RunnerError, match=message.replace("(", r"\(").replace(")", r"\)")):
        data.load(spark, _cfg(_csv(tmp_path, body)))


def test_missing_column_is_named_before_spark(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("Island,CulmenLength,Species\nBiscoe,1,0\n")
    with pytest.raises(RunnerError, match=r"column\(s\) \['CulmenDepth'"):
        check_config(_cfg(path))


def test_split_leaving_test_empty(spark, tmp_path: Path) -> None:
    path = _csv(tmp_path, "Biscoe,1,2,3,4,0\nDream,1,2,3,4,1\nDream,1,2,3,4,2\n")  # 3 names
    with pytest.raises(RunnerError, match="leaves test empty"):
        data.load(spark, _cfg(path, "data.split.train=0.999", "data.split.test=0.001"))


def test_each_task_reads_the_file_as_it_is_now(tmp_path: Path) -> None:
    """The spec is resolved once per task, never from a process cache: a task's trials share
    it, a file rewritten between two tasks of one process is read afresh by the second, and
    the logged config is written from the spec."""
    from runner.context import RunContext
    from runner.data import for_task, settled

    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n1,x,0\n2,y,1\n")
    cfg = make_config([f"data.path={path}", "data.label=label"])
    first = RunContext()
    spec = for_task(cfg.data, first)
    assert spec is for_task(cfg.data, first)  # the trials of one task share it
    assert dict(spec.schema) == {"a": "double", "b": "string", "label": "int"}
    assert spec.feature_columns == ["a", "b"]
    assert spec.path == str(path)
    assert spec.format == "csv"
    assert spec.class_names == ()
    path.write_text("a,b,c,label\n1,x,1.5,0\n2,y,2.5,1\n")
    again = for_task(cfg.data, RunContext())
    assert again.feature_columns == ["a", "b", "c"]
    logged = settled(cfg, again).data
    assert dict(logged.schema) == dict(again.schema)
    assert logged.format == "csv"
    assert DataSpec.logged(dict(logged)).schema == again.schema
