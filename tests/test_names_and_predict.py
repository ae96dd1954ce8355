"""Names from the data set (experiment, registered model, Optuna study follow ``data.name``),
promotion only within a lineage (same data digest and split), and ``runner predict`` with a
model that fills missing values. Two real runs on different data share one store."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import pytest

from runner import predict, tracking
from runner.resources import __file__ as resources_init
from tests.conftest import TEST_SPARK_OVERRIDES, make_config

PENGUINS_CSV = Path(resources_init).with_name("penguins.csv")
NAME = "penguin-classifier"


@pytest.mark.parametrize(("overrides", "expected"), [
    ([], ("penguins", "runner", "penguin-classifier")),
    (["data.path=/d/wine.csv"], ("wine", "wine", "wine-classifier")),
    (["data.path=/d/wine/"], ("wine", "wine", "wine-classifier")),
    (["data.path=s3://b/iris.csv.gz", "data.name=flowers"],
     ("flowers", "flowers", "flowers-classifier")),
    (["data.path=/d/wine.csv", "tracking.experiment_name=x",
      "tracking.registered_model_name=y"], ("wine", "x", "y")),
    (["data.name=penguins", "data.path=/d/copy.parquet"],
     ("penguins", "runner", "penguin-classifier")),
])
def test_names_follow_data_name(overrides: list[str], expected: tuple[str, str, str]) -> None:
    """Defaults come from data.name (itself from the file name); explicit names win; the
    penguins keep their historic names."""
    cfg = make_config(overrides)
    assert (cfg.data.name, cfg.tracking.experiment_name,
            cfg.tracking.registered_model_name) == expected


def test_no_registered_name_stays_none() -> None:
    assert make_config(["tracking.registered_model_name=null"]).tracking.registered_model_name \
        is None


def test_lineage_difference_names_what_differs() -> None:
    old = {"data digest": "a", "split": "seed=1 test=0.3 train=0.7"}
    assert tracking.lineage_difference(old, dict(old)) == ""
    assert tracking.lineage_difference(old, {"split": old["split"]}) == ""  # digest not logged
    assert tracking.lineage_difference(old, {**old, "split": "seed=2 test=0.3 train=0.7"}) == (
        "split differs (seed=1 test=0.3 train=0.7 -> seed=2 test=0.3 train=0.7)")


@dataclass(frozen=True)
class TwoLineages:
    uri: str
    penguins_run: str
    subset_run: str
    notes: str  # stderr of the promotions
    aliases: dict[str, str]  # version -> alias set by promotion


@pytest.fixture(scope="module")
def two_lineages(spark, tmp_path_factory: pytest.TempPathFactory) -> TwoLineages:
    """One registered name, three runs in one store: 1 on penguins, 2 on a subset of penguins
    with data.missing=impute (other data: its own lineage), 3 on that subset again with an
    unbeatable champion margin (same lineage: compared, so @challenger)."""
    from mlflow import MlflowClient

    from runner import train

    root = tmp_path_factory.mktemp("lineages")
    subset = root / "subset.csv"
    lines = PENGUINS_CSV.read_text().splitlines()
    subset.write_text("\n".join([lines[0], *lines[41:]]) + "\n")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    common = [*TEST_SPARK_OVERRIDES, f"tracking.uri={uri}",
              f"tracking.registered_model_name={NAME}", "evaluation.train_metrics=false",
              "evaluation.confusion_matrix=false"]
    on_subset = [f"data.path={subset}", "data.missing=impute"]
    runs, aliases = [], {}
    notes = io.StringIO()  # promotion's notes (stderr), kept for the tests that read them
    for extra in ([], on_subset, [*on_subset, "tracking.champion_margin=1.0"]):
        with contextlib.redirect_stderr(notes):
            result = train.run(make_config([*common, *extra]), [])
        assert result.model is not None
        assert result.model.version is not None
        runs.append(result.run_id)
    tracking.use_store(uri)
    for alias, version in MlflowClient().get_registered_model(NAME).aliases.items():
        aliases[str(version)] = alias
    return TwoLineages(uri, runs[0], runs[1], notes.getvalue(), aliases)


def test_other_data_becomes_champion_of_its_own_lineage(two_lineages: TwoLineages) -> None:
    assert two_lineages.aliases == {"2": "champion", "3": "challenger"}
    notes = [line for line in two_lineages.notes.splitlines() if "runner: note:" in line]
    assert len(notes) == 1, two_lineages.notes
    assert notes[0].startswith(f"runner: note: {NAME} version 2 is @champion of its own lineage")
    assert "data digest differs" in notes[0]
    assert "version 1" in notes[0]


def test_predict_with_an_imputing_model_fills_the_null_row(spark, two_lineages: TwoLineages,
                                                           tmp_path: Path) -> None:
    """The raw penguins CSV (header, ints, a row of empty measurements) scored by the model
    trained with data.missing=impute: every row gets a prediction, no options given."""
    out = tmp_path / "scored.parquet"
    cfg = make_config([*TEST_SPARK_OVERRIDES, f"tracking.uri={two_lineages.uri}",
                       f"predict.model_uri=models:/{NAME}/2", f"predict.input={PENGUINS_CSV}",
                       f"predict.output={out}"])
    result = predict.run(cfg)
    assert result.rows == len(PENGUINS_CSV.read_text().splitlines()) - 1
    scored = spark.read.parquet(str(out))
    assert scored.where("prediction is null").count() == 0
    # the Imputer writes its fills over the input columns: the output shows the filled values
    assert scored.where("CulmenLength is null or isnan(CulmenLength)").count() == 0
