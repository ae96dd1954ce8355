"""Open, check and resume the study: its search space and base config are stored with it, and a
run of the same command re-attaches to it, while a changed one is refused with what differs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from runner.compat import optuna as compat_optuna
from runner.errors import RunnerError

from .space import SearchSpace

if TYPE_CHECKING:  # optuna is imported when a sweep runs, not when Hydra scans its plugins
    import optuna

ATTR = "runner."  # prefix of the study's user attributes that runner owns
PARENT_ATTR = ATTR + "mlflow_parent_run_id"
INTERRUPTED_ATTR = ATTR + "interrupted_trials"  # numbers of trials an interruption ended
UID_ATTR = ATTR + "study_uid"  # tags the MLflow parent run, to find it if its id was not stored
SETUP_KEYS = ("direction", "space", "space_text", "base_config")
# Top-level config groups that say where a trial runs, not what it computes
_NOT_COMPARED = ("hydra", "spark", "serving", "predict")


@dataclass(frozen=True)
class Fingerprint:
    """What must match for a study to be resumed: direction, search space, base config."""

    direction: str  # "maximize", or "[maximize, minimize]" for a multi-objective study
    space: dict[str, str]  # key -> distribution JSON
    space_text: dict[str, str]  # key -> as written, for messages
    base: dict[str, str]  # dotted key -> JSON value, the swept keys left out

    @property
    def directions(self) -> list[str]:
        return [d.strip() for d in self.direction.strip("[]").split(",")]

    def attrs(self) -> dict[str, Any]:
        return {ATTR + "direction": self.direction, ATTR + "space": self.space,
                ATTR + "space_text": self.space_text, ATTR + "base_config": self.base}


def fingerprint(space: SearchSpace, config: DictConfig, direction: str | Sequence[str]
                ) -> Fingerprint:
    """``direction``: one, or a list (one per objective) for a multi-objective study."""
    from optuna.distributions import distribution_to_json

    if not isinstance(direction, str):  # one direction is stored as studies before lists were
        direction = direction[0] if len(direction) == 1 else f"[{', '.join(direction)}]"

    dists = {k: distribution_to_json(d) for k, d in space.distributions.items()}
    text = {k: space.text[k] for k in space.distributions}
    return Fingerprint(direction, dists, text, base_config(config, list(space.distributions)))


def base_config(config: DictConfig, swept: list[str]) -> dict[str, str]:
    """The composed task config as dotted key -> value, without the swept keys."""
    task = OmegaConf.masked_copy(config, [str(k) for k in config if k not in _NOT_COMPARED])
    flat = _flatten(OmegaConf.to_container(task, resolve=True, enum_to_str=True))
    return {k: v for k, v in flat.items()
            if not any(k == s or k.startswith(s + ".") for s in swept)}


def _flatten(node: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(node, dict) and node:
        out: dict[str, str] = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): json.dumps(node, sort_keys=True, default=str)}


def differences(study: optuna.Study, wanted: Fingerprint) -> list[str]:
    """Lines saying how the stored study differs from this command, empty when it matches."""
    stored = study.user_attrs
    if ATTR + "space" not in stored:  # created outside runner: nothing to compare
        return []
    lines = []
    if stored.get(ATTR + "direction") != wanted.direction:
        lines.append(f"  direction: {stored.get(ATTR + 'direction')} -> {wanted.direction}")
    text = stored.get(ATTR + "space_text", {})
    for key in sorted(set(stored[ATTR + "space"]) | set(wanted.space)):
        if stored[ATTR + "space"].get(key) != wanted.space.get(key):
            lines.append(f"  search space {key}: {text.get(key, '(absent)')} -> "
                         f"{wanted.space_text.get(key, '(absent)')}")
    base = stored.get(ATTR + "base_config", {})
    for key in sorted(set(base) | set(wanted.base)):
        if base.get(key) != wanted.base.get(key):
            lines.append(f"  config {key}: {base.get(key, '(absent)')} -> "
                         f"{wanted.base.get(key, '(absent)')}")
    return lines


def open_study(storage: str | optuna.storages.BaseStorage, name: str, new_study: bool,
               wanted: Fingerprint) -> optuna.Study:
    """Resume the study of this name when it matches, else refuse; with ``new_study`` resume the
    first of ``name``, ``name-2``, ... that matches, or create the next free name."""
    import optuna

    existing = set(optuna.get_all_study_names(storage))
    candidates = [name] + [f"{name}-{i}" for i in range(2, len(existing) + 3)]
    for candidate in candidates:
        if candidate not in existing:
            return _create(storage, candidate, wanted)
        study = optuna.load_study(study_name=candidate, storage=storage)
        _complete_setup(study, wanted)
        diffs = differences(study, wanted)
        if not diffs:
            return study
        if not new_study:
            raise RunnerError(
                f"study {candidate!r} in {_url(storage)} was started with another setup:\n"
                + "\n".join(diffs) + "\nTo keep both, start a new study with "
                "hydra.sweeper.new_study=true (or pick hydra.sweeper.study_name=...); to resume "
                "it, run the command it was started with.")
    raise AssertionError("unreachable: there is always a free name")


def _url(storage: str | optuna.storages.BaseStorage) -> str:
    return storage if isinstance(storage, str) else str(getattr(storage, "url", storage))


def _create(storage: str | optuna.storages.BaseStorage, name: str, wanted: Fingerprint
            ) -> optuna.Study:
    import optuna

    directions: list[Any] = wanted.directions  # minimize/maximize, checked by checks.py
    study = optuna.create_study(study_name=name, storage=storage, directions=directions)
    _complete_setup(study, wanted)
    return study


def _complete_setup(study: optuna.Study, wanted: Fingerprint) -> None:
    """Store the setup attributes a study has not got yet. Optuna stores one attribute per call:
    a kill between them leaves part of the setup, which would read as another setup forever. A
    study with no trial yet has run nothing, so this command's setup is its setup."""
    from runner.sweep import milestones

    stored = study.user_attrs
    if study.trials or all(ATTR + key in stored for key in SETUP_KEYS):
        if UID_ATTR not in stored:  # a study from before runner tagged its parent run
            study.set_user_attr(UID_ATTR, uuid.uuid4().hex)
        return
    missing = {k: v for k, v in wanted.attrs().items() if k not in stored}
    for number, (key, value) in enumerate(missing.items()):
        study.set_user_attr(key, value)
        if number == 0:
            milestones.reached("study-setup")
    if UID_ATTR not in stored:
        study.set_user_attr(UID_ATTR, uuid.uuid4().hex)


def tell_finished(study: optuna.Study,
                  finished: Mapping[int, tuple[str, float | Sequence[float]]]) -> int:
    """Trials left RUNNING whose MLflow run had FINISHED (``finished``: trial number -> run id,
    value or one value per objective) are told their values: an interruption came between the
    run's end and the tell, which waits for the trials asked before it. Returns how many."""
    import math

    from optuna.trial import TrialState

    told = 0
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if frozen.number not in finished:
            continue
        run_id, value = finished[frozen.number]
        values = [float(value)] if isinstance(value, (int, float)) else list(value)
        if len(values) != len(study.directions) or any(math.isnan(v) for v in values):
            continue  # not this study's objectives: the trial is marked interrupted
        compat_optuna.live_trial(study, frozen).set_user_attr("mlflow_run_id", run_id)
        tell(study, frozen.number, values[0] if len(values) == 1 else values)
        told += 1
    return told


def fail_interrupted(study: optuna.Study) -> int:
    """Trials an interruption left RUNNING become FAIL, listed so they do not count."""
    from optuna.trial import TrialState

    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    mark_interrupted(study, [t.number for t in running])
    return len(running)


def mark_interrupted(study: optuna.Study, numbers: list[int]) -> None:
    from optuna.trial import TrialState

    if not numbers:
        return
    study.set_user_attr(INTERRUPTED_ATTR, sorted({*interrupted(study), *numbers}))
    for number in numbers:
        study.tell(number, state=TrialState.FAIL, skip_if_finished=True)


def interrupted(study: optuna.Study) -> set[int]:
    return set(study.user_attrs.get(INTERRUPTED_ATTR, []))


def counted(study: optuna.Study) -> int:
    """Trials that count towards n_trials: finished ones, failures included, not interruptions."""
    from optuna.trial import TrialState

    skip = interrupted(study)
    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
               or (t.state == TrialState.FAIL and t.number not in skip))


def failed(study: optuna.Study) -> int:
    from optuna.trial import TrialState

    skip = interrupted(study)
    return sum(1 for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
               if t.number not in skip)


def tell(study: optuna.Study, trial: optuna.Trial | int,
         value: float | Sequence[float] | None = None,
         state: optuna.trial.TrialState | None = None) -> None:
    """``study.tell``; the grid sampler's ``study.stop()`` once the grid is used up is not an
    error here (the trial's state is stored before it raises)."""
    try:
        study.tell(trial, value, state=state)
    except RuntimeError as exc:
        if "Study.stop" not in str(exc):
            raise


def mlflow_statuses(study: optuna.Study) -> dict[int, str]:
    """Trial number -> the status its MLflow run must have: FINISHED for a COMPLETE trial,
    PRUNED for a pruned one (its run ends KILLED, tagged pruned), FAILED for a failed one,
    KILLED for one an interruption ended (it does not count)."""
    from optuna.trial import TrialState

    skip = interrupted(study)
    statuses = {}
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.COMPLETE:
            statuses[t.number] = "FINISHED"
        elif t.state == TrialState.PRUNED:
            statuses[t.number] = "PRUNED"
        elif t.state == TrialState.FAIL:
            statuses[t.number] = "KILLED" if t.number in skip else "FAILED"
        else:
            statuses[t.number] = "KILLED"  # RUNNING or WAITING once the sweep has ended
    return statuses


def state_counts(study: optuna.Study) -> dict[str, int]:
    """Trials by runner's states: COMPLETE, PRUNED, FAIL (counted failures) and INTERRUPTED
    (trials an interruption ended, or still running)."""
    from optuna.trial import TrialState

    skip = interrupted(study)
    counts = dict.fromkeys(("COMPLETE", "PRUNED", "FAIL", "INTERRUPTED"), 0)
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            counts[t.state.name] += 1
        elif t.state == TrialState.FAIL and t.number not in skip:
            counts["FAIL"] += 1
        else:
            counts["INTERRUPTED"] += 1
    return counts


def tell_pruned(study: optuna.Study, numbers: set[int]) -> int:
    """Trials left RUNNING whose MLflow run ended pruned are told PRUNED (an interruption came
    between the run's end and the tell). Returns how many."""
    from optuna.trial import TrialState

    told = 0
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if frozen.number in numbers:
            tell(study, frozen.number, state=TrialState.PRUNED)
            told += 1
    return told


def best_number(study: optuna.Study) -> int | None:
    """Optuna's best trial (ties broken by Optuna), the one runner reports and registers; None
    for a multi-objective study (it has a front, see ``front_numbers``)."""
    if is_multi_objective(study):
        return None
    try:
        return int(study.best_trial.number)
    except ValueError:  # no COMPLETE trial
        return None


def is_multi_objective(study: optuna.Study) -> bool:
    return len(study.directions) > 1


def front_numbers(study: optuna.Study) -> set[int]:
    """Numbers of the trials on the Pareto front (``study.best_trials``); empty for a
    single-objective study, whose best trial is ``best_number``."""
    if not is_multi_objective(study):
        return set()
    return {t.number for t in study.best_trials}
