"""Names from the task (experiment, registered model, Optuna study follow ``data.name`` and
``data.label``), promotion only within a lineage (same data digest and split) and never across
tasks (label, class names, inputs), and ``runner predict`` with a model that fills missing
values. Real runs on different data share one store."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from runner import predict, tracking
from runner.resources import __file__ as resources_init
from tests.conftest import TEST_SPARK_OVERRIDES, make_config
from tests.palmer_support import rows, write_palmer

PENGUINS_CSV = Path(resources_init).with_name("penguins.csv")
NAME = "penguin-classifier"
SPECIES = "palmerpenguins-species"


@pytest.mark.parametrize(("overrides", "expected"), [
    ([], ("penguins", "runner", "penguin-classifier")),
    (["data.path=/d/wine.csv", "data.label=cultivar"],
     ("wine", "wine-cultivar", "wine-cultivar")),
    (["data.path=/d/wine/", "data.label=cultivar"], ("wine", "wine-cultivar", "wine-cultivar")),
    (["data.path=s3://b/iris.csv.gz", "data.name=flowers", "data.label=class"],
     ("flowers", "flowers-class", "flowers-class")),
    (["data.path=/d/palmerpenguins.csv", "data.label=species"],
     ("palmerpenguins", "palmerpenguins-species", "palmerpenguins-species")),
    (["data.path=/d/palmerpenguins.csv", "data.label=sex"],
     ("palmerpenguins", "palmerpenguins-sex", "palmerpenguins-sex")),
    (["data.label=Island"], ("penguins", "penguins-Island", "penguins-Island")),
    (["data.path=/d/x.csv", "data.label='a b/c:d'"], ("x", "x-a_b_c_d", "x-a_b_c_d")),
    (["data.path=/d/wine.csv", "tracking.experiment_name=x",
      "tracking.registered_model_name=y"], ("wine", "x", "y")),
    (["data.name=penguins", "data.path=/d/copy.parquet"],
     ("penguins", "runner", "penguin-classifier")),
])
def test_names_follow_data_name(overrides: list[str], expected: tuple[str, str, str]) -> None:
    """Defaults come from data.name (itself from the file name) and data.label; explicit names
    win; the lab's task (penguins, Species) keeps its historic names."""
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


@dataclass(frozen=True)
class PalmerTasks:
    uri: str
    path: Path
    notes: str  # stderr of the second task's promotion
    aliases: dict[str, str]  # alias -> version of palmerpenguins-species


@pytest.fixture(scope="module")
def palmer(spark, tmp_path_factory: pytest.TempPathFactory) -> PalmerTasks:
    """A palmerpenguins-shaped file (NA cells): a species model, then a sex model registered
    under the species model's name on purpose (``tracking.registered_model_name``)."""
    from mlflow import MlflowClient

    from runner import train

    root = tmp_path_factory.mktemp("palmer")
    path = write_palmer(root)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    common = [*TEST_SPARK_OVERRIDES, f"tracking.uri={uri}", f"data.path={path}",
              "features=auto", "evaluation.train_metrics=false",
              "evaluation.confusion_matrix=false", "tracking.log_datasets=false"]
    assert train.run(make_config([*common, "data.label=species"]), []).model is not None
    notes = io.StringIO()
    with contextlib.redirect_stderr(notes):
        sex = train.run(make_config([*common, "data.label=sex",
                                     f"tracking.registered_model_name={SPECIES}"]), [])
    assert sex.model is not None
    assert sex.model.version == "2"
    tracking.use_store(uri)
    aliases = dict(MlflowClient().get_registered_model(SPECIES).aliases)
    return PalmerTasks(uri, path, notes.getvalue(), {a: str(v) for a, v in aliases.items()})


def test_a_sex_model_never_becomes_the_species_champion(palmer: PalmerTasks) -> None:
    """Registered under the species name, the sex model gets no alias, with one note saying
    what differs; the species champion stays. (Its rows with no sex were dropped, noted too.)"""
    assert palmer.aliases == {"champion": "1"}
    (note,) = [line for line in palmer.notes.splitlines() if "gets no alias" in line]
    assert note.startswith(f"runner: note: {SPECIES} version 2 gets no alias")
    assert "label differs (species -> sex)" in note
    assert "class names differs (Adelie, Gentoo, Chinstrap -> " in note
    assert "row(s) with a missing label 'sex' dropped" in palmer.notes


def test_serve_and_predict_find_the_species_model_by_path_and_label(
        spark, palmer: PalmerTasks, tmp_path: Path) -> None:
    """``runner serve`` and ``runner predict`` given data.path and data.label: the server answers
    a species, predict writes one per row of the raw file (its NA cells read as missing) less
    the two rows with no measurement, which a model trained with data.missing=drop refuses."""
    from runner.serving.app import load_app

    task = [*TEST_SPARK_OVERRIDES, f"tracking.uri={palmer.uri}", f"data.path={palmer.path}",
            "data.label=species"]
    app, model = load_app(make_config(task))
    assert (model.name, model.version) == (SPECIES, "1")
    record = {"island": "Biscoe", "bill_length_mm": 48.7, "bill_depth_mm": 14.1,
              "flipper_length_mm": 210, "body_mass_g": 4450, "sex": "male", "year": 2008}
    body = json.dumps({"dataframe_records": [record]}).encode()
    answer = app.handle("POST", "/invocations", "labels=true", "application/json", body)
    assert answer.status == 200
    assert json.loads(answer.body)["predictions"][0]["label"] == "Gentoo"  # the lab's request
    measured = tmp_path / "measured.csv"
    lines = palmer.path.read_text().splitlines()
    measured.write_text("\n".join(line for line in lines if "NA,NA,NA" not in line) + "\n")
    out = tmp_path / "scored.parquet"
    result = predict.run(make_config([*task, f"predict.input={measured}",
                                      f"predict.output={out}"]))
    assert result.rows == len([r for r in rows() if r[2] is not None])
    names = {r["predicted_label"] for r in spark.read.parquet(str(out)).collect()}
    assert names <= {"Adelie", "Gentoo", "Chinstrap"}
