"""Bad data sets are refused before training with one line naming the column or file and an
example value, and leave no MLflow run RUNNING and no model version registered (issue 13).

Each case is one row of ``CASES``: the files written into a tmp dir, the data path, the config
overrides and the parts the message must show. Cases go through ``runner.train.run`` (the
guarantee about runs and versions is checked on a real sqlite store) and two through the CLI.
"""

from __future__ import annotations

import gzip
import math
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from omegaconf import DictConfig, open_dict

from runner import data, train
from runner.data import DataSpec, checks
from runner.errors import RunnerError
from tests.conftest import TEST_SPARK_OVERRIDES

COLUMNS = ["Island", "CulmenLength", "CulmenDepth", "FlipperLength", "BodyMass", "Species"]
HEADER = ",".join(COLUMNS) + "\n"
GOOD = [
    ["Biscoe", "48.7", "14.1", "210", "4450", "1"],
    ["Dream", "39.5", "17.4", "186", "3800", "0"],
    ["Dream", "46.5", "17.9", "192", "3500", "2"],
    ["Torgersen", "38.9", "17.8", "181", "3625", "0"],
    ["Biscoe", "50.0", "15.2", "218", "5700", "1"],
    ["Dream", "49.5", "19.0", "200", "3800", "2"],
]
CSV_OF_PARQUET = ["data.format=parquet", "data.options={}"]


def csv(*rows: list[str], header: str = HEADER) -> str:
    """The good rows plus ``rows`` as CSV text."""
    return header + "".join(",".join(r) + "\n" for r in [*GOOD, *rows])


def row(**values: str) -> list[str]:
    """A good row with some columns replaced."""
    base = dict(zip(COLUMNS, GOOD[0], strict=True))
    return [values.get(c, base[c]) for c in COLUMNS]


def relabel(labels: list[str]) -> str:
    """The good rows with their Species replaced, one label per row."""
    rows = [r[:-1] + [label] for r, label in zip(GOOD, labels, strict=False)]
    return HEADER + "".join(",".join(r) + "\n" for r in rows)


@dataclass(frozen=True)
class Parquet:
    """A Parquet file of the good rows (typed) plus ``extra`` rows, written with pyarrow (from
    pandas NaN would be written as null)."""

    extra: tuple[tuple[object, ...], ...] = ()

    def write(self, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        typed = [(r[0], *map(float, r[1:5]), int(r[5])) for r in GOOD]
        table = pa.Table.from_pylist([dict(zip(COLUMNS, r, strict=True))
                                      for r in [*typed, *self.extra]])
        pq.write_table(table, path)


Content = str | bytes | Parquet


@dataclass(frozen=True)
class Case:
    files: dict[str, Content]  # path under the tmp dir -> content
    expected: tuple[str, ...]  # parts of the one-line message
    path: str = "d.csv"  # data.path, under the tmp dir
    overrides: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()  # data.schema columns renamed (old, new)


# "NaN" in a CSV is a missing value, as pandas reads it (data.na_values, tests/
# test_missing_values.py): these cases take it out of the markers to check Spark's NaN
AS_NAN = "data.na_values=['']"

CASES: dict[str, Case] = {
    # non-finite values
    "nan_feature": Case({"d.csv": csv(row(CulmenLength="NaN"))},
                        ("column 'CulmenLength'", "1 value(s) are NaN", "'NaN'"),
                        overrides=(AS_NAN,)),
    "nan_lowercase_two": Case({"d.csv": csv(row(CulmenDepth="nan"), row(CulmenDepth="NaN"))},
                              ("column 'CulmenDepth'", "2 value(s) are NaN", "'NaN'"),
                              overrides=(AS_NAN,)),
    "infinity_feature": Case({"d.csv": csv(row(FlipperLength="Infinity"))},
                             ("column 'FlipperLength'", "are infinite", "'Infinity'")),
    "minus_inf_with_impute": Case({"d.csv": csv(row(BodyMass="-Inf"))},
                                  ("column 'BodyMass'", "are infinite", "'-Inf'"),
                                  overrides=("data.missing=impute",)),
    "nan_label_with_impute": Case({"d.csv": csv(row(Species="NaN"))},
                                  ("label 'Species'", "are NaN", "'NaN'"),
                                  overrides=("data.schema.Species=double", "data.missing=impute",
                                             AS_NAN)),
    "infinity_label": Case({"d.csv": csv(row(Species="Infinity"))},
                           ("label 'Species'", "do not cast to int", "'Infinity'")),
    # labels that are not the class indices 0..k-1 while data.class_names are not their values
    # (labels 0/2 with no names are indexed: tests/test_labels.py)
    "label_7": Case({"d.csv": csv(row(Species="7"))},
                    ("label 'Species'", "[7] outside 0..2", "class_names has 3 names")),
    "labels_1_to_3": Case({"d.csv": relabel(["1", "2", "3", "1", "2", "3"])},
                          ("label 'Species'", "[3] outside 0..2", "found [1, 2, 3]")),
    "negative_label": Case({"d.csv": csv(row(Species="-1"))},
                           ("label 'Species'", "[-1] outside 0..2")),
    "fraction_label_int": Case({"d.csv": csv(row(Species="1.5"))},
                               ("label 'Species'", "do not cast to int", "'1.5'")),
    # a fractional label is a class value, but three names that are not the values: ambiguous
    "fraction_label_double": Case({"d.csv": csv(row(Species="1.5"))},
                                  ("label 'Species'", "[1.5] outside 0..2",
                                   "are not its values"),
                                  overrides=("data.schema.Species=double",)),
    "string_labels_other_names": Case({"d.csv": relabel(["a", "b", "c", "a", "b", "c"])},
                                      ("label 'Species'", "['a', 'b', 'c']",
                                       "data.class_names=[]"),
                                      overrides=("data.schema.Species=string",)),
    "four_names_three_classes": Case({"d.csv": csv()},
                                     ("data.class_names has 4 names", "3 classes [0, 1, 2]"),
                                     overrides=("data.class_names=[a,b,c,d]",)),
    "two_names_three_classes": Case({"d.csv": csv()},
                                    ("label 'Species'", "[2] outside 0..1",
                                     "class_names has 2 names"),
                                    overrides=("data.class_names=[a,b]",)),
    # directories holding files Spark would misread or skip
    "dir_junk_txt": Case({"in/part-0.csv": csv(), "in/part-1.csv.gz": gzip.compress(csv().encode()),
                          "in/notes.txt": "hello\n"}, ("directory", "1 file(s)", "notes.txt"),
                         path="in"),
    "dir_json": Case({"in/a.csv": csv(), "in/extra.json": '{"a": 1}\n'},
                     ("not csv data", "extra.json"), path="in"),
    "dir_parquet_in_csv": Case({"in/a.csv": csv(), "in/b.parquet": Parquet()},
                               ("not csv data", "b.parquet"), path="in"),
    "dir_hidden_file": Case({"in/a.csv": csv(), "in/.old.csv": csv()},
                            (".old.csv (Spark skips it)",), path="in"),
    "dir_underscore_file": Case({"in/a.csv": csv(), "in/_backup.csv": csv(),
                                 "in/_SUCCESS": "", "in/.a.csv.crc": ""},
                                ("1 file(s)", "_backup.csv (Spark skips it)"), path="in"),
    "dir_temporary": Case({"in/a.csv": csv(), "in/_temporary/0/part-9.csv": csv()},
                          ("_temporary/ (Spark skips it)",), path="in"),
    "dir_only_success": Case({"in/_SUCCESS": ""}, ("holds no csv files",), path="in"),
    "parquet_file_as_csv": Case({"d.parquet": Parquet()}, ("d.parquet", "looks like parquet"),
                                path="d.parquet", overrides=("data.format=csv",)),
    # schema types Spark does not know
    "type_doubel": Case({"d.csv": csv()}, ("data.schema.CulmenLength", "'doubel'",
                                          "did you mean 'double'", "valid: "),
                        overrides=("data.schema.CulmenLength=doubel",)),
    "type_float64": Case({"d.csv": csv()}, ("data.schema.BodyMass", "'float64'", "bigint"),
                         overrides=("data.schema.BodyMass=float64",)),
    "dotted_name": Case({"d.csv": csv().replace("BodyMass", "body.mass")},
                        ("column 'body.mass'", "cannot read a name holding '.'"),
                        renamed=(("BodyMass", "body.mass"),)),
    # unreadable or unparsable files
    "corrupt_gzip": Case({"d.csv.gz": b"\x1f\x8b\x08\x00garbage" * 20},
                         ("cannot read", "d.csv.gz"), path="d.csv.gz"),
    "csv_named_parquet": Case({"d.parquet": csv()}, ("cannot read", "d.parquet", "parquet"),
                              path="d.parquet", overrides=tuple(CSV_OF_PARQUET)),
    "semicolons": Case({"d.csv": csv().replace(",", ";")},
                       ("data.label 'Species'", "Island;CulmenLength", "data.options.sep")),
    # Parquet with non-finite doubles and bad labels stored natively
    "parquet_nan": Case({"d.parquet": Parquet((("Dream", 1.0, math.nan, 3.0, 4.0, 0),))},
                        ("column 'CulmenDepth'", "are NaN", "'NaN'"), path="d.parquet",
                        overrides=tuple(CSV_OF_PARQUET)),
    "parquet_inf": Case({"d.parquet": Parquet((("Dream", math.inf, 2.0, 3.0, 4.0, 0),))},
                        ("column 'CulmenLength'", "are infinite", "'Infinity'"),
                        path="d.parquet", overrides=tuple(CSV_OF_PARQUET)),
    "parquet_label_7": Case({"d.parquet": Parquet((("Dream", 1.0, 2.0, 3.0, 4.0, 7),))},
                            ("label 'Species'", "[7] outside 0..2"), path="d.parquet",
                            overrides=tuple(CSV_OF_PARQUET)),
    "parquet_dir_with_csv": Case({"p/part-0.snappy.parquet": Parquet(), "p/readme.csv": "x\n"},
                                 ("not parquet data", "readme.csv"), path="p",
                                 overrides=tuple(CSV_OF_PARQUET)),
    # the checks that were there before keep their messages
    "uncastable": Case({"d.csv": csv(row(CulmenDepth="x2"))},
                       ("column 'CulmenDepth'", "1 value(s) do not cast to double, e.g. 'x2'")),
    "missing_column": Case({"d.csv": "Island,CulmenLength,Species\nBiscoe,1,0\n"},
                           ("column(s) ['CulmenDepth'",)),
    "missing_file": Case({}, ("file not found", "nope.csv"), path="nope.csv"),
    "single_class": Case({"d.csv": relabel(["0"] * 6)}, ("single class [0]",)),
    "no_rows_left": Case({"d.csv": HEADER + "Biscoe,,2,3,4,0\nDream,1,2,,4,1\n"},
                         ("no rows left",)),
    "empty_split": Case({"d.csv": csv()}, ("leaves test empty",),
                        overrides=("data.split.train=0.999", "data.split.test=0.001")),
}


def write_files(root: Path, files: dict[str, Content]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Parquet):
            content.write(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def case_overrides(case: Case, root: Path) -> list[str]:
    return [f"data.path={root / case.path}", *case.overrides]


def renamed(cfg: DictConfig, names: dict[str, str]) -> DictConfig:
    """``cfg`` with data.schema columns renamed: Hydra's override grammar takes no dotted key."""
    with open_dict(cfg):
        cfg.data.schema = {names.get(c, c): t for c, t in cfg.data.schema.items()}
    return cfg


@pytest.fixture(scope="module")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow sqlite store created once: each test copies it, so its own store starts with
    the schema in place instead of spending seconds migrating a new one."""
    from runner import tracking
    from tests.conftest import make_config

    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    tracking.configure(make_config([f"tracking.uri=sqlite:///{path}"]).tracking)
    return path


def assert_nothing_left(uri: str) -> None:
    """No run of the store is RUNNING and no model version was registered."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    running = client.search_runs(experiments, "attributes.status = 'RUNNING'")
    assert running == []
    assert client.search_model_versions() == []


def assert_one_line(message: str, expected: tuple[str, ...]) -> None:
    assert "\n" not in message
    for part in expected:
        assert part in message


@pytest.mark.parametrize("name", list(CASES))
def test_bad_data_is_refused_before_training(
    name: str, spark, cfg_factory: Callable, mlflow_uri: str, tmp_path: Path,
    store_template: Path,
) -> None:
    case = CASES[name]
    shutil.copy(store_template, tmp_path / "mlflow.db")
    write_files(tmp_path, case.files)
    cfg = renamed(cfg_factory(case_overrides(case, tmp_path)), dict(case.renamed))
    with pytest.raises(RunnerError) as error:
        train.run(cfg, [])
    assert_one_line(str(error.value), case.expected)
    assert_nothing_left(mlflow_uri)


def test_nan_features_are_imputed_with_missing_impute(spark, tmp_path: Path, cfg_factory) -> None:
    write_files(tmp_path, {"d.csv": csv(row(CulmenLength="NaN"), row(BodyMass="nan"))})
    cfg = cfg_factory([f"data.path={tmp_path / 'd.csv'}", "data.missing=impute"])
    dataset = data.load(spark, DataSpec.resolve(cfg.data))
    assert dataset.rows == len(GOOD) + 2


def test_special_column_names_train(spark, tmp_path: Path, cfg_factory) -> None:
    """Columns named with spaces, brackets and other characters are read literally, end to end
    (a dotted name is refused: see the ``dotted_name`` case)."""
    dotted = ["Island", "culmen length", "culmen-depth", "flipper (mm)", "body:mass", "Species"]
    write_files(tmp_path, {"d.csv": csv(*GOOD * 4, header=",".join(dotted) + "\n")})
    cfg = cfg_factory([f"data.path={tmp_path / 'd.csv'}", "tracking.log_models=none",
                       "evaluation.confusion_matrix=false"])
    renamed(cfg, dict(zip(COLUMNS, dotted, strict=True)))
    cfg.features.stages.numeric_assembler.inputCols = dotted[1:5]
    result = train.run(cfg, [])
    assert result.metrics["accuracy"] >= 0.0
    assert data.load(spark, DataSpec.resolve(cfg.data)).rows == len(GOOD) * 5


def test_every_accepted_type_name_is_one_spark_casts_to(spark) -> None:
    """The names checked without a JVM are the ones Spark's own parser takes, and a few it
    refuses are refused."""
    from pyspark.sql import functions as F

    names, _ = checks._atomic_type_names()
    accepted = [*sorted(names), "decimal(10,2)", "decimal(5)", "varchar(3)", "char(2)"]
    for name in accepted:
        checks.check_type("c", name)
    spark.range(1).select(*[F.lit("1").try_cast(n).alias(str(i))
                            for i, n in enumerate(accepted)]).collect()
    for name in ("doubel", "float64", "array<int>"):
        with pytest.raises(RunnerError, match=f"data.schema.c: unknown Spark type '{name}'"):
            checks.check_type("c", name)


def _cli(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    runner = Path(sys.executable).parent / "runner"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    return subprocess.run(
        [str(runner), *TEST_SPARK_OVERRIDES, f"tracking.uri={uri}",
         f"hydra.run.dir={tmp_path / 'out'}", *overrides],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dir_junk_txt", "nan_feature"])
def test_cli_prints_one_line_and_exits_1(name: str, tmp_path: Path) -> None:
    """Through the installed CLI: a directory check (no JVM) and a value check (after the
    profile job)."""
    case = CASES[name]
    write_files(tmp_path, case.files)
    done = _cli(tmp_path, *case_overrides(case, tmp_path))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("runner: error: data")
    assert_one_line(lines[-1], case.expected)
    assert "Traceback" not in done.stderr
    if (tmp_path / "mlflow.db").exists():
        assert_nothing_left(f"sqlite:///{tmp_path / 'mlflow.db'}")

