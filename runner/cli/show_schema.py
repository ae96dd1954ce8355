"""``runner [overrides] --show-schema``: the columns and types a run would read."""

from __future__ import annotations

from runner import console


def show_schema(overrides: list[str]) -> None:
    """The columns and types a run would read, one line each, the label marked; local files
    need no JVM (``runner.data.DataSpec``)."""
    from hydra import compose, initialize_config_module

    from runner.data import DataSpec

    with initialize_config_module(config_module="runner.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    spec = DataSpec.resolve(cfg.data)
    for column, type_ in spec.schema.items():
        console.out(f"{column}: {type_}" + ("  # label" if column == spec.label else ""))
