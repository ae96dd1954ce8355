"""Hydra's features as its users expect them from `runner`: shell completion after a task verb,
the job's runner.log holding runner's lines, and hydra.job.chdir=true keeping relative paths
relative to the launch directory."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runner import console
from runner.cli import app, completion, launch_paths


def completions(cwd: Path, *lines: str) -> list[list[str]]:
    """What bash offers for each typed line (cursor at its end), through the script that
    ``runner -sc install=bash`` prints: the real completion query, one ``runner`` per line.
    Where runner offers nothing the script falls back to file names: ``cwd`` is empty."""
    script = ['eval "$(runner -sc install=bash)"']
    for line in lines:
        words = line.split(" ")  # bash's COMP_WORDS; a trailing space starts an empty word
        script += [f"COMP_LINE='{line}' COMP_POINT={len(line)} COMP_CWORD={len(words) - 1}",
                   "COMPREPLY=()", "hydra_bash_completion",
                   'echo "CANDIDATES: ${COMPREPLY[*]}"']
    bin_dir = os.path.dirname(sys.executable)
    if not os.path.exists(os.path.join(bin_dir, "runner")):
        pytest.skip("no installed runner script beside this interpreter")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "-c", "\n".join(script)], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    answers = [line.split(":", 1)[1].split() for line in proc.stdout.splitlines()
               if line.startswith("CANDIDATES:")]
    assert len(answers) == len(lines), proc.stdout + proc.stderr[-2000:]
    return answers


@pytest.mark.slow
def test_completion_after_a_task_verb_offers_that_tasks_keys(tmp_path: Path) -> None:
    after_verb, plain, serve, verb, reproduce = completions(
        tmp_path, "runner predict predict.inp", "runner predict.inp", "runner serve serving.po",
        "runner pre", "runner reproduce ")
    assert after_verb == plain
    assert {"predict.input=", "predict.input_format="} <= set(after_verb)
    assert serve == ["serving.port="]
    assert {"predict", "predict."} <= set(verb)  # the verb and the config group
    assert reproduce == []  # a run id follows, not overrides


@pytest.mark.parametrize(
    ("line", "point", "task", "verbs", "left"),
    [
        ("runner predict predict.inp", None, "predict", [], "runner predict.inp"),
        ("runner  serve  serving.port=1 ", 20, "serve", [], "runner  serving.port=1 "),
        ("runner pr", None, "train", ["predict"], "runner pr"),
        ("runner ", None, "train", list(app.TASKS), "runner "),
        ("runner model.maxIter=5 pre", None, "train", [], "runner model.maxIter=5 pre"),
    ],
)
def test_completion_line_loses_the_verb(monkeypatch: pytest.MonkeyPatch, line: str,
                                        point: int | None, task: str, verbs: list[str],
                                        left: str) -> None:
    monkeypatch.setenv("COMP_LINE", line)
    monkeypatch.setenv("COMP_POINT", str(len(line) if point is None else point))
    assert completion.query(["-sc", "query=bash"]) == (task, verbs)
    assert os.environ["COMP_LINE"] == left
    assert int(os.environ["COMP_POINT"]) <= len(left)
    assert completion.query(["model.maxIter=5"]) is None  # no query: nothing changes


@pytest.mark.parametrize(
    ("value", "launch_relative"),
    [("data/penguins.csv", True), ("./in.parquet", True), ("/abs/in.parquet", False),
     ("pkg://runner.resources/penguins.csv", False), ("models:/penguin-classifier@champion",
                                                      False), ("s3a://bucket/x.csv", False),
     ("runs:/abc/model", False), ("", False)],
)
def test_which_paths_mean_the_launch_directory(value: str, launch_relative: bool) -> None:
    assert launch_paths.is_relative_path(value) is launch_relative


@pytest.mark.parametrize(
    ("uri", "resolved"),
    [("sqlite:///store/mlflow.db", "sqlite:////launch/store/mlflow.db"),
     ("sqlite:////abs/mlflow.db", "sqlite:////abs/mlflow.db"),
     ("mlruns", "/launch/mlruns"), ("file:mlruns", "file:/launch/mlruns"),
     ("file:///abs/mlruns", "file:///abs/mlruns"), ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
     ("databricks", "databricks"), ("postgresql://u@127.0.0.1/db", "postgresql://u@127.0.0.1/db")],
)
def test_tracking_uris_resolved_against_the_launch_directory(uri: str, resolved: str) -> None:
    assert launch_paths.launch_uri(uri, "/launch") == resolved


def test_say_prints_once_and_writes_the_job_log(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    file_handler = logging.FileHandler(tmp_path / "runner.log")
    file_handler.setFormatter(logging.Formatter("[%(name)s][%(levelname)s] - %(message)s"))
    echo = logging.StreamHandler(sys.stdout)  # as Hydra's job logging has one
    level = root.level
    root.addHandler(file_handler)
    root.addHandler(echo)
    root.setLevel(logging.INFO)
    try:
        console.Progress(enabled=True).step("load data")
        console.say("line one\nline two", stream=sys.stdout)
        console.say("runner: error: bad", logging.ERROR)
    finally:
        root.removeHandler(file_handler)
        root.removeHandler(echo)
        root.setLevel(level)
        file_handler.close()
    out, err = capsys.readouterr()
    assert out == "line one\nline two\n"  # printed bare, not again through the console handler
    assert err.startswith("runner: load data (")
    assert err.endswith("runner: error: bad\n")
    log = (tmp_path / "runner.log").read_text().splitlines()
    assert log[0].startswith("[runner][INFO] - runner: load data (")
    assert log[1:] == ["[runner][INFO] - line one", "[runner][INFO] - line two",
                       "[runner][ERROR] - runner: error: bad"]


@pytest.mark.slow
def test_chdir_run_reads_and_writes_relative_to_the_launch_dir_and_logs_its_lines(
        tmp_path: Path) -> None:
    from importlib.resources import files

    (tmp_path / "data").mkdir()
    shutil.copy(str(files("runner.resources").joinpath("penguins.csv")),
                tmp_path / "data" / "penguins.csv")
    exe = os.path.join(os.path.dirname(sys.executable), "runner")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = subprocess.run(
        [exe, "hydra.job.chdir=true", "data.path=data/penguins.csv",
         "tracking.uri=sqlite:///store/mlflow.db", "hydra.run.dir=outputs/run",
         "tracking.log_datasets=false", "spark.master='local[2]'"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = tmp_path / "outputs" / "run"
    assert (tmp_path / "store" / "mlflow.db").exists()  # the launch dir's, not the run dir's
    assert not (run_dir / "store").exists()
    assert not (run_dir / "outputs").exists()
    log = (run_dir / "runner.log").read_text()
    progress_lines = [line for line in proc.stderr.splitlines() if line.startswith("runner: ")]
    assert progress_lines, proc.stderr[-2000:]
    for line in progress_lines:
        assert f"[runner][INFO] - {line}" in log
    run_id = next(line for line in proc.stdout.splitlines() if line.startswith("run id: "))
    assert f"[runner][INFO] - {run_id}" in log
    assert "[runner][INFO]" not in proc.stdout + proc.stderr  # no second copy on the console
