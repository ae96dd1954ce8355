"""Sweep overrides in Hydra's grammar -> Optuna distributions (the official plugin's mapping).

``choice(a,b)`` -> categorical; ``range(a,b[,step])`` -> int (or float with a float bound or
step), ``b`` included as in hydra-optuna-sweeper; ``range(...)`` tagged ``shuffle`` -> categorical;
``interval(a,b)`` -> float (Hydra reads its bounds as floats); ``int(interval(a,b))`` -> int;
``tag(log, ...)`` -> the same on a log scale. A plain ``key=value`` is fixed for every trial.

Mistakes are one-line errors here, before the sweep starts a JVM: empty or reversed ranges, a log
scale reaching 0, a tag other than ``log``, ``int()`` around a number that is not whole.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hydra.core.override_parser.overrides_parser import OverridesParser, create_functions
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    RangeSweep,
    Transformer,
)
from hydra.errors import HydraException
from omegaconf import DictConfig, IntegerNode, OmegaConf

from runner.compat import hydra as compat_hydra
from runner.errors import RunnerError, first_line

if TYPE_CHECKING:  # optuna is imported when a sweep runs, not when Hydra scans its plugins
    import optuna
    from optuna.distributions import BaseDistribution

TAGS = {"log"}  # the tags the official plugin reads; any other is a typo


@dataclass(frozen=True)
class SearchSpace:
    """Distributions to sample, values fixed for every trial, and each key's text as given."""

    distributions: dict[str, BaseDistribution]
    fixed: dict[str, str]
    text: dict[str, str]


def parse(arguments: list[str]) -> SearchSpace:
    """Later arguments win over earlier ones for the same key (command line over ``params``)."""
    distributions: dict[str, BaseDistribution] = {}
    fixed: dict[str, str] = {}
    text: dict[str, str] = {}
    parser = _strict_parser()
    for argument in arguments:
        override = _parse_one(parser, argument)
        key = override.get_key_element()
        distributions.pop(key, None)
        fixed.pop(key, None)
        text[key] = override.input_line.partition("=")[2] if override.input_line else ""
        if override.is_sweep_override():
            distributions[key] = distribution(override)
        else:
            fixed[key] = override.get_value_element_as_str()
    return SearchSpace(distributions, fixed, text)


def _parse_one(parser: OverridesParser, argument: str) -> Override:
    try:
        return parser.parse_overrides([argument])[0]
    except HydraException as exc:  # Hydra's message: a header, the cause, a link to the docs
        lines = [line for line in str(exc).splitlines()[1:] if not line.startswith("See http")]
        cause = re.sub(r"^\w+ while evaluating '.*?': ", "", lines[0]) if lines else first_line(exc)
        raise RunnerError(f"{argument}: {cause}") from None


def _strict_int(*args: Any, value: Any = None) -> Any:
    """Hydra's ``int()``, which would make ``int(interval(0.5, 20))`` ``interval(0, 20)``
    without a word: a number that is not whole is refused instead."""
    inner: Any = compat_hydra.normalize_cast_value(*args, value=value)
    if isinstance(inner, IntervalSweep):
        numbers: list[Any] = [inner.start, inner.end]
    elif isinstance(inner, RangeSweep):
        numbers = [inner.start, inner.stop, inner.step]
    elif isinstance(inner, ChoiceSweep):
        numbers = list(inner.list)
    else:
        numbers = inner if isinstance(inner, list) else [inner]
    for number in numbers:
        if isinstance(number, float) and not number.is_integer():
            raise ValueError(f"int() of {number}, which is not a whole number")
    return compat_hydra.cast_int(*args, value=value)


def _strict_parser() -> OverridesParser:
    functions = create_functions()
    functions.functions["int"] = _strict_int  # the signature Hydra checks arguments with stays
    return OverridesParser(functions)


def distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of one sweep override."""
    key = override.get_key_element()
    value: Any = override.value()
    where = f"{key}={override.input_line.partition('=')[2] if override.input_line else value}"
    unknown = sorted(set(value.tags) - TAGS)
    if unknown:
        raise RunnerError(f"{where}: unknown tag {', '.join(unknown)} (the Optuna sweeper reads "
                          "only tag(log, ...): a log scale)")
    log = "log" in value.tags
    try:
        if override.is_choice_sweep() or (override.is_range_sweep() and value.shuffle):
            return _categorical(override, log)
        if override.is_range_sweep():
            return _range(value, log)
        if override.is_interval_sweep():
            return _interval(value, log)
    except ValueError as exc:
        raise RunnerError(f"{where}: {exc}") from None
    raise RunnerError(f"{where}: not a sweep the Optuna sweeper knows (use choice, range, "
                      "interval, int(interval(...)) or tag(log, ...))")


def _categorical(override: Override, log: bool) -> BaseDistribution:
    from optuna.distributions import CategoricalDistribution

    if log:
        raise ValueError("a log scale needs interval(...) or range(...), not a list of choices")
    choices: list[Any] = list(override.sweep_iterator(transformer=Transformer.encode))
    if not choices:
        raise ValueError("no value to choose from")
    return CategoricalDistribution(choices)


def _range(value: RangeSweep, log: bool) -> BaseDistribution:
    from optuna.distributions import FloatDistribution, IntDistribution

    start, stop, step = value.start, value.stop, value.step
    assert start is not None
    assert stop is not None
    _check_bounds(start, stop, log)
    if not step or step < 0:
        raise ValueError(f"step {step} must be positive")
    if any(isinstance(x, float) for x in (start, stop, step)):
        if log:
            raise ValueError("Optuna has no log scale with a float step: use "
                             "tag(log, interval(a,b))")
        count = math.floor((stop - start) / step + 1e-9)  # the last value within b
        return FloatDistribution(start, start + count * step, step=step)
    if log and step != 1:
        raise ValueError("Optuna has no log scale with a step: use tag(log, int(interval(a,b)))")
    high = start + (stop - start) // step * step  # what Optuna would round down to, warning
    return IntDistribution(int(start), int(high), log=log, step=int(step))


def _interval(value: IntervalSweep, log: bool) -> BaseDistribution:
    from optuna.distributions import FloatDistribution, IntDistribution

    start, end = value.start, value.end
    assert start is not None
    assert end is not None
    _check_bounds(start, end, log)
    if isinstance(start, int) and isinstance(end, int):  # int(interval(...))
        return IntDistribution(start, end, log=log)
    return FloatDistribution(float(start), float(end), log=log)


def _check_bounds(low: float, high: float, log: bool) -> None:
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("bounds must be finite numbers")
    if low > high:
        raise ValueError(f"low {low} is above high {high}")
    if log and low <= 0:
        raise ValueError(f"a log scale needs a low bound above 0, not {low}")


def check_types(space: SearchSpace, config: DictConfig) -> None:
    """A continuous distribution on a key the config's schema types as an int would fail every
    trial at compose time: refuse it now, saying how to sample ints."""
    from optuna.distributions import FloatDistribution

    for key, dist in space.distributions.items():
        if not isinstance(dist, FloatDistribution):
            continue
        try:
            node = OmegaConf.select(config, key, throw_on_missing=False)
            parent_key, _, leaf = key.rpartition(".")
            parent = OmegaConf.select(config, parent_key) if parent_key else config
            typed = isinstance(parent, DictConfig) and isinstance(
                compat_hydra.config_node(parent, leaf), IntegerNode)
        except Exception:  # noqa: BLE001 - an odd key is for Hydra to report at compose time
            continue
        if typed and node is not None:
            text = space.text.get(key, "")
            raise RunnerError(f"{key}={text}: {key} is an integer, and this samples floats: "
                              f"use int({text}) or range(...)")


CustomSearchSpace = Callable[[DictConfig, "optuna.trial.Trial"], None]


def custom_search_space(path: str | None) -> CustomSearchSpace | None:
    """The function ``hydra.sweeper.custom_search_space`` names (a dotted path, as in the
    official plugin), checked importable and callable now rather than at the first trial."""
    if not path:
        return None
    where = f"hydra.sweeper.custom_search_space={path}"
    try:
        function = compat_hydra.locate(path)  # hydra.utils.get_method logs pages on failure
    except Exception as exc:  # noqa: BLE001 - Hydra wraps import errors of any kind
        lines = str(exc).splitlines() or [type(exc).__name__]
        raise RunnerError(f"{where}: cannot import it ({lines[-1]})") from None
    if not callable(function):
        raise RunnerError(f"{where}: a {type(function).__name__}, not a function f(cfg, trial)")
    return function


def configure_trial(trial: optuna.Trial, space: SearchSpace, extend: CustomSearchSpace | None,
                    config: DictConfig, path: str | None = None) -> None:
    """What the official plugin does after ``ask``: the fixed values become the trial's user
    attributes (so the function can read them), then the function suggests more parameters,
    which become the trial's overrides like the others. It may not suggest a fixed key."""
    if extend is None:
        return
    for key, value in space.fixed.items():
        trial.set_user_attr(key, value)
    try:
        extend(config, trial)
    except RunnerError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's function: its error, one line
        raise RunnerError(f"hydra.sweeper.custom_search_space={path}: "
                          f"{type(exc).__name__}: {first_line(exc)}") from exc
    overlap = sorted(set(trial.params) & set(space.fixed))
    if overlap:
        raise RunnerError(f"hydra.sweeper.custom_search_space={path} suggested "
                          f"{', '.join(overlap)}, which the command fixes")


def grid(distributions: dict[str, BaseDistribution]) -> dict[str, list[Any]]:
    """Every value of each (discrete) distribution, for Optuna's GridSampler."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    choices: dict[str, list[Any]] = {}
    for key, dist in distributions.items():
        if isinstance(dist, CategoricalDistribution):
            choices[key] = list(dist.choices)
        elif isinstance(dist, IntDistribution) and not dist.log:
            choices[key] = list(range(dist.low, dist.high + 1, dist.step))
        elif isinstance(dist, FloatDistribution) and dist.step:
            count = round((dist.high - dist.low) / dist.step) + 1
            choices[key] = [dist.low + i * dist.step for i in range(count)]
        else:
            raise RunnerError(f"{key}: the grid sampler needs choice(...) or range(...), "
                              f"not a continuous interval")
    return choices


def as_override(key: str, value: Any) -> str:
    """A sampled value as a Hydra override (None is null in the grammar)."""
    return f"{key}={'null' if value is None else value}"


def overrides(trial: optuna.Trial, space: SearchSpace) -> list[str]:
    """A trial's overrides: its sampled values (custom ones included), then the fixed ones."""
    sampled = [as_override(k, v) for k, v in trial.params.items()]
    return sampled + [f"{k}={v}" for k, v in space.fixed.items()]
