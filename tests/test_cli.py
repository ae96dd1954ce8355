"""The `runner` console script end to end, in a subprocess, as a user runs it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def runner(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """Run the installed console script (or the module when it is not on PATH)."""
    exe = shutil.which("runner", path=os.path.dirname(sys.executable))
    cmd = [exe] if exe else [sys.executable, "-c", "from runner.cli import main; main()"]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.run(
        [*cmd, *args, "spark.master='local[2]'"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_default_run_then_reproduce(tmp_path: Path) -> None:
    first = runner(cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "registered: penguin-classifier version 1" in first.stdout
    assert "mlflow ui --backend-store-uri sqlite:///" in first.stdout
    assert (tmp_path / "outputs" / "mlflow.db").exists()  # the embedded default store
    assert "Traceback" not in first.stderr
    run_id = re.search(r"run id: (\w+)", first.stdout).group(1)

    again = runner("reproduce", run_id, cwd=tmp_path)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert f"reproduced {run_id}" in again.stdout
    assert "metrics match" in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["data.path=/nonexistent/penguins.csv"],
            "data.path: file not found: /nonexistent/penguins.csv",
        ),
        (["data.label=Island"], "reads the label 'Island', which serving requests lack"),
        (["model._target_=os.system"], "is not allowed"),
    ],
)
def test_user_errors_are_one_line_and_exit_non_zero(
    tmp_path: Path, args: list[str], message: str
) -> None:
    proc = runner(*args, cwd=tmp_path)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_values_in_data_fail_with_the_column_and_leave_no_running_run(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(
        "Island,CulmenLength,CulmenDepth,FlipperLength,BodyMass,Species\n"
        "Biscoe,48.7,14.1,210,4450,1\nDream,oops,17,190,3500,0\n"
    )
    proc = runner(f"data.path={csv}", cwd=tmp_path)
    assert proc.returncode == 1
    assert "column 'CulmenLength': 1 value(s) do not cast to double, e.g. 'oops'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_reproduce_needs_a_run_id(tmp_path: Path) -> None:
    proc = runner("reproduce", cwd=tmp_path)
    assert proc.returncode == 2
    assert "usage: runner reproduce" in proc.stderr
