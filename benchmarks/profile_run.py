"""Run ``runner`` with timers on its phases: ``python benchmarks/profile_run.py OUT.json [args]``.

The child process of ``benchmarks/cold_run.py --profile``. Before runner is imported it installs
an import hook that wraps, as each module finishes loading, the functions named in ``SPANS`` (and
MLflow's client methods, and py4j's one call into the JVM) with a timer, and times every import
of a library. Nothing in runner changes: the run is the one a user gets, plus the timers
(microseconds each). At exit it writes every span (name, thread, start and end on the
``time.time()`` clock) to OUT.json; ``cold_run.py`` adds the Spark jobs from the JVM's event log
(``SPARK_CONF_DIR``, set by the parent) and prints the table.
"""

# ruff: noqa: T201 - a benchmark's output is what it prints
from __future__ import annotations

import atexit
import functools
import importlib.abc
import importlib.machinery
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

STARTED = time.time()

# module -> {attribute (``Class.method`` for a method): phase}. A name a refactor moved is
# reported as missing, never an error.
SPANS: dict[str, dict[str, str]] = {
    "runner.cli.entry": {"main": "runner main"},
    "runner.train.steps": {"run": "train.run", "prepare": "prepare", "fit": "fit (wait)",
                           "evaluate_and_log": "evaluate and log (wait)",
                           "log_inputs": "log inputs (config, params, dataset)"},
    "runner.pipeline.assemble": {"check": "config check",
                                 "build_pipeline": "pipeline build"},
    "runner.tracking.connect": {"check_store": "store check", "configure": "store open"},
    "runner.spark.session": {"_create_session": "JVM + SparkContext start",
                             "_java": "java -version"},
    "runner.data.schema": {"_read_kinds": "schema inference (pandas)"},
    "runner.data.dataset": {"_prepare": "read, profile, split (Spark)",
                            "_profile": "profile job"},
    "runner.data.labels": {"label_classes": "label classes"},
    "runner.pipeline.fitting": {"fit": "fit (Spark)", "collected": "collect splits"},
    "runner.train.evaluation": {"score": "evaluation", "log_evaluation": "log metrics, figure"},
    "runner.pipeline.evaluate": {"confusion_figure": "confusion figure (matplotlib)"},
    "runner.train.publish": {"input_example": "input example",
                             "log_fitted_model": "model log (total)",
                             "register": "register + promote", "promote": "promotion"},
    "runner.tracking.flavor": {"save_model": "model save (all files)",
                               "write_compiled_pyfunc": "compiled scorer files"},
    "runner.compiled": {"compile_pipeline": "scorer compile"},
    "runner.spark.model_files": {"write_model": "Spark model write"},
    "runner.tracking.models": {"register": "registration"},
    "runner.tracking.runs": {"run": "MLflow run (open)"},
    "runner.sweep.trials": {"run": "sweep trial"},
}
# Every public method of these classes is one ``mlflow: <method>`` span: every store write and
# read of a run goes through them
CLIENT_CLASSES = {"mlflow.tracking.client": "MlflowClient"}
spans: list[dict[str, Any]] = []
missing: list[str] = []
_depth = threading.local()


def _record(name: str, group: str, start: float, end: float, nested: bool) -> None:
    spans.append({"name": name, "group": group, "start": start, "end": end,
                  "thread": threading.current_thread().name, "nested": nested})


def _timed(fn: Callable[..., Any], name: str, group: str) -> Callable[..., Any]:
    """``fn`` recording a span per call; ``nested`` when a span of the same group is open in
    this thread (a client method calling another), so sums count only the outer ones."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        depth = getattr(_depth, group, 0)
        setattr(_depth, group, depth + 1)
        start = time.time()
        try:
            return fn(*args, **kwargs)
        finally:
            _record(name, group, start, time.time(), depth > 0)
            setattr(_depth, group, depth)

    wrapper.__profiled__ = True  # type: ignore[attr-defined]
    return wrapper


def _wrap(module: Any, attr: str, name: str, group: str) -> None:
    owner, _, method = attr.rpartition(".")
    target = getattr(module, owner) if owner else module
    fn = getattr(target, method or attr, None)
    if fn is None or getattr(fn, "__profiled__", False):
        missing.append(f"{module.__name__}.{attr}")
        return
    setattr(target, method or attr, _timed(fn, name, group))


def _patch(module: Any) -> None:
    for attr, name in SPANS.get(module.__name__, {}).items():
        _wrap(module, attr, name, "runner")
    if module.__name__ in CLIENT_CLASSES:
        cls = getattr(module, CLIENT_CLASSES[module.__name__])
        for attr, value in list(vars(cls).items()):
            if callable(value) and not attr.startswith("_"):
                setattr(cls, attr, _timed(value, f"mlflow: {attr}", "mlflow"))
    if module.__name__ == "py4j.clientserver":
        cls = module.ClientServerConnection
        cls.send_command = _timed(cls.send_command, "py4j call", "py4j")


class _Loader(importlib.abc.Loader):
    """Times a library's import (outermost per thread) and patches a module once loaded."""

    def __init__(self, inner: importlib.abc.Loader) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:  # resource readers, is_package, get_code ...
        return getattr(self.inner, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self.inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        top = module.__name__.partition(".")[0]
        outer = top != "runner" and not getattr(_depth, "library", 0)
        _depth.library = getattr(_depth, "library", 0) + (top != "runner")
        start = time.time()
        try:
            self.inner.exec_module(module)
        finally:
            _depth.library -= top != "runner"
            if outer:
                _record(f"import {top}", "import", start, time.time(), False)
        _patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader)
                return spec
        return None


def _write(out: str) -> None:
    with open(out, "w") as fh:
        json.dump({"started": STARTED, "exited": time.time(), "spans": spans,
                   "missing": missing}, fh)


def spark_jobs(logs: list[str]) -> list[dict[str, Any]]:
    """Each Spark job of an event log: id, call site, submission and completion (epoch s)."""
    jobs: dict[int, dict[str, Any]] = {}
    for log in logs:
        with open(log) as fh:
            for line in fh:
                event = json.loads(line)
                kind = event.get("Event")
                if kind == "SparkListenerJobStart":
                    props = event.get("Properties") or {}
                    site = props.get("spark.job.description") or props.get("callSite.short", "")
                    jobs[event["Job ID"]] = {"id": event["Job ID"], "site": site,
                                             "start": event["Submission Time"] / 1000,
                                             "end": None}
                elif kind == "SparkListenerJobEnd" and event["Job ID"] in jobs:
                    jobs[event["Job ID"]]["end"] = event["Completion Time"] / 1000
    return [j for j in jobs.values() if j["end"] is not None]


def _phase_of(at: float, runner_spans: list[dict[str, Any]]) -> str:
    """The innermost runner phase open at ``at`` that is not a wait."""
    open_ = [s for s in runner_spans if s["start"] <= at <= s["end"]
             and "(wait)" not in s["name"] and s["name"] not in ("runner main", "train.run")]
    return min(open_, key=lambda s: s["end"] - s["start"])["name"] if open_ else "-"


def _site(site: str) -> str:
    """``collect at /long/path/runner/pipeline/fitting.py:73`` as ``collect at fitting.py:73``."""
    verb, _, where = site.partition(" at ")
    return f"{verb} at {os.path.basename(where)}" if where else site


def table(record: dict[str, Any], logs: list[str], origin: float, wall: float,
          what: str = "one cold run") -> str:
    """Where the run's wall time went, as text: phases, imports, MLflow calls, Spark jobs."""
    spans_ = record["spans"]
    runner_spans = [s for s in spans_ if s["group"] == "runner"]
    lines = [f"profile of {what} ({wall:.1f} s wall, existing store); seconds from the process "
             "start; a phase called more than once: its calls' sum",
             f"{'phase':<46}{'thread':<14}{'from':>7}{'to':>7}{'seconds':>9}"]

    def row(name: str, thread: str, start: float, end: float, seconds: float | None = None,
            calls: int = 1) -> None:
        label = f"{name} (x{calls})" if calls > 1 else name
        secs = end - start if seconds is None else seconds
        lines.append(f"{label:<46}{thread[:13]:<14}{start - origin:>7.2f}{end - origin:>7.2f}"
                     f"{secs:>9.2f}")

    row("interpreter start", "main", origin, record["started"])
    main_span = next((s for s in runner_spans if s["name"] == "runner main"), None)
    if main_span:
        row("imports: runner.cli, hydra, omegaconf", "MainThread", record["started"],
            main_span["start"])
    train = next((s for s in runner_spans if s["name"] == "train.run"), None)
    if main_span and train:
        row("Hydra: compose, run dir, config check", "MainThread", main_span["start"],
            train["start"])
    names = list(dict.fromkeys(s["name"] for s in sorted(runner_spans, key=lambda s: s["start"])))
    for name in names:
        if name in ("runner main",):
            continue
        calls = [s for s in runner_spans if s["name"] == name]
        outer = [s for s in calls if not s["nested"]] or calls
        row(name, calls[0]["thread"].replace("ThreadPoolExecutor-", "pool-"),
            min(s["start"] for s in calls), max(s["end"] for s in calls),
            sum(s["end"] - s["start"] for s in outer), len(calls))
    last = max(s["end"] for s in spans_)
    row("after the last phase: exit, JVM stop", "MainThread", last, origin + wall)
    lines.append(f"{'total':<74}{wall:>9.2f}")
    lines += _imports(spans_, origin) + _client(spans_) + _jobs(logs, runner_spans, origin)
    if record["missing"]:
        lines.append("not found (renamed?): " + ", ".join(record["missing"]))
    return "\n".join(lines)


def per_trial(record: dict[str, Any]) -> str:
    """A sweep's warm trials (all but the first two, which wait for the JVM and the data):
    medians of a trial's wall time, its wait for its fit, its MLflow client calls, the rest.

    Counted on the trial's own thread: with n_jobs=2 the Spark pool serves both trials at once,
    so a pool span inside a trial's window may be the other trial's."""
    import statistics

    spans_ = record["spans"]
    trials = sorted((s for s in spans_ if s["name"] == "sweep trial"), key=lambda s: s["start"])
    rows: dict[str, list[float]] = {"trial": [], "fit (its wait for the fit)": [],
                                    "MLflow client calls": [],
                                    "the rest (prepare, evaluation, figure, ...)": []}
    for trial in trials[2:]:
        own = [s for s in spans_ if s["thread"] == trial["thread"]
               and trial["start"] <= s["start"] and s["end"] <= trial["end"]]
        fit = sum(s["end"] - s["start"] for s in own if s["name"] == "fit (wait)")
        client = sum(s["end"] - s["start"] for s in own
                     if s["group"] == "mlflow" and not s["nested"])
        total = trial["end"] - trial["start"]
        for key, value in zip(rows, (total, fit, client, total - fit - client), strict=True):
            rows[key].append(value)
    if not rows["trial"]:
        return "fewer than 3 trials: no warm trial to profile"
    lines = [f"warm trials ({len(rows['trial'])}), medians in seconds, on each trial's thread"]
    lines += [f"  {key:<44}{statistics.median(v):>8.3f}" for key, v in rows.items()]
    return "\n".join(lines)


def _imports(spans_: list[dict[str, Any]], origin: float) -> list[str]:
    imports = [s for s in spans_ if s["group"] == "import"]
    by_top: dict[str, float] = {}
    for s in imports:
        by_top[s["name"]] = by_top.get(s["name"], 0.0) + s["end"] - s["start"]
    main = sum(s["end"] - s["start"] for s in imports if s["thread"] == "MainThread")
    top = sorted(by_top.items(), key=lambda kv: -kv[1])[:10]
    return ["", f"library imports: {sum(by_top.values()):.2f} s ({main:.2f} s on the main "
            "thread); largest: " + ", ".join(f"{n[7:]} {t:.2f}" for n, t in top)]


def _client(spans_: list[dict[str, Any]]) -> list[str]:
    calls = [s for s in spans_ if s["group"] == "mlflow" and not s["nested"]]
    by_name: dict[str, list[float]] = {}
    for s in calls:
        by_name.setdefault(s["name"][8:], []).append(s["end"] - s["start"])
    top = sorted(by_name.items(), key=lambda kv: -sum(kv[1]))
    py4j = [s["end"] - s["start"] for s in spans_ if s["group"] == "py4j"]
    return [f"MLflow client calls: {len(calls)}, {sum(sum(v) for v in by_name.values()):.2f} s: "
            + ", ".join(f"{n} x{len(v)} {sum(v):.2f}" for n, v in top[:12]),
            f"py4j calls into the JVM: {len(py4j)}, {sum(py4j):.2f} s"]


def _jobs(logs: list[str], runner_spans: list[dict[str, Any]], origin: float) -> list[str]:
    jobs = spark_jobs(logs)
    if not jobs:
        return ["Spark jobs: none found in the event log"]
    out = [f"Spark jobs: {len(jobs)}, {sum(j['end'] - j['start'] for j in jobs):.2f} s",
           f"{'  job':<8}{'from':>7}{'seconds':>9}  {'phase':<32}call site"]
    for j in sorted(jobs, key=lambda j: j["id"]):
        out.append(f"  {j['id']:<6}{j['start'] - origin:>7.2f}{j['end'] - j['start']:>9.2f}  "
                   f"{_phase_of(j['start'], runner_spans)[:31]:<32}{_site(j['site'])[:60]}")
    return out


def profiled(work: str, env: dict[str, str], args: list[str], what: str) -> tuple[str, dict]:
    """Run ``runner args`` in ``work`` under this module with Spark's event log on (the parent's
    side): the profile table, and the spans as recorded."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        conf_dir, events = os.path.join(tmp, "conf"), os.path.join(tmp, "events")
        os.makedirs(conf_dir)
        os.makedirs(events)
        with open(os.path.join(conf_dir, "spark-defaults.conf"), "w") as fh:
            fh.write(f"spark.eventLog.enabled true\nspark.eventLog.dir file://{events}\n"
                     "spark.eventLog.compress false\nspark.eventLog.rolling.enabled false\n")
        out = os.path.join(tmp, "spans.json")
        started = time.time()
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), out, *args], cwd=work,
                              env={**env, "SPARK_CONF_DIR": conf_dir}, capture_output=True,
                              text=True, check=False)
        wall = time.time() - started
        if proc.returncode != 0:
            sys.exit(f"profiled runner failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        with open(out) as fh:
            record = json.load(fh)
        logs = [os.path.join(folder, name) for folder, _, names in os.walk(events)
                for name in names if not name.startswith(".")]
        return table(record, logs, started, wall, what), record


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    sys.meta_path.insert(0, _Finder())
    atexit.register(_write, out)
    sys.argv = ["runner", *args]
    from runner.cli import main as runner_main

    runner_main(args)


if __name__ == "__main__":
    main()
