"""Sweep overrides in Hydra's grammar -> Optuna distributions (the official plugin's mapping).

``choice(a,b)`` -> categorical; ``range(a,b[,step])`` -> int (or float with a float bound or
step), ``b`` included as in hydra-optuna-sweeper; ``range(...)`` tagged ``shuffle`` -> categorical;
``interval(a,b)`` -> float (Hydra reads its bounds as floats; use ``range`` for ints);
``tag(log, interval(a,b))`` -> the same on a log scale. A plain ``key=value`` is fixed for
every trial.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, Transformer

from runner.errors import RunnerError

if TYPE_CHECKING:  # optuna is imported when a sweep runs, not when Hydra scans its plugins
    from optuna.distributions import BaseDistribution


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
    for override in OverridesParser.create().parse_overrides(arguments):
        key = override.get_key_element()
        distributions.pop(key, None)
        fixed.pop(key, None)
        text[key] = override.input_line.partition("=")[2] if override.input_line else ""
        if override.is_sweep_override():
            distributions[key] = distribution(override)
        else:
            fixed[key] = override.get_value_element_as_str()
    return SearchSpace(distributions, fixed, text)


def distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of one sweep override."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    key = override.get_key_element()
    value = override.value()
    if override.is_choice_sweep() or (override.is_range_sweep() and value.shuffle):
        choices = override.sweep_iterator(transformer=Transformer.encode)
        return CategoricalDistribution(list(choices))
    if override.is_range_sweep():
        if any(isinstance(x, float) for x in (value.start, value.stop, value.step)):
            return FloatDistribution(value.start, value.stop, step=value.step)
        return IntDistribution(int(value.start), int(value.stop), step=int(value.step))
    if override.is_interval_sweep():  # Hydra parses interval bounds as floats
        return FloatDistribution(value.start, value.end, log="log" in value.tags)
    raise RunnerError(f"{key}: {override.input_line!r} is not a sweep the Optuna sweeper knows "
                      "(use choice, range, interval or tag(log, interval(...)))")


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
