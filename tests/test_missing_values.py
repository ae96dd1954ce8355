"""Missing values as data files write them (issue 22): R's ``NA``, pandas' empty cell, Excel's
quoted empty ``""`` and MySQL's ``\\N`` are missing in schema inference and in Spark's read alike,
for features and the label; ``data.options.<key>`` takes any Spark reader option without ``+``."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.cli.error_lines import one_line
from runner.cli.open_keys import opened
from runner.compat import pandas as compat_pandas
from runner.data import dataset as data
from runner.data.markers import markers
from runner.data.missing import counts
from runner.data.spec import DataSpec
from tests.conftest import TEST_SPARK_OVERRIDES, make_config
from tests.palmer_support import COLUMNS, rows, write_palmer

MEASURES = COLUMNS[2:6]
EMPTY_ROWS = sum(1 for r in rows() if r[2] is None)  # every measurement missing
NO_SEX = sum(1 for r in rows() if r[6] is None)  # the empty rows too
MYSQL = r"data.na_values=['\N','']"  # \N is no marker of pandas': the user adds it

STYLES = {  # marker as written -> what --show-schema names (an empty cell reads as '')
    "NA": ("NA", []),
    "": ("", []),
    '""': ("", []),
    "\\N": ("\\N", [MYSQL]),
}


def _data(path: Path, label: str, *overrides: str) -> DataSpec:
    return DataSpec.resolve(make_config([*TEST_SPARK_OVERRIDES, f"data.path={path}",
                                         f"data.label={label}", *overrides]).data)


def test_default_markers_are_pandas_own() -> None:
    """pandas' list (2.3: 19 markers), the empty cell included; a nullValue option adds one."""
    found = compat_pandas.default_na_values()
    assert {"NA", "N/A", "NULL", "NaN", "nan", "-nan", "None", ""} <= set(found)
    assert list(make_config([]).data.na_values) == found
    assert markers(make_config(opened(["data.options.nullValue=missing"])).data)[-1] == "missing"


@pytest.mark.parametrize("marker", list(STYLES))
def test_markers_inferred_and_counted_without_jvm(tmp_path: Path, marker: str) -> None:
    """Each style types the measurements double, the words string, and --show-schema's counts
    name the missing cells per column and the marker seen."""
    seen, extra = STYLES[marker]
    cfg = _data(write_palmer(tmp_path, marker), "species", *extra)
    schema = cfg.schema
    assert [schema[c] for c in MEASURES] == ["double"] * 4
    assert schema["sex"] == "string"
    found = counts(cfg)
    assert found["bill_length_mm"] == (EMPTY_ROWS, [seen])
    assert found["sex"] == (NO_SEX, [seen])
    assert found["species"] == (0, [])


def test_mysql_marker_is_text_unless_listed(tmp_path: Path) -> None:
    """``\\N`` is not in pandas' list: the measurements are then text, as pandas reads them."""
    cfg = _data(write_palmer(tmp_path, "\\N"), "species")
    assert cfg.schema["bill_length_mm"] == "string"


@pytest.mark.parametrize("marker", list(STYLES))
def test_spark_reads_the_markers_as_missing(spark, tmp_path: Path, marker: str, capsys) -> None:
    """Spark's read agrees with inference: nothing fails to cast, rows missing a feature (the
    sex, a feature here) are dropped (data.missing=drop); the sex label's missing rows are
    dropped with one note."""
    path = write_palmer(tmp_path, marker)
    capsys.readouterr()
    species = data.load(spark, _data(path, "species", *STYLES[marker][1]))
    assert species.rows == len(rows()) - NO_SEX
    assert species.class_names == ["Adelie", "Gentoo", "Chinstrap"]
    assert (f"{NO_SEX} of {len(rows())} row(s) dropped for a missing feature value "
            f"(data.missing=drop), most for 'sex' ({NO_SEX} missing)") in capsys.readouterr().err
    if marker != "NA":
        return
    sex = data.load(spark, _data(path, "sex"))
    assert sorted(sex.class_names) == ["female", "male"]
    assert sex.rows == len(rows()) - NO_SEX
    assert f"{NO_SEX} row(s) with a missing label 'sex' dropped" in (
        capsys.readouterr().err)


def test_na_values_changes_what_is_missing(spark, tmp_path: Path) -> None:
    """With ``NA`` taken out of data.na_values it is text again: Spark refuses the measurement
    (what inference, given the same list, calls string is then read as a category)."""
    cfg = _data(write_palmer(tmp_path, "NA"), "species", "data.na_values=['']")
    assert cfg.schema["bill_length_mm"] == "string"
    assert data.load(spark, cfg).rows == len(rows())


def test_reader_options_need_no_plus(tmp_path: Path) -> None:
    """``data.options.<key>=v`` sets any Spark reader option, new or given; a typo elsewhere
    still gets the nearest key."""
    cfg = make_config(opened(["data.options.nullValue=NA", "data.options.header=false"]))
    assert dict(cfg.data.options) == {"header": "False", "nullValue": "NA"}
    assert opened(["+data.options.x=1", "~data.options.header", "data.label=y"]) == [
        "+data.options.x=1", "~data.options.header", "data.label=y"]
    tabs = tmp_path / "anes.dat"  # statsmodels' anes96: tabs, names quoted with '
    tabs.write_text("'age'\t'vote'\n36\t1\n20\t0\n")
    cfg = make_config(opened([f"data.path={tabs}", "data.label=vote", "data.options.sep='\\t'",
                              "data.options.quote=\"'\""])).data
    assert cfg.options.sep == "\\t"  # as Spark takes it; inference reads it as a tab too
    assert dict(DataSpec.resolve(cfg).schema) == {"age": "double", "vote": "int"}
    with pytest.raises(Exception) as raised:  # noqa: PT011 - Hydra's own error, put in one line
        make_config(opened(["data.optons.sep=x"]))
    assert "did you mean data.options" in one_line(raised.value)
