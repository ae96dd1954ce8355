"""What a sweep reports: its overrides, the trials table, plots and the end-of-sweep summary.

Everything here reads the child runs MLflow holds, so a sweep resumed after an interruption
reports every trial, not only those of the last process.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
import threading
import warnings
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, ListConfig

from runner import tracking
from runner.compat import hydra as compat_hydra
from runner.console import out
from runner.sweep.contract import PRUNED, STATES
from runner.sweep.objectives import Goals, lower_is_better
from runner.sweep.runs import STATE_TAG, TRIAL_TAG, trial_number, trial_params

TRIALS_ARTIFACT = "trials.csv"
PARETO_ARTIFACT = "pareto.csv"  # multi-objective sweeps: the trials on the Pareto front
PARETO_PLOT = "pareto_front.png"
FRONT_COLUMN = "on_pareto_front"
SCORES_PLOT = "trial_scores.png"  # each trial's score and its spread across folds
# A trial's fold scores are logged as <metric>_fold_<k> and their spread as <metric>_std
# (runner.pipeline.cv: val_accuracy_fold_0, val_accuracy_std)
FOLD_SUFFIX, STD_SUFFIX = "_fold_", "_std"
COMPLETE = "COMPLETE"
# The summary's word and the parent's trials_<word> metric for each state
_COUNTED = {"COMPLETE": "finished", "PRUNED": "pruned", "FAIL": "failed",
            "INTERRUPTED": "killed"}
_PLOTS = {
    "optimization_history.png": "plot_optimization_history",
    "param_importances.png": "plot_param_importances",
    "parallel_coordinate.png": "plot_parallel_coordinate",
}


def sweeper_params(sweeper: DictConfig) -> dict[str, str]:
    """The sweeper's own settings worth keeping on the parent run (n_trials, sampler, ...)."""
    keep = ("n_trials", "study_name", "storage", "max_failure_rate", "n_jobs")
    params = {f"sweeper.{k}": sweeper.get(k) for k in keep if sweeper.get(k) is not None}
    direction = sweeper.get("direction")
    if direction is not None:  # maximize, or maximize,minimize (multi-objective)
        given = direction if isinstance(direction, (list, ListConfig)) else [direction]
        params["sweeper.direction"] = ",".join(getattr(d, "name", str(d)) for d in given)
    sampler = sweeper.get("sampler")
    if sampler is not None:
        params["sweeper.sampler"] = str(sampler.get("_target_", "")).rsplit(".", 1)[-1]
        params["sweeper.sampler.seed"] = sampler.get("seed")
    pruner = sweeper.get("pruner")
    if pruner is not None:
        params["sweeper.pruner"] = str(pruner.get("_target_", "")).rsplit(".", 1)[-1]
    for key, space in (sweeper.get("params") or {}).items():
        params[f"sweep.{key}"] = space
    return {k: str(v) for k, v in params.items() if v is not None}


def describe(config: DictConfig) -> tuple[str, list[str], int | None]:
    """Kind of sweep, swept keys and job count. The Optuna sweeper fills in the last two itself."""
    target = str(config.hydra.sweeper.get("_target_", ""))
    if "optuna" in target.lower():
        return "optuna", [], None
    arguments = [f"{k}={v}" for k, v in (config.hydra.sweeper.get("params") or {}).items()]
    arguments += list(config.hydra.overrides.task)
    parsed = OverridesParser.create().parse_overrides(arguments)
    swept = [o.get_key_element() for o in parsed if o.is_sweep_override()]
    batches = compat_hydra.grid_batches(parsed)
    return "grid", swept, sum(len(batch) for batch in batches)


def trial_state(child: tracking.ChildRun) -> str:
    """A trial's state read from its run: COMPLETE, PRUNED, FAIL, or INTERRUPTED (killed)."""
    if child.tags.get(STATE_TAG) == PRUNED:
        return PRUNED
    return {"FINISHED": "COMPLETE", "FAILED": "FAIL"}.get(child.status, "INTERRUPTED")


def folds(child: tracking.ChildRun, metric: str) -> list[float]:
    """The fold scores of ``metric`` a trial logged (``<metric>_fold_<k>``), in fold order."""
    found = {}
    for name, value in child.metrics.items():
        head, _, k = name.rpartition(FOLD_SUFFIX)
        if head == metric and k.isdigit():
            found[int(k)] = value
    return [found[k] for k in sorted(found)]


def spread(child: tracking.ChildRun, metric: str) -> float | None:
    """The standard deviation of a trial's fold scores (None without two folds): the one it
    logged, else computed from its fold scores (a pruned trial's, logged so far)."""
    if f"{metric}{STD_SUFFIX}" in child.metrics:
        return child.metrics[f"{metric}{STD_SUFFIX}"]
    scores = folds(child, metric)
    return statistics.pstdev(scores) if len(scores) > 1 else None


def trials_csv(children: list[tracking.ChildRun], primary: str,
               front: set[int] | None = None) -> str:
    """One row per trial: number, run id, status, state (``trial_state``: a pruned one is
    PRUNED), the swept values, the primary metric's spread across folds, every metric (fold
    scores included); with the ``front`` of a multi-objective sweep, whether the trial is on
    it."""
    keys = sorted({k for c in children for k in trial_params(c)})
    metrics = sorted({k for c in children for k in c.metrics} - {primary,
                                                                  f"{primary}{STD_SUFFIX}"})
    marked = [FRONT_COLUMN] if front is not None else []
    spreads = [spread(c, primary) for c in children]
    std = [f"{primary}{STD_SUFFIX}"] if any(v is not None for v in spreads) else []
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["trial", "run_id", "status", "state", *marked, primary, *std, *keys,
                     *metrics, "error"])
    for c, sd in zip(children, spreads, strict=True):
        params = trial_params(c)
        on = [str(trial_number(c) in front).lower()] if front is not None else []
        writer.writerow([c.tags.get(TRIAL_TAG, ""), c.run_id, c.status, trial_state(c), *on,
                         c.metrics.get(primary, ""), *(["" if sd is None else sd] if std else []),
                         *[params.get(k, "") for k in keys],
                         *[c.metrics.get(m, "") for m in metrics],
                         c.tags.get(tracking.ERROR_TAG, "")])
    return out.getvalue()


def log_results(run_id: str, children: list[tracking.ChildRun], best: tracking.ChildRun | None,
                goals: Goals, front: set[int] | None, study: Any = None,
                counts: dict[str, int] | None = None) -> None:
    """Best params/value/run id, counts, the trials table and the plots, on the parent run.

    ``front``: a multi-objective sweep's Pareto front (trial numbers); ``study``: Optuna's, for
    the plots (a grid's is built from the runs); ``counts``: trials by state (``STATES``),
    from the study when there is one, else from the runs."""
    counts = counts or state_counts(children)
    metrics = {f"trials_{_COUNTED[s]}": float(n) for s, n in counts.items()}
    params: dict[str, Any] = {}
    tags = {}
    if best is not None:
        metrics[f"best_{goals.primary}"] = best.metrics[goals.primary]
        params = {f"best.{k}": v for k, v in trial_params(best).items()}
        tags = {tracking.SWEEP_TAG + "best_run_id": best.run_id,
                tracking.SWEEP_TAG + "best_trial": best.tags.get(TRIAL_TAG, "")}
    if front is not None:
        metrics["pareto_front_size"] = float(len(front))
    tracking.log_to_run(run_id, params=params, metrics=metrics, tags=tags)
    tracking.log_run_text(run_id, trials_csv(children, goals.primary, front), TRIALS_ARTIFACT)
    if front is not None:
        on_front = [c for c in children if trial_number(c) in front]
        tracking.log_run_text(run_id, trials_csv(on_front, goals.primary), PARETO_ARTIFACT)
    figure = scores_figure(children, goals.primary)
    if figure is not None:
        tracking.log_run_figure(run_id, figure, SCORES_PLOT)
    study = study or _study_from_runs(children, goals.primary, goals.greater)
    for name, figure in plots(study, list(goals.objectives), goals.primary):
        tracking.log_run_figure(run_id, figure, name)


def state_counts(children: list[tracking.ChildRun]) -> dict[str, int]:
    """Trials by state, read from their runs (a grid sweep's: it has no study)."""
    states = [trial_state(c) for c in children]
    return {s: states.count(s) for s in STATES}


def scores_figure(children: list[tracking.ChildRun], primary: str) -> Any:
    """Each trial's score with its spread across folds (a bar of one standard deviation either
    side), pruned trials marked apart; None when no trial has a score."""
    import matplotlib.pyplot as plt

    shown = [c for c in children if primary in c.metrics]
    if not shown:
        return None
    figure, ax = plt.subplots(figsize=(9, 5.5))
    for state, marker in ((COMPLETE, "o"), (PRUNED, "x")):
        some = [c for c in shown if trial_state(c) == state]
        if some:
            ax.errorbar([trial_number(c) for c in some], [c.metrics[primary] for c in some],
                        yerr=[spread(c, primary) or 0.0 for c in some], fmt=marker,
                        capsize=3, label=state.lower())
    ax.set(xlabel="trial", ylabel=primary, title=f"{primary} per trial, spread across folds")
    ax.legend()
    figure.tight_layout()
    plt.close(figure)
    return figure


def preload_end() -> None:
    """Prepare the end of the sweep in a background thread while trials run: optuna's parameter
    importances (fANOVA) import scikit-learn (~2 s) and MLflow maps the installed packages
    before it logs the best model (~0.25 s)."""
    threading.Thread(target=_prepare_end, name="preload-end", daemon=True).start()


def _prepare_end() -> None:
    try:
        import optuna.importance  # noqa: F401 - imported for its side effect: loaded modules
        import optuna.visualization.matplotlib  # noqa: F401

        tracking.warm_up_model_logging()
    except Exception:  # noqa: BLE001 - the end does it again and reports what fails
        return


def plots(study: Any, objectives: list[str] | None = None, primary: str | None = None
          ) -> list[tuple[str, Any]]:
    """Optuna's matplotlib plots; one that cannot be drawn (too few trials) is left out. A
    multi-objective study gets its Pareto front, and the other plots of the primary metric
    (or of the first objective, when the primary is not one)."""
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as vis
    from optuna.exceptions import ExperimentalWarning

    figures = []
    kwargs: dict[str, Any] = {}
    names: list[str] = []
    todo = dict(_PLOTS)
    if len(study.directions) > 1:
        names = objectives or [f"objective {i}" for i in range(len(study.directions))]
        index = names.index(primary) if primary in names else 0
        kwargs = {"target": lambda t: t.values[index], "target_name": names[index]}
        todo = {PARETO_PLOT: "plot_pareto_front", **todo}
        # importances (PED-ANOVA) are of reaching a low target: a maximized one is negated
        sign = -1.0 if study.directions[index].name == "MAXIMIZE" else 1.0
    for name, function in todo.items():
        axes: Any
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                warnings.filterwarnings("ignore", "PedAnovaImportanceEvaluator computes")
                if function == "plot_pareto_front":
                    axes = vis.plot_pareto_front(study, target_names=names)
                elif function == "plot_param_importances" and kwargs:
                    axes = vis.plot_param_importances(
                        study, target=lambda t: sign * t.values[index],
                        target_name=names[index])
                else:
                    axes = getattr(vis, function)(study, **kwargs)
        except Exception as exc:  # e.g. importances need two completed trials
            out(f"[sweep] {name}: not drawn ({type(exc).__name__}: {exc})"[:200])
            continue
        ax = axes.flat[0] if hasattr(axes, "flat") else axes
        figure = ax.figure
        figure.set_size_inches(9, 5.5)
        figure.tight_layout()
        figures.append((name, figure))
        plt.close(figure)
    return figures


def _study_from_runs(children: list[tracking.ChildRun], primary: str, greater: bool) -> Any:
    """An in-memory study built from a grid's child runs, so grid sweeps get the same plots."""
    import optuna
    from optuna.distributions import CategoricalDistribution

    done = [c for c in children if c.status == "FINISHED" and primary in c.metrics]
    values = [{k: _number(v) for k, v in trial_params(c).items()} for c in done]
    keys = sorted({k for v in values for k in v})
    space = {k: CategoricalDistribution(sorted({v[k] for v in values if k in v}, key=str))
             for k in keys}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if greater else "minimize")
    for child, params in zip(done, values, strict=True):
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions={k: space[k] for k in params},
            value=child.metrics[primary]))
    return study


def _number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def summary(children: list[tracking.ChildRun], best: tracking.ChildRun | None, status: str,
            goals: Goals, front: set[int] | None, parent_run_id: str,
            tracking_uri: str | None, counts: dict[str, int] | None = None) -> str:
    """The end-of-sweep table: the top trials by the primary metric, then where to look.

    ``front``: a multi-objective sweep's Pareto front, marked in the table; ``tracking_uri``:
    the config's (None: MLflow's default, as the runs used); ``counts``: trials by state, the
    study's when there is one (else read from the runs)."""
    done = [c for c in children if c.status == "FINISHED" and goals.primary in c.metrics]
    done.sort(key=lambda c: c.metrics[goals.primary], reverse=goals.greater)
    shown = [goals.primary] + [o for o in goals.objectives if front is not None
                               and o != goals.primary]
    counts = counts or state_counts(children)
    lines = [f"[sweep] {status}: "
             + ", ".join(f"{counts.get(s, 0)} {_COUNTED[s]}" for s in STATES
                         if s != PRUNED or counts.get(s))]
    if front is not None:
        ways = ", ".join(f"{o} {'down' if lower_is_better(o) else 'up'}"
                         for o in goals.objectives)
        lines.append(f"[sweep] Pareto front ({ways}): {len(front)} of {len(done)} finished "
                     f"trials (* below); the champion is the front's best {goals.primary}")
    lines += _table(done[:10], shown, front)
    if best is not None:
        lines.append(f"best: trial {best.tags.get(TRIAL_TAG, '')} run {best.run_id}"
                     + (f" (the front's best {goals.primary})" if front is not None else ""))
    lines.append(f"parent run: {parent_run_id}")
    lines.append(f"look: {tracking.ui_command(tracking.resolve_uri(tracking_uri))}")
    return "\n".join(lines)


def _table(done: list[tracking.ChildRun], shown: list[str], front: set[int] | None
           ) -> list[str]:
    """The summary's rows: trial number (* on the front), values, with the primary's spread
    across folds (+-) when trials have fold scores, and params."""
    stds = [spread(c, shown[0]) for c in done]
    widths = [max(10, len(m)) for m in shown]
    with_std = any(sd is not None for sd in stds)
    lines = [f"{'trial':>6}  " + "  ".join(f"{m:>{w}}" for m, w in zip(shown, widths,
                                                                      strict=True))
             + ("  +-std  " if with_std else "") + "  params"]
    for c, sd in zip(done, stds, strict=True):
        params = " ".join(f"{k}={v}" for k, v in trial_params(c).items())
        number = c.tags.get(TRIAL_TAG, "")
        if front is not None:  # the front's trials marked
            number = f"{number:>5}{'*' if trial_number(c) in front else ' '}"
        values = "  ".join(f"{c.metrics.get(m, math.nan):>{w}.4f}"
                           for m, w in zip(shown, widths, strict=True))
        std = (f"  {sd:>7.4f}" if sd is not None else " " * 9) if with_std else ""
        lines.append(f"{number:>6}  {values}{std}  {params}")
    return lines
