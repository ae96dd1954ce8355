"""The full kill check of issue 13: kill -9 a 12-trial sweep at random moments, from a fresh store
(store creation included), resume it each time with the same command, then count.

    .venv/bin/python -m tests.reliability.killcheck [--kills 10] [--seed 13] [--trials 12]

The first --early kills come a random time after the command starts (uniform over
[0, --early-span] s): imports, Optuna and MLflow store creation, study setup, the parent run. The
others come a random time after the sweep says it has opened the study (uniform over [0, --span]
s): trials, tells, the end of the sweep and the best model's logging; on a busy host the JVM's
start alone takes a minute, so kills timed from the start would never reach the late phases.
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
    parser.add_argument("--early", type=int, default=3)
    parser.add_argument("--early-span", type=float, default=60.0)
    parser.add_argument("--span", type=float, default=150.0)
    parser.add_argument("--dir", default=None, help="work dir (default: a fresh temp dir)")
    opts = parser.parse_args()
    rng = random.Random(opts.seed)
    workdir = Path(opts.dir or tempfile.mkdtemp(prefix="killcheck-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"work dir {workdir}; seed {opts.seed}", flush=True)
    for kill in range(1, opts.kills + 1):
        early = kill <= opts.early
        delay = rng.uniform(0.0, opts.early_span if early else opts.span)
        proc, lines = start(workdir, opts.trials)
        if not early:  # time the kill from the moment the study is open
            deadline = time.monotonic() + 900
            while proc.poll() is None and time.monotonic() < deadline and not any(
                    x.startswith("[sweep] study") for x in lines):
                time.sleep(0.05)
        point = f"{delay:5.1f} s after {'the start' if early else 'the study opened'}"
        try:
            proc.wait(timeout=delay)
            print(f"kill {kill:2d}: the run ended by itself (rc {proc.returncode}) before its "
                  f"kill at {point}; last line: {lines[-1] if lines else ''}", flush=True)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            print(f"kill {kill:2d}: kill -9 at {point}; last line: "
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
