"""Compose a trial's job config by changing values in the previous trial's, when that is exact.

Hydra's ``load_sweep_config`` recomposes everything per job (read every YAML, build the defaults
list, merge the schemas): ~0.45 s a trial here, a third of a warm penguins trial. Optuna trials
differ only in the values of the swept keys. When every override that changed is a plain
``key=value`` of a primitive value on a key that is not a config group, the result of a full
compose equals the earlier job's config with those values set, the override lists and
``hydra.job.override_dirname`` recomputed: that is done here, with Hydra's own functions, and
anything else (a group choice, ``+``/``~``/``++``, a dict or list value, a ``hydra.*`` key) is
composed in full. tests/test_sweep.py checks the two agree.

No ``from __future__ import annotations`` here: see the package docstring.
"""

import copy
from dataclasses import dataclass
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from runner.compat import hydra as compat_hydra


@dataclass
class _Template:
    overrides: list[Override]
    config: DictConfig


class SweepComposer:
    """``compose(overrides)`` = Hydra's ``load_sweep_config(master, overrides)``, cached."""

    def __init__(self, config_loader: Any, master: DictConfig) -> None:
        self.loader, self.master = config_loader, master
        self.parser = OverridesParser.create()
        self.template: _Template | None = None
        self.full = 0  # how many jobs were composed in full

    def compose(self, overrides: list[str]) -> DictConfig:
        parsed = self.parser.parse_overrides(overrides)
        template = self.template
        changed = _changed(template.overrides, parsed) if template else None
        if template is None or changed is None or not all(
                self._is_value(o, template.config) for o in changed):
            config = self.loader.load_sweep_config(self.master, list(overrides))
            self.full += 1
            self.template = _Template(parsed, copy.deepcopy(config))
            return config
        return self._derive(template.config, parsed, changed)

    def _is_value(self, override: Override, config: DictConfig) -> bool:
        """A plain primitive assignment to an existing key that is not a config group."""
        key = override.key_or_group
        choices = config.hydra.runtime.choices
        return (override.type == OverrideType.CHANGE and override.package is None
                and not override.is_hydra_override() and not override.is_sweep_override()
                and not isinstance(override.value(), (dict, list))
                and key not in choices and not self.loader.repository.group_exists(key)
                and OmegaConf.select(config, key, throw_on_missing=False) is not None)

    def _derive(self, template: DictConfig, parsed: list[Override],
                changed: list[Override]) -> DictConfig:
        config = copy.deepcopy(template)
        try:
            compat_hydra.apply_overrides(changed, config)
        except OmegaConfBaseException as exc:  # as load_configuration reports it
            raise ConfigCompositionException().with_traceback(exc.__traceback__) from exc
        task = [o for o in parsed if not o.is_hydra_override()]
        job = config.hydra.job
        with open_dict(config.hydra):
            config.hydra.overrides.task = [o.input_line for o in task]
            job.override_dirname = compat_hydra.overrides_dirname(
                overrides=task, kv_sep=job.config.override_dirname.kv_sep,
                item_sep=job.config.override_dirname.item_sep,
                exclude_keys=job.config.override_dirname.exclude_keys)
        OmegaConf.copy_cache(from_config=self.master, to_config=config)
        return config


def _changed(before: list[Override], after: list[Override]) -> list[Override] | None:
    """The overrides of ``after`` whose value differs from ``before``'s, when both name the same
    keys in the same order with the same kind of override; else None."""
    if [(o.key_or_group, o.type, o.package) for o in before] != [
            (o.key_or_group, o.type, o.package) for o in after]:
        return None
    return [b for a, b in zip(before, after, strict=True) if a.input_line != b.input_line]
