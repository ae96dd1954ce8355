"""The full kill check of issue 13: kill -9 a 12-trial sweep at random moments, from a fresh store
(store creation included), resume it each time with the same command, then count.

    .venv/bin/python -m tests.reliability.killcheck [--kills 10] [--seed 13] [--trials 12]

Each kill comes a random time after the command starts (uniform over [0, --span] seconds): the
kills land in every phase (imports, Optuna and MLflow store creation, study setup, parent run,
trials, the best model's logging), and each resumed run gets a few trials further.
The process group is killed (the JVM too). Prints each kill point (seconds after start and the
last line the sweep printed) and the final counts; exit 0 when they are what the issue asks:
exactly 12 COMPLETE trials, one FINISHED parent, 12 FINISHED children, none RUNNING, one
registered version.
"""

# ruff: noqa: T201 - a script whose output is its report
from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.reliability.test_sweep_faults import _assert_one_best, counts

ARGS = ["hydra/sweeper=optuna", "hydra.sweeper.sampler.seed=11", "spark.master='local[2]'",
        "model.regParam=interval(0.001,1.0)", "model.maxIter=range(5,30)",
        "model.elasticNetParam=choice(0.0,0.5,1.0)"]


def start(workdir: Path, n_trials: int) -> tuple[subprocess.Popen, list[str]]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}"}
    env.pop("RUNNER_TEST_KILL_AT", None)
    proc = subprocess.Popen([sys.executable, "-m", "runner.cli", "-m", *ARGS,
                             f"hydra.sweeper.n_trials={n_trials}"], cwd=workdir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip())

    threading.Thread(target=read, daemon=True).start()
    return proc, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--span", type=float, default=90.0)
    parser.add_argument("--dir", default=None, help="work dir (default: a fresh temp dir)")
    opts = parser.parse_args()
    rng = random.Random(opts.seed)
    workdir = Path(opts.dir or tempfile.mkdtemp(prefix="killcheck-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"work dir {workdir}; seed {opts.seed}", flush=True)
    for kill in range(1, opts.kills + 1):
        delay = rng.uniform(0.0, opts.span)
        proc, lines = start(workdir, opts.trials)
        began = time.monotonic()
        try:
            proc.wait(timeout=delay)
            print(f"kill {kill:2d}: the run ended by itself after "
                  f"{time.monotonic() - began:.1f} s (rc {proc.returncode}) before its kill "
                  f"at {delay:.1f} s; last line: {lines[-1] if lines else ''}", flush=True)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            print(f"kill {kill:2d}: kill -9 at {delay:5.1f} s; last line: "
                  f"{(lines[-1] if lines else '(nothing printed yet)')[:110]}", flush=True)
    proc, lines = start(workdir, opts.trials)
    proc.wait(timeout=3600)
    time.sleep(0.2)
    print(f"final run: rc {proc.returncode}; " + " | ".join(lines[-3:])[:300], flush=True)
    found = counts(workdir)
    print(f"final counts: {found}", flush=True)
    wanted = {"complete": opts.trials, "trials_running": 0, "parents": 1, "parents_finished": 1,
              "children_finished": opts.trials, "runs_running": 0, "versions": 1}
    ok = proc.returncode == 0 and found == wanted
    if ok:
        _assert_one_best(workdir)
        print("Optuna's best trial is the parent's best run and the registered champion")
    print("PASS" if ok else f"FAIL: wanted {wanted}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
