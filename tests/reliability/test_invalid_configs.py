"""Invalid configs, given the way a user gives them: each ends in ONE stderr line naming the key
(``runner: error: ...``), a non-zero exit, no JVM started and no MLflow run (issue 13).

Most run in-process through ``runner.cli.main`` (the console script's own function, Hydra and
all); a few through the real console script in a subprocess.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from runner import cli
from runner import spark as spark_mod

# (overrides, a substring the one-line message must contain: the key, and the range or hint)
CASES: list[tuple[list[str], str]] = [
    # Spark's own ranges, read from pyspark's Param docs (the Scala validators)
    (["model.maxIter=0"], "model.maxIter=0 is out of range"),
    (["serving.port=70000"], "serving.port=70000 is out of range"),  # any task: one config
    (["serving.workers=0"], "serving.workers=0 is out of range"),
    (["model.maxIter=-3"], "model.maxIter=-3"),
    (["model.regParam=-1"], "model.regParam=-1.0 is out of range: LogisticRegression.regParam "
                            "must be >= 0"),
    (["model.regParam=nan"], "model.regParam=nan"),
    (["model.elasticNetParam=2"], "model.elasticNetParam=2.0 is out of range: LogisticRegression"
                                  ".elasticNetParam must be in [0, 1]"),
    (["model.elasticNetParam=-0.1"], "model.elasticNetParam=-0.1"),
    (["model.tol=-0.001"], "model.tol=-0.001"),
    (["model.aggregationDepth=1"], "model.aggregationDepth=1 is out of range"),
    (["model.threshold=1.5"], "model.threshold=1.5"),
    (["model.maxBlockSizeInMB=-1"], "model.maxBlockSizeInMB=-1.0"),
    (["model=decision_tree", "model.maxDepth=31"], "model.maxDepth=31"),
    (["model=decision_tree", "model.maxDepth=-1"], "model.maxDepth=-1"),
    (["model=decision_tree", "model.maxBins=1"], "model.maxBins=1 is out of range"),
    (["model=decision_tree", "model.minInstancesPerNode=0"], "model.minInstancesPerNode=0"),
    (["model=decision_tree", "model.minWeightFractionPerNode=0.5"],
     "model.minWeightFractionPerNode=0.5"),
    (["model=decision_tree", "model.checkpointInterval=0"], "must be >= 1 or -1"),
    (["model=random_forest", "model.numTrees=0"], "model.numTrees=0"),
    (["model=random_forest", "model.subsamplingRate=0"], "model.subsamplingRate=0.0"),
    (["model=random_forest", "model.subsamplingRate=1.5"], "must be in (0, 1]"),
    (["model=random_forest", "model.minWeightFractionPerNode=-0.1"], "in [0.0, 0.5)"),
    (["model=gbt", "model.stepSize=0"], "model.stepSize=0.0"),
    (["model=gbt", "model.stepSize=2"], "GBTClassifier.stepSize must be in (0, 1]"),
    (["model=gbt", "model.maxIter=0"], "GBTClassifier.maxIter must be >= 1"),
    (["model=linear_svc", "model.regParam=-0.5"], "LinearSVC.regParam"),
    (["model=linear_svc", "model.maxIter=0"], "LinearSVC.maxIter"),
    (["model=linear_svc", "model.aggregationDepth=0"], "model.aggregationDepth=0"),
    (["model=naive_bayes", "model.smoothing=-1"], "model.smoothing=-1.0"),
    (["model=mlp", "model.maxIter=0"], "MultilayerPerceptronClassifier.maxIter"),
    (["model=mlp", "model.stepSize=-0.1"], "model.stepSize=-0.1"),
    (["model=mlp", "model.tol=-1"], "model.tol=-1.0"),
    (["model=mlp", "model.layers=[5,0,3]"], "model.layers=[5, 0, 3]"),
    (["model=mlp", "model.layers=[5]"], "model.layers=[5]"),
    (["model=mlp", "model.layers=[5,8,4]"], "the last layer must be the number of classes, 3"),
    (["model=mlp", "model.hidden_layers=[0]"], "model.hidden_layers=[0]"),
    (["model=fm", "model.regParam=-1"], "FMClassifier.regParam"),
    (["model=fm", "model.stepSize=-1"], "model.stepSize=-1.0"),
    (["model=fm", "model.maxIter=0"], "FMClassifier.maxIter"),
    (["features=poly_minmax", "features.stages.poly.degree=0"],
     "features.stages.poly.degree=0 is out of range"),
    (["features=quantile_onehot", "features.stages.binner.numBuckets=1"],
     "features.stages.binner.numBuckets=1"),
    (["features=quantile_onehot", "+features.stages.binner.relativeError=2"],
     "features.stages.binner.relativeError=2.0"),
    # runner's own numbers
    (["data.split.train=0"], "data.split.train=0.0 is out of range: must be in (0, 1]"),
    (["data.split.train=1.5"], "data.split.train=1.5"),
    (["data.split.test=-0.1"], "data.split.test=-0.1"),
    (["data.split.test=nan"], "data.split.test=nan"),
    (["data.split.train=0.8", "data.split.test=0.3"], "must be <= 1"),
    (["seed=18446744073709551616"], "seed=18446744073709551616"),
    (["data.split.seed=-18446744073709551616"], "data.split.seed="),
    (["evaluation.local_max_rows=-1"], "evaluation.local_max_rows=-1"),
    (["tracking.champion_margin=-0.1"], "tracking.champion_margin=-0.1"),
    (["tracking.champion_margin=inf"], "tracking.champion_margin=inf"),
    (["spark.quick_jit_below_mb=-1"], "spark.quick_jit_below_mb=-1"),
    (["spark.checkpoint_below_rows=-5"], "spark.checkpoint_below_rows=-5"),
    (["spark.log_level=LOUD"], "spark.log_level='LOUD'"),
    (["spark.master='local[0]'"], "spark.master='local[0]'"),
    (["spark.master=localhost"], "spark.master='localhost'"),
    # groups that disagree
    (["evaluation.primary=f1", "evaluation.metrics=[accuracy]"],
     "evaluation.primary=f1 is not in evaluation.metrics"),
    (["evaluation.primary=hammingLoss"], "evaluation.primary=hammingLoss is not in"),
    (["evaluation.metrics=[]"], "evaluation.metrics=[] is empty"),
    # unknown keys, added with + (Hydra's own hint for a typo) or not
    (["+new_key=1"], "new_key: no such key"),
    (["+tracking.experimentName=x"], "did you mean tracking.experiment_name?"),
    (["+data.lable=x"], "did you mean data.label?"),
    (["+data.split.trian=0.5"], "did you mean data.split.train?"),
    (["+evaluation.primay=f1"], "did you mean evaluation.primary?"),
    (["+spark.masterr=local"], "did you mean spark.master?"),
    (["+predict.input_fmt=csv"], "predict.input_fmt: no such key"),
    (["+features.output=x"], "did you mean features.output_col?"),
    (["+seeds=1"], "did you mean seed?"),
    (["model.maxIters=3"], "model.maxIters: no such key in runner's config; did you mean "
                           "model.maxIter?"),
    (["tracking.experimentName=x"], "did you mean tracking.experiment_name?"),
    (["data.lable=x"], "did you mean data.label?"),
    (["evaluation.primry=f1"], "did you mean evaluation.primary?"),
    (["+model.foo=1"], "LogisticRegression has no parameter(s) ['foo']"),
    (["+features.stages.scaler.mni=0"], "features.stages.scaler: MinMaxScaler has no parameter"),
    # structure: deleted groups, interpolations, types, group options, grammar
    (["~tracking"], "tracking: missing mandatory value"),
    (["~data"], "data: missing mandatory value"),
    (["~evaluation"], "evaluation: missing mandatory value"),
    (["seed=${missing}"], "seed: Interpolation key 'missing' not found"),
    (["data.label=${nope.x}"], "data.label"),
    (["model.maxIter=${model.nothing}"], "model.maxIter"),
    (["seed=[1,2]"], "seed: Value '[1, 2]' of type 'list' could not be converted to Integer"),
    (["seed={a:1}"], "seed"),
    (["model.regParam=[0.1]"], "model.regParam"),
    (["model.maxIter=foo"], "model.maxIter"),
    (["model.maxIter=1.5"], "model.maxIter"),
    (["data.split.train=abc"], "data.split.train"),
    (["evaluation.local_max_rows=lots"], "evaluation.local_max_rows"),
    (["spark.class_archive=maybe"], "spark.class_archive"),
    (["data.missing=sometimes"], "data.missing"),
    (["tracking.log_models=some"], "tracking.log_models"),
    (["predict.mode=sometimes"], "predict.mode"),
    (["evaluation.primary=auc"], "evaluation.primary"),
    (["evaluation.metrics=[accuracy,auc]"], "evaluation.metrics"),
    (["model=nope"], "Could not find 'model/nope'"),
    (["features=nope"], "Could not find 'features/nope'"),
    (["data=nope"], "Could not find 'data/nope'"),
    (["evaluation=nope"], "Could not find 'evaluation/nope'"),
    (["model._target_=os.system"], "model._target_='os.system' is not allowed"),
    (["model._target_=pyspark.ml.feature.StringIndexer"], "is not a classifier"),
    (["model.maxIter=("], "Error parsing override 'model.maxIter=('"),
    (["model.regParam=[0.1"], "Error parsing override 'model.regParam=[0.1'"),
    (["model.maxIter"], "model.maxIter"),
    (["spark.master=local[2]"], "Error parsing override 'spark.master=local[2]'"),
]


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tmp cwd, MLflow store and cache; every way of starting Spark records that it was asked."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("RUNNER_CACHE_DIR", str(tmp_path / "cache"))
    started: list[str] = []
    for name in ("get_session", "start_async"):
        monkeypatch.setattr(spark_mod, name, lambda *a, _n=name, **k: started.append(_n))
    monkeypatch.setattr("sys.argv", ["runner"])
    monkeypatch.setattr(spark_mod, "_started_for_test", started, raising=False)
    return tmp_path


def _runs(store: Path) -> int:
    if not store.exists():
        return 0
    with sqlite3.connect(store) as db:
        tables = {r[0] for r in db.execute("select name from sqlite_master")}
        return db.execute("select count(*) from runs").fetchone()[0] if "runs" in tables else 0


def _assert_one_line_error(code: object, stderr: str, expected: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code not in (0, None), stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("runner: error: "), stderr
    assert expected in lines[0], lines[0]


def test_the_table_has_at_least_80_cases() -> None:
    assert len(CASES) >= 80
    assert len({tuple(o) for o, _ in CASES}) == len(CASES)  # no case twice


@pytest.mark.parametrize(("overrides", "expected"), CASES, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else "")
def test_invalid_config_is_one_line_before_the_jvm(
    overrides: list[str], expected: str, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(overrides)
    _assert_one_line_error(exit_.value.code, capsys.readouterr().err, expected)
    assert spark_mod._started_for_test == []  # type: ignore[attr-defined]
    assert _runs(isolated / "mlflow.db") == 0


def test_a_sweep_with_primary_not_in_metrics_is_refused_before_any_trial(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["-m", "evaluation.primary=f1", "evaluation.metrics=[accuracy]",
                  "model.maxIter=1,2"])
    _assert_one_line_error(exit_.value.code, capsys.readouterr().err,
                           "evaluation.primary=f1 is not in evaluation.metrics")
    assert spark_mod._started_for_test == []  # type: ignore[attr-defined]
    assert _runs(isolated / "mlflow.db") == 0


def test_a_user_who_asks_for_hydras_full_error_gets_the_traceback(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException):
        cli.main(["model.maxIters=3"])


SUBPROCESS_CASES = [
    (["model.maxIters=3"], "did you mean model.maxIter?"),
    (["~tracking"], "tracking: missing mandatory value"),
    (["+tracking.experimentName=x"], "did you mean tracking.experiment_name?"),
    (["model.regParam=-1", "model.elasticNetParam=0.5"],
     "LogisticRegression.regParam must be >= 0"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("overrides", "expected"), SUBPROCESS_CASES,
                         ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_the_console_script_prints_one_line(overrides: list[str], expected: str,
                                            tmp_path: Path) -> None:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
           "RUNNER_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("HYDRA_FULL_ERROR", None)
    runner = Path(sys.executable).parent / "runner"  # the console script, installed copy
    proc = subprocess.run([str(runner), *overrides], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    _assert_one_line_error(proc.returncode, proc.stderr, expected)
    assert not (tmp_path / "mlflow.db").exists()
    assert not (tmp_path / "cache").exists()  # no JVM was started with a class archive
